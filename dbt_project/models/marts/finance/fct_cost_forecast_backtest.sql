-- Back-test of the month-end forecast (the method of fct_cost_forecast, macros/forecast.sql) on the history.
-- Grain: forecast_month x provider_name x billing_currency x as_of_date ('All providers' = the total per currency).
-- For every month that is complete in the data (the series has cost on or before the 1st and the data reaches
-- the month's last day), the projection made with the data up to each as-of day - the 1st through the day before
-- the last, and only once the run rate has forecast_backtest_min_history_days() days of history - is compared
-- with what the month really cost. abs_pct_error = |forecast - actual| / |actual| x 100 (4 decimals); its mean
-- is the MAPE reported in fct_cost_forecast.
with

projections as (
    select * from {{ ref('int_cost_projections_daily') }}
),

month_actuals as (
    -- the projection row on a month's last day has days_remaining = 0: its actual_to_date is the month's cost
    select
        provider_name,
        billing_currency,
        forecast_month,
        actual_to_date as month_actual_cost
    from projections
    where
        days_remaining = 0
        and first_charge_date <= forecast_month
),

backtest as (
    select
        projections.forecast_month,
        projections.provider_name,
        projections.billing_currency,
        projections.is_total,
        projections.as_of_date,
        projections.days_remaining,
        projections.run_rate_days,
        projections.actual_to_date,
        projections.run_rate_daily_cost,
        projections.forecast_cost,
        month_actuals.month_actual_cost
    from projections
    inner join month_actuals
        on
            projections.provider_name = month_actuals.provider_name
            and projections.billing_currency = month_actuals.billing_currency
            and projections.forecast_month = month_actuals.forecast_month
    where
        projections.days_remaining > 0
        and projections.run_rate_days >= {{ forecast_backtest_min_history_days() }}
),

final as (
    select
        forecast_month,
        provider_name,
        billing_currency,
        is_total,
        as_of_date,
        days_remaining,
        run_rate_days,
        actual_to_date,
        run_rate_daily_cost,
        forecast_cost,
        month_actual_cost,
        forecast_cost - month_actual_cost as forecast_error_cost,
        round(abs(forecast_cost - month_actual_cost) / nullif(abs(month_actual_cost), 0) * 100, 4) as abs_pct_error
    from backtest
)

select * from final
