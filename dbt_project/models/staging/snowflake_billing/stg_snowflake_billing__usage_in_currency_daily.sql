-- What Snowflake bills in currency for the source's account per day (ORGANIZATION_USAGE.USAGE_IN_CURRENCY_DAILY),
-- latest load wins. account_name / organization_name / region are the source's labels, as on the metering and
-- storage rows (so an account's cost lines keep one billing and sub account whichever way a day is priced);
-- Snowflake's own names are kept as snowflake_account_name / snowflake_organization_name / snowflake_region.
-- Grain: source_id x account_name x usage_date x usage_type x service_type x rating_type x billing_type x
-- balance_source x is_adjustment x currency.
with

source as (
    select * from {{ source('snowflake_billing', 'snowflake_billing_usage_in_currency_daily') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by
                _source_id, source_account_name, usage_date, usage_type, service_type, rating_type, billing_type,
                balance_source, is_adjustment, currency
            order by _loaded_at desc, _batch_id desc
        ) as load_rank
    from source
),

renamed as (
    select
        {{ surrogate_key([
            '_source_id', 'source_account_name', 'usage_date', 'usage_type', 'service_type', 'rating_type',
            'billing_type', 'balance_source', 'is_adjustment', 'currency'
        ]) }} as currency_usage_key,
        cast(_source_id as text) as source_id,
        cast(source_account_name as text) as account_name,
        cast(source_organization_name as text) as organization_name,
        cast(source_region as text) as region,
        cast(organization_name as text) as snowflake_organization_name,
        cast(contract_number as text) as contract_number,
        cast(account_name as text) as snowflake_account_name,
        cast(account_locator as text) as account_locator,
        cast(region as text) as snowflake_region,
        cast(service_level as text) as service_level,
        cast(usage_date as date) as usage_date,
        cast(usage_type as text) as usage_type,
        cast(service_type as text) as service_type,
        cast(rating_type as text) as rating_type,
        cast(billing_type as text) as billing_type,
        cast(balance_source as text) as balance_source,
        coalesce(cast(is_adjustment as boolean), false) as is_adjustment,
        cast(usage as numeric) as usage_quantity,
        cast(usage_in_currency as numeric) as usage_in_currency,
        cast(currency as text) as currency,
        cast(_batch_id as text) as batch_id,
        cast(_loaded_at as timestamptz) as loaded_at
    from ranked
    where load_rank = 1
)

select * from renamed
