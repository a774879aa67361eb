-- In-scope cost per budget and day in the budget's currency: what counts against the budget (no FX conversion).
-- Grain: budget_id x charge_date (days with at least one in-scope cost line in the budget's currency).
-- Scope rules and the period assignment: int_budget_scoped_costs_daily.
select
    budget_id,
    charge_date,
    period_start,
    billing_currency,
    effective_cost,
    effective_cost_excl_purchases,
    billed_cost,
    line_item_count
from {{ ref('int_budget_scoped_costs_daily') }}
where is_budget_currency
