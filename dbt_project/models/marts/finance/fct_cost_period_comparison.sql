-- Month to date against the same days of the previous month, per provider and in total (CFO dashboard).
-- Grain: provider_name x billing_currency, plus one row per currency with provider_name 'All providers' (is_total)
-- = the sum of that currency's provider rows. As of the latest charge_date in fct_cost_daily (as_of_date):
-- current month = day 1 .. as_of_date; prior month to date = day 1 .. the same day of month in the previous month,
-- capped at its last day (as of March 31 -> February 1 .. 28); prior_month_effective_cost = the whole previous
-- month. Providers with cost lines in either month get a row (0 where absent). mtd_change_pct = change / prior
-- month to date x 100 (2 decimals; NULL when the prior month to date is 0).
with

costs as (
    select
        charge_date,
        provider_name,
        billing_currency,
        billed_cost,
        effective_cost
    from {{ ref('fct_cost_daily') }}
),

as_of as (
    select
        max(charge_date) as as_of_date,
        cast(date_trunc('month', max(charge_date)) as date) as current_month,
        cast(date_trunc('month', max(charge_date)) - interval '1 month' as date) as prior_month
    from costs
),

periods as (
    select
        as_of_date,
        current_month,
        prior_month,
        -- the same day of month in the previous month, capped at its last day
        least(
            prior_month + (as_of_date - current_month),
            current_month - 1
        ) as prior_mtd_end
    from as_of
),

providers as (
    select
        costs.provider_name,
        costs.billing_currency,
        coalesce(sum(costs.effective_cost) filter (
            where costs.charge_date >= periods.current_month
        ), 0) as mtd_effective_cost,
        coalesce(sum(costs.billed_cost) filter (
            where costs.charge_date >= periods.current_month
        ), 0) as mtd_billed_cost,
        coalesce(sum(costs.effective_cost) filter (
            where costs.charge_date <= periods.prior_mtd_end
        ), 0) as prior_mtd_effective_cost,
        coalesce(sum(costs.billed_cost) filter (
            where costs.charge_date <= periods.prior_mtd_end
        ), 0) as prior_mtd_billed_cost,
        coalesce(sum(costs.effective_cost) filter (
            where costs.charge_date < periods.current_month
        ), 0) as prior_month_effective_cost,
        false as is_total
    from costs
    cross join periods
    where costs.charge_date >= periods.prior_month and costs.charge_date <= periods.as_of_date
    group by costs.provider_name, costs.billing_currency
),

totals as (
    select
        'All providers' as provider_name,
        billing_currency,
        sum(mtd_effective_cost) as mtd_effective_cost,
        sum(mtd_billed_cost) as mtd_billed_cost,
        sum(prior_mtd_effective_cost) as prior_mtd_effective_cost,
        sum(prior_mtd_billed_cost) as prior_mtd_billed_cost,
        sum(prior_month_effective_cost) as prior_month_effective_cost,
        true as is_total
    from providers
    group by billing_currency
),

combined as (
    select * from providers
    union all
    select * from totals
),

final as (
    select
        combined.provider_name,
        combined.billing_currency,
        combined.is_total,
        periods.as_of_date,
        periods.current_month,
        combined.mtd_effective_cost,
        combined.mtd_billed_cost,
        periods.prior_month,
        periods.prior_mtd_end,
        combined.prior_mtd_effective_cost,
        combined.prior_mtd_billed_cost,
        combined.prior_month_effective_cost,
        combined.mtd_effective_cost - combined.prior_mtd_effective_cost as mtd_change_cost,
        {{ bounded_pct(
            'combined.mtd_effective_cost - combined.prior_mtd_effective_cost', 'combined.prior_mtd_effective_cost', 8
        ) }} as mtd_change_pct
    from combined
    cross join periods
)

select * from final
