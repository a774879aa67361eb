-- AI/ML spend per month and currency: how much of the effective cost is AI/ML (CFO / ML dashboards).
-- Grain: charge_month x billing_currency (every month and currency with cost). A cost line is AI/ML spend when it
-- matches any config `ai_ml.scopes` entry (int_ai_ml_costs_monthly; each line counted once).
-- ai_ml + other = total = fct_cost_monthly's effective cost of the month and currency (tested).
with

costs as (
    select * from {{ ref('int_ai_ml_costs_monthly') }}
),

monthly as (
    select
        charge_month,
        billing_currency,
        sum(total_effective_cost) as total_effective_cost,
        sum(ai_ml_effective_cost) as ai_ml_effective_cost,
        sum(ai_ml_billed_cost) as ai_ml_billed_cost,
        sum(ai_ml_line_item_count) as ai_ml_line_item_count
    from costs
    group by charge_month, billing_currency
),

final as (
    select
        charge_month,
        billing_currency,
        total_effective_cost,
        ai_ml_effective_cost,
        total_effective_cost - ai_ml_effective_cost as other_effective_cost,
        {{ bounded_pct('ai_ml_effective_cost', 'total_effective_cost', 6) }} as ai_ml_share_pct,
        ai_ml_billed_cost,
        cast(ai_ml_line_item_count as bigint) as ai_ml_line_item_count
    from monthly
)

select * from final
