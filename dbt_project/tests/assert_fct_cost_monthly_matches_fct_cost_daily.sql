-- fct_cost_monthly = fct_cost_daily summed per calendar month, at full grain: every dimension combination, every
-- money column (list/contracted NULL-safe: NULL when no day of the month reports one) and the line count.
-- A row on one side only fails too. Returns every offending row.
with

daily as (
    select
        cast(date_trunc('month', charge_date) as date) as charge_month,
        provider_name,
        billing_account_id,
        sub_account_id,
        service_name,
        region_id,
        team,
        environment,
        billing_currency,
        sum(billed_cost) as billed_cost,
        sum(effective_cost) as effective_cost,
        sum(list_cost) as list_cost,
        sum(contracted_cost) as contracted_cost,
        sum(line_item_count) as line_item_count
    from {{ ref('fct_cost_daily') }}
    group by
        cast(date_trunc('month', charge_date) as date),
        provider_name,
        billing_account_id,
        sub_account_id,
        service_name,
        region_id,
        team,
        environment,
        billing_currency
),

monthly as (
    select * from {{ ref('fct_cost_monthly') }}
)

select
    coalesce(monthly.charge_month, daily.charge_month) as charge_month,
    coalesce(monthly.provider_name, daily.provider_name) as provider_name,
    coalesce(monthly.sub_account_id, daily.sub_account_id) as sub_account_id,
    coalesce(monthly.service_name, daily.service_name) as service_name,
    coalesce(monthly.team, daily.team) as team,
    monthly.effective_cost as monthly_effective_cost,
    daily.effective_cost as daily_effective_cost
from monthly
full outer join daily
    on
        monthly.charge_month = daily.charge_month
        and monthly.provider_name = daily.provider_name
        and monthly.billing_account_id = daily.billing_account_id
        and monthly.sub_account_id = daily.sub_account_id
        and monthly.service_name = daily.service_name
        and monthly.region_id is not distinct from daily.region_id
        and monthly.team = daily.team
        and monthly.environment = daily.environment
        and monthly.billing_currency = daily.billing_currency
where
    monthly.charge_month is null
    or daily.charge_month is null
    or monthly.billed_cost != daily.billed_cost
    or monthly.effective_cost != daily.effective_cost
    or monthly.list_cost is distinct from daily.list_cost
    or monthly.contracted_cost is distinct from daily.contracted_cost
    or monthly.line_item_count != daily.line_item_count
