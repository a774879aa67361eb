-- Month-end cost forecast per provider and in total, as of the latest charge_date in the data.
-- Grain: forecast_month x provider_name x billing_currency, for every month from the provider's first cost day
-- to the month of the latest charge_date; provider_name = 'All providers' (is_total) is the sum of the provider
-- rows of that month and currency (never added across currencies).
-- Method (macros/forecast.sql): forecast_cost = actual_cost (month to date) + days_remaining x
-- run_rate_daily_cost (average daily effective cost over the trailing forecast_trailing_days() days up to
-- as_of_date, one-off purchases left out). A month that is over (as_of_date = its last day) has
-- forecast_cost = actual_cost.
-- backtest_mape_pct: the method's mean absolute percentage error over every back-tested projection of the series
-- (fct_cost_forecast_backtest) - the error to expect on the current forecast; backtest_month_mape_pct: the same for
-- this month only (complete, back-tested months).
with

projections as (
    select * from {{ ref('int_cost_projections_daily') }}
),

backtest as (
    select * from {{ ref('fct_cost_forecast_backtest') }}
),

latest_cost_date as (
    select max(as_of_date) as charge_date
    from projections
),

month_rows as (
    -- each month as of its last day, or as of the latest charge_date for the month still running
    select projections.*
    from projections
    cross join latest_cost_date
    where projections.as_of_date = least(projections.period_end - 1, latest_cost_date.charge_date)
),

series_backtest as (
    select
        provider_name,
        billing_currency,
        cast(round(avg(abs_pct_error), 2) as numeric(12, 2)) as backtest_mape_pct,
        cast(count(abs_pct_error) as integer) as backtest_projections
    from backtest
    group by provider_name, billing_currency
),

month_backtest as (
    select
        provider_name,
        billing_currency,
        forecast_month,
        cast(round(avg(abs_pct_error), 2) as numeric(12, 2)) as backtest_month_mape_pct
    from backtest
    group by provider_name, billing_currency, forecast_month
),

final as (
    select
        month_rows.forecast_month,
        month_rows.provider_name,
        month_rows.billing_currency,
        month_rows.is_total,
        month_rows.period_end,
        month_rows.as_of_date,
        month_rows.days_remaining = 0 as is_month_complete,
        month_rows.period_end - month_rows.forecast_month as days_in_month,
        month_rows.days_remaining,
        month_rows.actual_to_date as actual_cost,
        month_rows.run_rate_daily_cost,
        month_rows.run_rate_days,
        month_rows.forecast_cost,
        'month to date + days remaining x average daily cost of the trailing {{ forecast_trailing_days() }} days'
        || ' (purchases excluded)' as forecast_method,
        series_backtest.backtest_mape_pct,
        coalesce(series_backtest.backtest_projections, 0) as backtest_projections,
        month_backtest.backtest_month_mape_pct
    from month_rows
    left join series_backtest
        on
            month_rows.provider_name = series_backtest.provider_name
            and month_rows.billing_currency = series_backtest.billing_currency
    left join month_backtest
        on
            month_rows.provider_name = month_backtest.provider_name
            and month_rows.billing_currency = month_backtest.billing_currency
            and month_rows.forecast_month = month_backtest.forecast_month
)

select * from final
