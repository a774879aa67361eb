-- THE cost model: every provider's cost lines in FOCUS 1.2 columns (snake_case), plus the tag-derived
-- team and environment used for showback and budget scopes.
-- Grain: one row per source cost line (cost_line_key).
-- charge_date follows the FOCUS day rule: the UTC date of charge_period_start (a monthly purchase whose charge
-- period is the whole month lands on the 1st).
with

cloud_cost_lines as (
    select
        cost_line_item_key as cost_line_key,
        {{ focus_cost_columns()[1:] | join(',\n        ') }}
    from {{ ref('stg_demo__cost_line_items') }}
),

databricks_costs as (
    select {{ focus_cost_columns() | join(', ') }}
    from {{ ref('int_databricks_costs_conformed') }}
),

snowflake_costs as (
    select {{ focus_cost_columns() | join(', ') }}
    from {{ ref('int_snowflake_costs_conformed') }}
),

unioned as (
    select * from cloud_cost_lines
    union all
    select * from databricks_costs
    union all
    select * from snowflake_costs
),

tags_normalised as (
    select
        *,
        {{ normalise_tag_keys('tags') }} as normalised_tags
    from unioned
),

final as (
    select
        cost_line_key,
        source_id,
        cast(charge_period_start at time zone 'UTC' as date) as charge_date,
        charge_period_start,
        charge_period_end,
        billing_period_start,
        billing_period_end,
        provider_name,
        publisher_name,
        invoice_issuer_name,
        billing_account_id,
        billing_account_name,
        sub_account_id,
        sub_account_name,
        service_name,
        service_category,
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
        normalised_tags as tags,
        {{ tag_dimension('normalised_tags', ['team']) }} as team,
        {{ tag_dimension('normalised_tags', ['env', 'environment']) }} as environment
    from tags_normalised
)

select * from final
