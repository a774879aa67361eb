-- Month-end cost projection as it could be made on every day of the history, per provider and in total.
-- Grain: provider_name x billing_currency x as_of_date, for every day from the provider's first cost day to the
-- latest charge_date in the data (days without cost count as 0), plus provider_name = 'All providers': the sum
-- of the provider rows of that currency and day.
-- Method (macros/forecast.sql): forecast_cost = actual_to_date (effective cost from the 1st of the month through
-- as_of_date) + days_remaining x run_rate_daily_cost, where the run rate is the average daily effective cost,
-- purchases left out, over the trailing forecast_trailing_days() days ending on as_of_date.
-- fct_cost_forecast reads the latest day of each month; fct_cost_forecast_backtest every day of complete months.
with

costs as (
    select
        provider_name,
        billing_currency,
        charge_date,
        charge_category,
        effective_cost
    from {{ ref('int_focus_costs') }}
),

daily as (
    select
        provider_name,
        billing_currency,
        charge_date,
        sum(effective_cost) as effective_cost,
        coalesce(sum(effective_cost) filter (where charge_category is distinct from 'Purchase'), 0)
            as effective_cost_excl_purchases
    from costs
    group by provider_name, billing_currency, charge_date
),

latest_cost_date as (
    select max(charge_date) as charge_date
    from costs
),

series as (
    select
        provider_name,
        billing_currency,
        min(charge_date) as first_charge_date
    from daily
    group by provider_name, billing_currency
),

calendar as (
    select
        series.provider_name,
        series.billing_currency,
        series.first_charge_date,
        cast(calendar_day.day as date) as as_of_date
    from series
    cross join latest_cost_date
    cross join lateral generate_series(
        cast(series.first_charge_date as timestamp),
        cast(latest_cost_date.charge_date as timestamp),
        interval '1 day'
    ) as calendar_day (day)
),

dense as (
    select
        calendar.provider_name,
        calendar.billing_currency,
        calendar.first_charge_date,
        calendar.as_of_date,
        cast(date_trunc('month', calendar.as_of_date) as date) as forecast_month,
        coalesce(daily.effective_cost, 0) as effective_cost,
        coalesce(daily.effective_cost_excl_purchases, 0) as effective_cost_excl_purchases
    from calendar
    left join daily
        on
            calendar.provider_name = daily.provider_name
            and calendar.billing_currency = daily.billing_currency
            and calendar.as_of_date = daily.charge_date
),

provider_projections as (
    select
        provider_name,
        billing_currency,
        forecast_month,
        as_of_date,
        first_charge_date,
        sum(effective_cost) over (
            partition by provider_name, billing_currency, forecast_month
            order by as_of_date
            rows between unbounded preceding and current row
        ) as actual_to_date,
        sum(effective_cost_excl_purchases)
            over {{ forecast_trailing_window('provider_name, billing_currency', 'as_of_date') }}
            as trailing_cost,
        cast(
            count(*) over {{ forecast_trailing_window('provider_name, billing_currency', 'as_of_date') }} as integer
        ) as run_rate_days
    from dense
),

provider_rows as (
    select
        provider_name,
        billing_currency,
        false as is_total,
        forecast_month,
        as_of_date,
        first_charge_date,
        actual_to_date,
        round(trailing_cost / run_rate_days, 6) as run_rate_daily_cost,
        run_rate_days
    from provider_projections
),

total_rows as (
    select
        'All providers' as provider_name,
        billing_currency,
        true as is_total,
        forecast_month,
        as_of_date,
        min(first_charge_date) as first_charge_date,
        sum(actual_to_date) as actual_to_date,
        sum(run_rate_daily_cost) as run_rate_daily_cost,
        max(run_rate_days) as run_rate_days
    from provider_rows
    group by billing_currency, forecast_month, as_of_date
),

unioned as (
    select * from provider_rows
    union all
    select * from total_rows
),

bounded as (
    select
        *,
        cast(forecast_month + interval '1 month' as date) as period_end
    from unioned
),

final as (
    select
        provider_name,
        billing_currency,
        is_total,
        forecast_month,
        period_end,
        as_of_date,
        first_charge_date,
        period_end - as_of_date - 1 as days_remaining,
        actual_to_date,
        run_rate_daily_cost,
        run_rate_days,
        actual_to_date + run_rate_daily_cost * (period_end - as_of_date - 1) as forecast_cost
    from bounded
)

select * from final
