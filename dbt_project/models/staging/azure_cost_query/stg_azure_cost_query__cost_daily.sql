-- Azure Cost Management Query API rows (every grouping pass, both cost types), renamed and cast; latest load wins.
-- Grain: source_id x cost_type x grouping_pass x usage_date x service_name x resource_group_name x meter_category
-- x tag_key x tag_value x currency. rank() (not row_number()) keeps every row of the latest load, so a duplicate
-- delivered by the API fails the key test instead of being dropped silently.
with

source as (
    select * from {{ source('azure_cost_query', 'azure_cost_query_cost_daily') }}
),

ranked as (
    select
        *,
        rank() over (
            partition by
                _source_id, cost_type, grouping, usage_date, service_name, resource_group_name, meter_category,
                tag_key, tag_value, currency
            order by _loaded_at desc, _batch_id desc
        ) as load_rank
    from source
),

renamed as (
    select
        -- keys
        {{ surrogate_key([
            '_source_id', 'cost_type', 'grouping', 'usage_date', 'service_name', 'resource_group_name',
            'meter_category', 'tag_key', 'tag_value', 'currency'
        ]) }} as cost_row_key,
        cast(_source_id as text) as source_id,
        cast(scope as text) as scope,
        cast(cost_type as text) as cost_type,
        cast(grouping as text) as grouping_pass,

        -- time: the UTC day the cost belongs to
        cast(usage_date as date) as usage_date,

        -- grouping values as delivered ('' is Azure's "none", e.g. a purchase outside any resource group)
        cast(service_name as text) as service_name,
        cast(resource_group_name as text) as resource_group_name,
        cast(meter_category as text) as meter_category,
        cast(tag_key as text) as tag_key,
        cast(tag_value as text) as tag_value,

        -- money: the day's sum in currency, and in USD
        cast(cost as numeric) as cost_amount,
        cast(cost_usd as numeric) as cost_amount_usd,
        cast(currency as text) as currency,

        -- lineage
        cast(cost_column as text) as cost_column,
        cast(record_ref as text) as record_ref,
        cast(payload as jsonb) as payload,
        cast(_batch_id as text) as batch_id,
        cast(_loaded_at as timestamptz) as loaded_at

    from ranked
    where load_rank = 1
)

select * from renamed
