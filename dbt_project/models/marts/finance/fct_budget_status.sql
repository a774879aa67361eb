-- Budget status per budget and period: actual (effective) cost against the budget amount.
-- Grain: budget_id x period_start. Periods run from the first period with in-scope cost to the period that
-- contains the latest charge_date in the cost data (periods in between with no cost get actual_cost = 0).
-- Status: 'exceeded' when utilisation >= 100 %, 'warning' when >= 80 %, else 'ok'. highest_threshold_crossed
-- is the largest configured threshold the utilisation has reached (NULL if none). Both compare the rounded
-- utilisation_pct (2 decimals), the same figure the alert tasks compare with the thresholds.
with

budgets as (
    select * from {{ ref('stg_config__budgets') }}
),

budget_costs as (
    select * from {{ ref('int_budget_costs_daily') }}
),

latest_cost_date as (
    select max(charge_date) as charge_date
    from {{ ref('int_focus_costs') }}
),

first_periods as (
    select
        budget_id,
        min(period_start) as first_period_start
    from budget_costs
    group by budget_id
),

periods as (
    select
        budgets.budget_id,
        cast(period_start as date) as period_start
    from budgets
    inner join first_periods
        on budgets.budget_id = first_periods.budget_id
    cross join latest_cost_date
    cross join lateral generate_series(
        cast(first_periods.first_period_start as timestamp),
        cast(
            {{ budget_period_start('latest_cost_date.charge_date', 'budgets.period', 'budgets.start_month') }}
            as timestamp
        ),
        make_interval(months => {{ period_months('budgets.period') }})
    ) as period_start
),

actuals as (
    select
        budget_id,
        period_start,
        sum(effective_cost) as actual_cost
    from budget_costs
    group by budget_id, period_start
),

measured as (
    select
        budgets.budget_id,
        budgets.budget_name,
        budgets.period,
        periods.period_start,
        {{ budget_period_end('periods.period_start', 'budgets.period') }} as period_end,
        budgets.budget_currency as billing_currency,
        budgets.budget_amount,
        coalesce(actuals.actual_cost, 0) as actual_cost,
        budgets.thresholds
    from periods
    inner join budgets
        on periods.budget_id = budgets.budget_id
    left join actuals
        on
            periods.budget_id = actuals.budget_id
            and periods.period_start = actuals.period_start
),

utilisation as (
    select
        *,
        cast(round(actual_cost / budget_amount * 100, 2) as numeric(12, 2)) as utilisation_pct
    from measured
),

final as (
    select
        budget_id,
        budget_name,
        period,
        period_start,
        period_end,
        billing_currency,
        budget_amount,
        actual_cost,
        utilisation_pct,
        thresholds,
        (
            select max(threshold) as highest_threshold
            from unnest(thresholds) as threshold
            where utilisation_pct >= threshold
        ) as highest_threshold_crossed,
        case
            when utilisation_pct >= 100 then 'exceeded'
            when utilisation_pct >= 80 then 'warning'
            else 'ok'
        end as status
    from utilisation
)

select * from final
