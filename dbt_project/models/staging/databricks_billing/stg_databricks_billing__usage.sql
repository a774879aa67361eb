-- Databricks billable usage (system.billing.usage), latest load wins.
-- Grain: source_id x record_id.
with

source as (
    select * from {{ source('databricks_billing', 'databricks_billing_usage') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by _source_id, record_id
            order by _loaded_at desc, _batch_id desc
        ) as load_rank
    from source
),

renamed as (
    select
        -- keys
        {{ surrogate_key(['_source_id', 'record_id']) }} as usage_record_key,
        cast(_source_id as text) as source_id,
        cast(record_id as text) as record_id,
        cast(account_id as text) as account_id,
        cast(workspace_id as text) as workspace_id,

        -- what and when
        cast(sku_name as text) as sku_name,
        cast(cloud as text) as cloud,
        cast(billing_origin_product as text) as billing_origin_product,
        cast(usage_type as text) as usage_type,
        cast(record_type as text) as record_type,
        cast(usage_start_time as timestamptz) as usage_start_time,
        cast(usage_end_time as timestamptz) as usage_end_time,
        cast(usage_date as date) as usage_date,
        cast(ingestion_date as date) as ingestion_date,

        -- quantity (in usage_unit; priced from list_prices)
        cast(usage_unit as text) as usage_unit,
        cast(usage_quantity as numeric) as usage_quantity,

        -- semi-structured
        cast(custom_tags as jsonb) as custom_tags,
        cast(usage_metadata as jsonb) as usage_metadata,
        cast(identity_metadata as jsonb) as identity_metadata,
        cast(product_features as jsonb) as product_features,

        -- load metadata
        cast(_batch_id as text) as batch_id,
        cast(_loaded_at as timestamptz) as loaded_at

    from ranked
    where load_rank = 1
)

select * from renamed
