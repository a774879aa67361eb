-- Budget status per budget and period: actual (effective) cost and the forecast to period end against the budget.
-- Grain: budget_id x period_start. Periods run from the first period with in-scope cost to the period that
-- contains the latest charge_date in the cost data (periods in between with no cost get actual_cost = 0).
-- Forecast (macros/forecast.sql, the method of fct_cost_forecast, on the budget's own in-scope cost):
-- forecast_cost = actual_cost + days_remaining x run_rate_daily_cost, the run rate being the average daily in-scope
-- effective cost (purchases left out) over the trailing forecast_trailing_days() days up to as_of_date (days
-- without in-scope cost count as 0, days before the budget's first in-scope cost do not count). as_of_date is the
-- latest charge_date, or the period's last day for a period that is over - there days_remaining = 0 and
-- forecast_cost = actual_cost.
-- Status, first match wins: 'exceeded' (utilisation_pct >= 100), 'forecast_exceeded' (forecast_utilisation_pct
-- >= 100), 'warning' (utilisation_pct >= 80), else 'ok'. highest_threshold_crossed / highest_forecast_threshold_
-- crossed are the largest configured thresholds / forecast_thresholds reached (NULL if none). All compare the
-- rounded percentages (2 decimals), the same figures the alert tasks compare with the thresholds.
-- is_within_budget (budget adherence): actual_cost <= budget_amount for a closed period, forecast_cost <=
-- budget_amount for an open one.
-- In-scope lines in another currency never count against the budget (no FX conversion) but are not hidden:
-- excluded_other_currency_line_count and excluded_other_currency_costs ('EUR 7.00; GBP 1.20') say what was left out
-- in the period, and periods are listed from the first in-scope cost in any currency.
with

budgets as (
    select * from {{ ref('stg_config__budgets') }}
),

budget_costs as (
    select * from {{ ref('int_budget_costs_daily') }}
),

-- in-scope cost in currencies other than the budget's, per period and currency
other_currency_costs as (
    select
        budget_id,
        period_start,
        billing_currency,
        sum(effective_cost) as effective_cost,
        sum(line_item_count) as line_item_count
    from {{ ref('int_budget_scoped_costs_daily') }}
    where not is_budget_currency
    group by budget_id, period_start, billing_currency
),

excluded as (
    select
        budget_id,
        period_start,
        sum(line_item_count) as line_item_count,
        string_agg(billing_currency || ' ' || cast(effective_cost as text), '; ' order by billing_currency)
            as cost_summary
    from other_currency_costs
    group by budget_id, period_start
),

first_periods as (
    select
        budget_id,
        min(period_start) as first_period_start
    from {{ ref('int_budget_scoped_costs_daily') }}
    group by budget_id
),

latest_cost_date as (
    select max(charge_date) as charge_date
    from {{ ref('int_focus_costs') }}
),

first_days as (
    select
        budget_id,
        min(charge_date) as first_charge_date,
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

-- one row per budget and day from its first in-scope cost to the latest charge_date (no cost = 0)
budget_days as (
    select
        first_days.budget_id,
        cast(calendar_day.day as date) as charge_date
    from first_days
    cross join latest_cost_date
    cross join lateral generate_series(
        cast(first_days.first_charge_date as timestamp),
        cast(latest_cost_date.charge_date as timestamp),
        interval '1 day'
    ) as calendar_day (day)
),

run_rates as (
    select
        budget_days.budget_id,
        budget_days.charge_date,
        round(
            sum(coalesce(budget_costs.effective_cost_excl_purchases, 0))
                over {{ forecast_trailing_window('budget_days.budget_id', 'budget_days.charge_date') }}
            / count(*) over {{ forecast_trailing_window('budget_days.budget_id', 'budget_days.charge_date') }},
            6
        ) as run_rate_daily_cost
    from budget_days
    left join budget_costs
        on
            budget_days.budget_id = budget_costs.budget_id
            and budget_days.charge_date = budget_costs.charge_date
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
        coalesce(excluded.line_item_count, 0) as excluded_other_currency_line_count,
        excluded.cost_summary as excluded_other_currency_costs,
        budgets.thresholds,
        budgets.forecast_thresholds,
        least(
            latest_cost_date.charge_date,
            {{ budget_period_end('periods.period_start', 'budgets.period') }} - 1
        ) as as_of_date
    from periods
    inner join budgets
        on periods.budget_id = budgets.budget_id
    cross join latest_cost_date
    left join actuals
        on
            periods.budget_id = actuals.budget_id
            and periods.period_start = actuals.period_start
    left join excluded
        on
            periods.budget_id = excluded.budget_id
            and periods.period_start = excluded.period_start
),

forecast as (
    select
        measured.*,
        measured.period_end - measured.as_of_date - 1 as days_remaining,
        coalesce(run_rates.run_rate_daily_cost, 0) as run_rate_daily_cost,
        measured.actual_cost
        + coalesce(run_rates.run_rate_daily_cost, 0) * (measured.period_end - measured.as_of_date - 1)
            as forecast_cost
    from measured
    left join run_rates
        on
            measured.budget_id = run_rates.budget_id
            and measured.as_of_date = run_rates.charge_date
),

utilisation as (
    select
        *,
        cast(round(actual_cost / budget_amount * 100, 2) as numeric(12, 2)) as utilisation_pct,
        cast(round(forecast_cost / budget_amount * 100, 2) as numeric(12, 2)) as forecast_utilisation_pct
    from forecast
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
            when forecast_utilisation_pct >= 100 then 'forecast_exceeded'
            when utilisation_pct >= 80 then 'warning'
            else 'ok'
        end as status,
        as_of_date,
        days_remaining = 0 as is_period_closed,
        days_remaining,
        run_rate_daily_cost,
        forecast_cost,
        forecast_utilisation_pct,
        forecast_thresholds,
        (
            select max(threshold) as highest_threshold
            from unnest(forecast_thresholds) as threshold
            where forecast_utilisation_pct >= threshold
        ) as highest_forecast_threshold_crossed,
        -- budget adherence: within budget at period end (actual for a closed period, forecast for an open one)
        case
            when days_remaining = 0 then actual_cost <= budget_amount
            else forecast_cost <= budget_amount
        end as is_within_budget,
        cast(excluded_other_currency_line_count as bigint) as excluded_other_currency_line_count,
        excluded_other_currency_costs
    from utilisation
)

select * from final
