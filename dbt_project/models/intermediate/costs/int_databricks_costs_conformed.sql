-- Databricks billable usage conformed to the FOCUS cost columns.
-- Grain: one row per usage record (source_id x record_id).
-- Cost is usage_quantity x list_price from system.billing.list_prices, so billed = effective = list = contracted:
-- a list-price figure (negotiated discounts are not in system tables), labelled pricing_category 'Standard'.
with

usage as (
    select * from {{ ref('stg_demo__databricks_usage') }}
),

service_mapping as (
    select * from {{ ref('focus_service_mapping') }}
    where source_system = 'databricks'
),

conformed as (
    select
        usage.usage_record_key as cost_line_key,
        usage.source_id,

        usage.usage_start_time as charge_period_start,
        usage.usage_end_time as charge_period_end,
        date_trunc('month', usage.usage_start_time at time zone 'UTC') at time zone 'UTC' as billing_period_start,
        (date_trunc('month', usage.usage_start_time at time zone 'UTC') + interval '1 month') at time zone 'UTC'
            as billing_period_end,

        cast('Databricks' as text) as provider_name,
        cast('Databricks' as text) as publisher_name,
        cast('Databricks' as text) as invoice_issuer_name,
        usage.account_id as billing_account_id,
        cast(null as text) as billing_account_name,
        usage.workspace_id as sub_account_id,
        cast(null as text) as sub_account_name,

        coalesce(
            service_mapping.service_name,
            'Databricks ' || initcap(replace(usage.billing_origin_product, '_', ' ')),
            'Databricks'
        ) as service_name,
        coalesce(service_mapping.service_category, 'Other') as service_category,
        cast(null as text) as region_id,
        cast(null as text) as region_name,
        coalesce(
            usage.usage_metadata ->> 'cluster_id',
            usage.usage_metadata ->> 'warehouse_id',
            usage.usage_metadata ->> 'endpoint_id',
            usage.usage_metadata ->> 'dlt_pipeline_id',
            usage.usage_metadata ->> 'job_id'
        ) as resource_id,
        cast(null as text) as resource_name,
        usage.sku_name as sku_id,

        cast('Usage' as text) as charge_category,
        case when usage.record_type in ('RETRACTION', 'RESTATEMENT') then 'Correction' end as charge_class,
        usage.sku_name || ' (' || usage.cloud || ')' as charge_description,
        cast('Usage-Based' as text) as charge_frequency,
        cast('Standard' as text) as pricing_category,

        usage.usage_quantity as pricing_quantity,
        usage.usage_unit as pricing_unit,
        usage.list_price as list_unit_price,
        usage.list_price as contracted_unit_price,
        usage.usage_quantity * usage.list_price as billed_cost,
        usage.usage_quantity * usage.list_price as effective_cost,
        usage.usage_quantity * usage.list_price as list_cost,
        usage.usage_quantity * usage.list_price as contracted_cost,
        usage.currency_code as billing_currency,

        cast(null as text) as commitment_discount_id,
        cast(null as text) as commitment_discount_type,
        cast(null as text) as commitment_discount_category,
        cast(null as text) as commitment_discount_status,
        usage.custom_tags as tags

    from usage
    left join service_mapping
        on upper(usage.billing_origin_product) = service_mapping.source_value
)

select * from conformed
