-- Money identities of fct_cost_forecast, recomputed from int_focus_costs (not from int_cost_projections_daily):
--   1. a provider row's actual_cost = sum(effective_cost) of its lines from the 1st of the month through
--      as_of_date, in its currency (a provider or month missing on either side fails too);
--   2. the 'All providers' row = the sum of that month's provider rows in its currency, for actual_cost,
--      run_rate_daily_cost and forecast_cost.
-- Returns every offending row.
with

forecast as (
    select * from {{ ref('fct_cost_forecast') }}
),

provider_rows as (
    select * from forecast
    where not is_total
),

total_rows as (
    select * from forecast
    where is_total
),

costs as (
    select
        provider_name,
        billing_currency,
        cast(date_trunc('month', charge_date) as date) as forecast_month,
        charge_date,
        effective_cost
    from {{ ref('int_focus_costs') }}
),

as_of as (
    select
        forecast_month,
        max(as_of_date) as as_of_date
    from forecast
    group by forecast_month
),

expected_actuals as (
    select
        costs.provider_name,
        costs.billing_currency,
        costs.forecast_month,
        sum(costs.effective_cost) as actual_cost
    from costs
    inner join as_of
        on costs.forecast_month = as_of.forecast_month
    where costs.charge_date <= as_of.as_of_date
    group by costs.provider_name, costs.billing_currency, costs.forecast_month
),

actual_mismatches as (
    select
        'provider actual_cost' as failed_check,
        coalesce(forecast.forecast_month, expected_actuals.forecast_month) as forecast_month,
        coalesce(forecast.provider_name, expected_actuals.provider_name) as provider_name,
        coalesce(forecast.billing_currency, expected_actuals.billing_currency) as billing_currency,
        forecast.actual_cost as mart_value,
        expected_actuals.actual_cost as expected_value
    from provider_rows as forecast
    full outer join expected_actuals
        on
            forecast.provider_name = expected_actuals.provider_name
            and forecast.billing_currency = expected_actuals.billing_currency
            and forecast.forecast_month = expected_actuals.forecast_month
    -- months before a provider's first cost day have no row and no cost; a month with lines must have a row
    where coalesce(forecast.actual_cost, 0) <> coalesce(expected_actuals.actual_cost, 0)
        or (forecast.provider_name is null and expected_actuals.provider_name is not null)
),

provider_sums as (
    select
        forecast_month,
        billing_currency,
        sum(actual_cost) as actual_cost,
        sum(run_rate_daily_cost) as run_rate_daily_cost,
        sum(forecast_cost) as forecast_cost
    from forecast
    where not is_total
    group by forecast_month, billing_currency
),

total_mismatches as (
    select
        'total row' as failed_check,
        coalesce(totals.forecast_month, provider_sums.forecast_month) as forecast_month,
        'All providers' as provider_name,
        coalesce(totals.billing_currency, provider_sums.billing_currency) as billing_currency,
        totals.forecast_cost as mart_value,
        provider_sums.forecast_cost as expected_value
    from total_rows as totals
    full outer join provider_sums
        on
            totals.forecast_month = provider_sums.forecast_month
            and totals.billing_currency = provider_sums.billing_currency
    where totals.forecast_month is null
        or provider_sums.forecast_month is null
        or totals.actual_cost <> provider_sums.actual_cost
        or totals.run_rate_daily_cost <> provider_sums.run_rate_daily_cost
        or totals.forecast_cost <> provider_sums.forecast_cost
)

select * from actual_mismatches
union all
select * from total_mismatches
