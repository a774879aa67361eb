-- Databricks billable usage conformed to the FOCUS cost columns.
-- Grain: one row per usage record (source_id x record_id).
-- Cost is usage_quantity x the list price valid at usage_start_time (system.billing.list_prices of the same
-- source, SKU, cloud and unit), so billed = effective = list = contracted: a list-price figure (negotiated
-- discounts are not in the system tables), labelled pricing_category 'Standard'. A usage record with no price
-- gets a null cost, which fails the build (not_null on billed_cost): a bill is never silently short.
-- Invoice issuer: Azure Databricks is billed on the Azure invoice (Microsoft); on AWS and GCP, Databricks.
with

usage_records as (
    select * from {{ ref('stg_databricks_billing__usage') }}
),

prices as (
    select * from {{ ref('stg_databricks_billing__list_prices') }}
),

usage as (
    select
        usage_records.*,
        prices.unit_price as list_price,
        prices.currency_code
    from usage_records
    left join prices
        on
            usage_records.source_id = prices.source_id
            and usage_records.sku_name = prices.sku_name
            and usage_records.cloud = prices.cloud
            and usage_records.usage_unit = prices.usage_unit
            and usage_records.usage_start_time >= prices.price_start_time
            and (prices.price_end_time is null or usage_records.usage_start_time < prices.price_end_time)
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
        case when usage.cloud = 'AZURE' then 'Microsoft' else 'Databricks' end as invoice_issuer_name,
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
