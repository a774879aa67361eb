-- In-scope cost per budget, day and currency, with the budget period each day falls in.
-- Grain: budget_id x charge_date x billing_currency (days with at least one in-scope cost line in that currency).
-- Scope rules: a NULL scope array = no restriction; dimensions are ANDed, values within one are ORed;
-- teams and environments match case-insensitively (both sides trimmed and lower-cased: config.py CostScope, and
-- int_focus_costs).
-- Tags (scope_tags = {"<key>": [values]}): every configured key must be on the line (int_focus_costs.tags has
-- lower-cased keys) with one of its values, values compared trimmed and lower-cased. NULL = no restriction.
-- Lines in every currency are kept, flagged by is_budget_currency: only those in the budget's currency count against
-- it (int_budget_costs_daily; no FX conversion); the others are reported as excluded by fct_budget_status.
-- effective_cost_excl_purchases (no 'Purchase' lines) is what the forecast run rate averages (macros/forecast.sql).
with

budgets as (
    select
        budget_id,
        period,
        start_month,
        budget_currency,
        scope_providers,
        scope_billing_account_ids,
        scope_sub_account_ids,
        scope_services,
        scope_service_categories,
        scope_sources,
        scope_teams,
        scope_environments,
        scope_tags
    from {{ ref('stg_config__budgets') }}
),

costs as (
    select
        charge_date,
        source_id,
        provider_name,
        billing_account_id,
        sub_account_id,
        service_name,
        service_category,
        team,
        environment,
        tags,
        charge_category,
        billing_currency,
        billed_cost,
        effective_cost
    from {{ ref('int_focus_costs') }}
),

in_scope as (
    select
        budgets.budget_id,
        budgets.period,
        budgets.start_month,
        costs.charge_date,
        costs.billing_currency,
        costs.billing_currency = budgets.budget_currency as is_budget_currency,
        costs.charge_category,
        costs.billed_cost,
        costs.effective_cost
    from budgets
    inner join costs
        on {{ cost_scope_matches('budgets', 'costs') }}
),

daily as (
    select
        budget_id,
        charge_date,
        {{ budget_period_start('charge_date', 'period', 'start_month') }} as period_start,
        billing_currency,
        is_budget_currency,
        sum(effective_cost) as effective_cost,
        coalesce(sum(effective_cost) filter (where charge_category is distinct from 'Purchase'), 0)
            as effective_cost_excl_purchases,
        sum(billed_cost) as billed_cost,
        count(*) as line_item_count
    from in_scope
    group by budget_id, charge_date, period, start_month, billing_currency, is_budget_currency
)

select * from daily
