-- The 'All providers' row of each currency is the sum of that currency's provider rows (every money column), and
-- every provider with cost lines in the current or the previous month has a row. Returns the currencies / providers
-- that break it.
with

providers as (
    select
        billing_currency,
        sum(mtd_effective_cost) as mtd_effective_cost,
        sum(mtd_billed_cost) as mtd_billed_cost,
        sum(prior_mtd_effective_cost) as prior_mtd_effective_cost,
        sum(prior_month_effective_cost) as prior_month_effective_cost
    from {{ ref('fct_cost_period_comparison') }}
    where not is_total
    group by billing_currency
),

totals as (
    select * from {{ ref('fct_cost_period_comparison') }}
    where is_total
),

daily_providers as (
    select distinct
        daily.provider_name,
        daily.billing_currency
    from {{ ref('fct_cost_daily') }} as daily
    where daily.charge_date >= (
        select cast(date_trunc('month', max(latest.charge_date)) - interval '1 month' as date) as prior_month
        from {{ ref('fct_cost_daily') }} as latest
    )
)

select
    coalesce(providers.billing_currency, totals.billing_currency) as billing_currency,
    null as provider_name
from providers
full outer join totals
    on providers.billing_currency = totals.billing_currency
where
    (
        providers.mtd_effective_cost, providers.mtd_billed_cost, providers.prior_mtd_effective_cost,
        providers.prior_month_effective_cost
    ) is distinct from (
        totals.mtd_effective_cost, totals.mtd_billed_cost, totals.prior_mtd_effective_cost,
        totals.prior_month_effective_cost
    )

union all

select
    daily_providers.billing_currency,
    daily_providers.provider_name
from daily_providers
where not exists (
    select 1 as present
    from {{ ref('fct_cost_period_comparison') }} as comparison
    where
        comparison.provider_name = daily_providers.provider_name
        and comparison.billing_currency = daily_providers.billing_currency
)
