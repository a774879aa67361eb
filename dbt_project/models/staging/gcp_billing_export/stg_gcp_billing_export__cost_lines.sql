-- Google Cloud Billing export lines: one per export row ('cost') and one per credit ('credit'), latest load wins.
-- Grain: source_id x line_key. line_key is the collector's (sha256 of the export row + occurrence, + credit
-- offset); the loader already replaces whole windows, the ranking only guards against overlapping loads.
with

source as (
    select * from {{ source('gcp_billing_export', 'gcp_billing_export_cost_lines') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by _source_id, line_key
            order by _loaded_at desc, _batch_id desc
        ) as load_rank
    from source
),

renamed as (
    select
        -- keys
        {{ surrogate_key(['_source_id', 'line_key']) }} as cost_line_key,
        cast(_source_id as text) as source_id,
        cast(line_key as text) as line_key,
        cast(export_row_key as text) as export_row_key,
        cast(line_type as text) as line_type,
        cast(credit_index as integer) as credit_index,

        -- who and when (usage hours are [start, end) UTC instants; invoice_month is YYYYMM)
        cast(billing_account_id as text) as billing_account_id,
        cast(invoice_month as text) as invoice_month,
        cast(cost_type as text) as cost_type,
        cast(usage_start_time as timestamptz) as usage_start_time,
        cast(usage_end_time as timestamptz) as usage_end_time,
        cast(export_time as timestamptz) as export_time,

        -- what and where
        cast(service_id as text) as service_id,
        cast(service_description as text) as service_description,
        cast(sku_id as text) as sku_id,
        cast(sku_description as text) as sku_description,
        cast(project_id as text) as project_id,
        cast(project_number as text) as project_number,
        cast(project_name as text) as project_name,
        cast(location as text) as usage_location,
        cast(country as text) as usage_country,
        cast(region as text) as usage_region,
        cast(zone as text) as usage_zone,
        cast(resource_name as text) as resource_name,
        cast(resource_global_name as text) as resource_global_name,

        -- labels as jsonb objects (keys as delivered)
        cast(labels as jsonb) as labels,
        cast(project_labels as jsonb) as project_labels,
        cast(system_labels as jsonb) as system_labels,

        -- quantities (cost lines only)
        cast(usage_amount as numeric) as usage_amount,
        cast(usage_unit as text) as usage_unit,
        cast(usage_amount_in_pricing_units as numeric) as usage_amount_in_pricing_units,
        cast(usage_pricing_unit as text) as usage_pricing_unit,

        -- money, in currency
        cast(amount as numeric) as amount,
        cast(cost_at_list as numeric) as cost_at_list,
        cast(currency as text) as currency,
        cast(currency_conversion_rate as numeric) as currency_conversion_rate,

        -- credits (credit lines only)
        cast(credit_id as text) as credit_id,
        cast(credit_type as text) as credit_type,
        cast(credit_name as text) as credit_name,
        cast(credit_full_name as text) as credit_full_name,

        -- billing modifications
        cast(adjustment_id as text) as adjustment_id,
        cast(adjustment_type as text) as adjustment_type,
        cast(adjustment_mode as text) as adjustment_mode,
        cast(adjustment_description as text) as adjustment_description,

        -- the original record (whole export row, or the credit element)
        cast(payload as jsonb) as payload,

        -- load metadata
        cast(_batch_id as text) as batch_id,
        cast(_loaded_at as timestamptz) as loaded_at

    from ranked
    where load_rank = 1
)

select * from renamed
