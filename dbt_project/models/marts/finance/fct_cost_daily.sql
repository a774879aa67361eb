-- Daily cost by provider, account, service, region, team and environment: what the cost dashboards read.
-- Grain: charge_date x provider_name x billing_account_id x sub_account_id x service_name x region_id x team
-- x environment x billing_currency (service_category depends on service_name; the unique test on cost_key,
-- which leaves it out, proves that).
-- NULL dimensions: sub_account_id becomes 'n/a'; region_id stays NULL (no region, e.g. credits, SaaS) and is
-- NULL-safe in cost_key; account names fall back to their id.
with

costs as (
    select
        charge_date,
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
        charge_date,
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
        charge_date,
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
            'charge_date', 'provider_name', 'billing_account_id', 'sub_account_id', 'service_name',
            'region_id', 'team', 'environment', 'billing_currency'
        ]) }} as cost_key,
        charge_date,
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
