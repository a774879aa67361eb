-- THE cost model: every provider's cost lines in FOCUS 1.2 columns (snake_case), plus the tag-derived
-- team and environment used for showback and budget scopes.
-- Grain: one row per source cost line (cost_line_key).
-- charge_date follows the FOCUS day rule: the UTC date of charge_period_start (a monthly purchase whose charge
-- period is the whole month lands on the 1st).
--
-- Never double count (the precedence rule): cost APIs (AWS Cost Explorer, Azure Query API) return aggregates
-- of the same spend the billing exports itemise. When any line-item source (a FOCUS file or export, an AWS CUR 2.0
-- export, the GCP BigQuery export, the demo) has lines for a provider, sub account and billing period, the API
-- aggregates for that provider, sub account and billing period are left out: the export wins, the API fills only
-- what no export covers. Sub accounts are compared case-insensitively, Azure's "/subscriptions/<id>" form as <id>.
-- The singular test assert_int_focus_costs_one_grain_per_sub_account_period enforces it.
with

unioned as (
    -- every source's lines (int_cost_lines_unioned: the one list of cost sources)
    select * from {{ ref('int_cost_lines_unioned') }}
),

keyed as (
    select
        *,
        lower(regexp_replace(coalesce(sub_account_id, ''), '^/subscriptions/', '', 'i')) as precedence_sub_account
    from unioned
),

line_item_coverage as (
    select distinct
        provider_name,
        precedence_sub_account,
        billing_period_start
    from keyed
    where cost_grain = 'line_item'
),

deduplicated as (
    select keyed.*
    from keyed
    where
        keyed.cost_grain = 'line_item'
        or not exists (
            select 1 as covered
            from line_item_coverage
            where
                line_item_coverage.provider_name = keyed.provider_name
                and line_item_coverage.precedence_sub_account = keyed.precedence_sub_account
                and line_item_coverage.billing_period_start = keyed.billing_period_start
        )
),

tags_normalised as (
    select
        *,
        {{ normalise_tag_keys('tags') }} as normalised_tags
    from deduplicated
),

final as (
    select
        cost_line_key,
        source_id,
        source_system,
        cost_grain,
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
