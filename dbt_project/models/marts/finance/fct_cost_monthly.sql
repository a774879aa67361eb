-- Monthly cost by provider, account, service, region, team and environment: fct_cost_daily's dimensions per month.
-- Grain: charge_month x provider_name x billing_account_id x sub_account_id x service_name x region_id x team
-- x environment x billing_currency (service_category depends on service_name).
-- charge_month = the first day of the calendar month of charge_date (the FOCUS day rule: the UTC date of the
-- charge period start), so every row is the sum of the fct_cost_daily rows of that month - tested at full grain
-- (assert_fct_cost_monthly_matches_fct_cost_daily). It is the usage month, the one budgets use; for the calendar-
-- month billing periods of AWS, Azure and Google Cloud it is also the billing period.
-- NULL dimensions as in fct_cost_daily: sub_account_id 'n/a', region_id NULL (NULL-safe in monthly_cost_key).
with

costs as (
    select
        cast(date_trunc('month', charge_date) as date) as charge_month,
        provider_name,
        billing_account_id,
        billing_account_name,
        coalesce(sub_account_id, 'n/a') as sub_account_id,
        sub_account_name,
        service_name,
        service_category,
        region_id,
        team,
        environment,
        billing_currency,
        billed_cost,
        effective_cost,
        list_cost,
        contracted_cost
    from {{ ref('int_focus_costs') }}
),

aggregated as (
    select
        charge_month,
        provider_name,
        billing_account_id,
        sub_account_id,
        service_name,
        service_category,
        region_id,
        team,
        environment,
        billing_currency,
        coalesce(max(billing_account_name), billing_account_id) as billing_account_name,
        coalesce(max(sub_account_name), sub_account_id) as sub_account_name,
        sum(billed_cost) as billed_cost,
        sum(effective_cost) as effective_cost,
        sum(list_cost) as list_cost,
        sum(contracted_cost) as contracted_cost,
        count(*) as line_item_count
    from costs
    group by
        charge_month,
        provider_name,
        billing_account_id,
        sub_account_id,
        service_name,
        service_category,
        region_id,
        team,
        environment,
        billing_currency
),

final as (
    select
        {{ surrogate_key([
            'charge_month', 'provider_name', 'billing_account_id', 'sub_account_id', 'service_name',
            'region_id', 'team', 'environment', 'billing_currency'
        ]) }} as monthly_cost_key,
        charge_month,
        provider_name,
        billing_account_id,
        billing_account_name,
        sub_account_id,
        sub_account_name,
        service_name,
        service_category,
        region_id,
        team,
        environment,
        billing_currency,
        billed_cost,
        effective_cost,
        list_cost,
        contracted_cost,
        line_item_count
    from aggregated
)

select * from final
