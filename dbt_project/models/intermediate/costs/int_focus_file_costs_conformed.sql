-- FOCUS files and AWS Data Exports (FOCUS) in the FOCUS 1.2 cost columns: already FOCUS, so a pass-through of the
-- columns focus_cost_columns() names, with the provider spelled the way the other cost models spell it.
-- Grain: one row per FOCUS record (source_id x billing_period_start x source_file x source_line).
with

focus_lines as (
    select * from {{ ref('stg_focus__cost_line_items') }}
),

conformed as (
    select
        cost_line_key,
        source_id,

        charge_period_start,
        charge_period_end,
        billing_period_start,
        billing_period_end,

        -- Provider names as the FOCUS exports of the three clouds spell them, onto the names our marts use.
        case
            when provider_name in ('AWS', 'Amazon Web Services') then 'AWS'
            when provider_name in ('Microsoft', 'Microsoft Azure', 'Azure') then 'Microsoft Azure'
            when provider_name in ('Google', 'Google Cloud', 'Google Cloud Platform', 'GCP') then 'Google Cloud'
            else provider_name
        end as provider_name,
        publisher_name,
        invoice_issuer_name,
        billing_account_id,
        billing_account_name,
        sub_account_id,
        sub_account_name,

        service_name,
        coalesce(service_category, 'Other') as service_category,
        region_id,
        region_name,
        resource_id,
        resource_name,
        sku_id,

        charge_category,
        charge_class,
        charge_description,
        charge_frequency,
        pricing_category,

        pricing_quantity,
        pricing_unit,
        list_unit_price,
        contracted_unit_price,
        billed_cost,
        effective_cost,
        list_cost,
        contracted_cost,
        billing_currency,

        commitment_discount_id,
        commitment_discount_type,
        commitment_discount_category,
        commitment_discount_status,
        tags

    from focus_lines
)

select * from conformed
