-- FOCUS Cost and Usage records as loaded from FOCUS files, AWS Data Exports and the demo: renamed (load metadata
-- without the underscore) and cast, nothing else.
-- Grain: one row per source_id x billing_period_start x source_file x source_line. A FOCUS file load replaces
-- whole billing periods, so within one period every row comes from one load and (file, line) is unique; the
-- billing period is part of the key because a file rewritten in place may reuse a line number for another period.
-- The demo replaces charge days and names its "file" after the day, so (file, line) is unique there too.
with

source as (
    select * from {{ source('focus', 'focus_cost_line_items') }}
),

renamed as (
    select
        -- keys and lineage
        {{ surrogate_key(['_source_id', 'billing_period_start', 'source_file', 'source_line']) }} as cost_line_key,
        cast(_source_id as text) as source_id,
        cast(source_file as text) as source_file,
        cast(source_line as bigint) as source_line,
        cast(focus_version as text) as focus_version,

        -- who bills whom
        cast(provider_name as text) as provider_name,
        cast(publisher_name as text) as publisher_name,
        cast(host_provider_name as text) as host_provider_name,
        cast(invoice_issuer_name as text) as invoice_issuer_name,
        cast(invoice_id as text) as invoice_id,
        cast(billing_account_id as text) as billing_account_id,
        cast(billing_account_name as text) as billing_account_name,
        cast(billing_account_type as text) as billing_account_type,
        cast(sub_account_id as text) as sub_account_id,
        cast(sub_account_name as text) as sub_account_name,
        cast(sub_account_type as text) as sub_account_type,

        -- time (UTC instants; periods are [start, end))
        cast(billing_period_start as timestamptz) as billing_period_start,
        cast(billing_period_end as timestamptz) as billing_period_end,
        cast(charge_period_start as timestamptz) as charge_period_start,
        cast(charge_period_end as timestamptz) as charge_period_end,

        -- charge
        cast(charge_category as text) as charge_category,
        cast(charge_class as text) as charge_class,
        cast(charge_description as text) as charge_description,
        cast(charge_frequency as text) as charge_frequency,

        -- money in billing_currency, prices, quantities
        cast(billed_cost as numeric) as billed_cost,
        cast(effective_cost as numeric) as effective_cost,
        cast(list_cost as numeric) as list_cost,
        cast(contracted_cost as numeric) as contracted_cost,
        cast(list_unit_price as numeric) as list_unit_price,
        cast(contracted_unit_price as numeric) as contracted_unit_price,
        cast(pricing_category as text) as pricing_category,
        cast(pricing_quantity as numeric) as pricing_quantity,
        cast(pricing_unit as text) as pricing_unit,
        cast(pricing_currency as text) as pricing_currency,
        cast(pricing_currency_contracted_unit_price as numeric) as pricing_currency_contracted_unit_price,
        cast(pricing_currency_effective_cost as numeric) as pricing_currency_effective_cost,
        cast(pricing_currency_list_unit_price as numeric) as pricing_currency_list_unit_price,
        cast(billing_currency as text) as billing_currency,
        cast(consumed_quantity as numeric) as consumed_quantity,
        cast(consumed_unit as text) as consumed_unit,

        -- what
        cast(service_name as text) as service_name,
        cast(service_category as text) as service_category,
        cast(service_subcategory as text) as service_subcategory,
        cast(sku_id as text) as sku_id,
        cast(sku_meter as text) as sku_meter,
        cast(sku_price_id as text) as sku_price_id,
        cast(sku_price_details as jsonb) as sku_price_details,
        cast(resource_id as text) as resource_id,
        cast(resource_name as text) as resource_name,
        cast(resource_type as text) as resource_type,
        cast(region_id as text) as region_id,
        cast(region_name as text) as region_name,
        cast(availability_zone as text) as availability_zone,

        -- commitments and reservations
        cast(commitment_discount_id as text) as commitment_discount_id,
        cast(commitment_discount_name as text) as commitment_discount_name,
        cast(commitment_discount_category as text) as commitment_discount_category,
        cast(commitment_discount_type as text) as commitment_discount_type,
        cast(commitment_discount_status as text) as commitment_discount_status,
        cast(commitment_discount_quantity as numeric) as commitment_discount_quantity,
        cast(commitment_discount_unit as text) as commitment_discount_unit,
        cast(capacity_reservation_id as text) as capacity_reservation_id,
        cast(capacity_reservation_status as text) as capacity_reservation_status,

        -- tags and everything else the file had
        cast(tags as jsonb) as tags,
        cast(x_extensions as jsonb) as x_extensions,

        -- load metadata
        cast(_batch_id as text) as batch_id,
        cast(_loaded_at as timestamptz) as loaded_at

    from source
)

select * from renamed
