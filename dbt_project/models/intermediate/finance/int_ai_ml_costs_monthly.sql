-- Effective cost per month, currency and team, with the part that is AI/ML spend.
-- Grain: charge_month x billing_currency x team. A cost line is AI/ML spend when it matches any configured scope
-- (stg_config__ai_ml_scopes, the CostScope rules of macros/cost_scope.sql); EXISTS counts each line once however many
-- scopes it matches. charge_month = the calendar month of charge_date (as fct_cost_monthly). Money: effective_cost,
-- never converted.
with

scopes as (
    select * from {{ ref('stg_config__ai_ml_scopes') }}
),

costs as (
    select
        cast(date_trunc('month', charge_date) as date) as charge_month,
        source_id,
        provider_name,
        billing_account_id,
        sub_account_id,
        service_name,
        service_category,
        team,
        environment,
        tags,
        billing_currency,
        billed_cost,
        effective_cost
    from {{ ref('int_focus_costs') }}
),

classified as (
    select
        costs.charge_month,
        costs.billing_currency,
        costs.team,
        costs.billed_cost,
        costs.effective_cost,
        exists(
            select 1 as is_match
            from scopes
            where {{ cost_scope_matches('scopes', 'costs') }}
        ) as is_ai_ml
    from costs
),

final as (
    select
        charge_month,
        billing_currency,
        team,
        sum(effective_cost) as total_effective_cost,
        coalesce(sum(effective_cost) filter (where is_ai_ml), 0) as ai_ml_effective_cost,
        coalesce(sum(billed_cost) filter (where is_ai_ml), 0) as ai_ml_billed_cost,
        count(*) as line_item_count,
        count(*) filter (where is_ai_ml) as ai_ml_line_item_count
    from classified
    group by charge_month, billing_currency, team
)

select * from final
