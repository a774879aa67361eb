-- Showback loses and invents nothing: per calendar month and currency, the teams' total_cost (direct + allocated
-- shared cost) and their own_effective_cost both equal the effective cost of every int_focus_costs line, exactly
-- (no tolerance: the allocation is exact); and each rule's allocations add up to its pool. A month or currency on
-- one side only fails too. Returns every offending row.
with

costs as (
    select
        cast(date_trunc('month', charge_date) as date) as charge_month,
        billing_currency,
        sum(effective_cost) as effective_cost
    from {{ ref('int_focus_costs') }}
    group by cast(date_trunc('month', charge_date) as date), billing_currency
),

showback as (
    select
        charge_month,
        billing_currency,
        sum(total_cost) as total_cost,
        sum(own_effective_cost) as own_effective_cost,
        sum(allocated_shared_cost) as allocated_shared_cost,
        sum(shared_out_cost) as shared_out_cost
    from {{ ref('fct_showback_monthly') }}
    group by charge_month, billing_currency
),

pool_totals as (
    select
        rule_id,
        charge_month,
        billing_currency,
        max(shared_cost) as shared_cost,
        min(shared_cost) as min_shared_cost,
        sum(allocated_cost) as allocated_cost
    from {{ ref('fct_showback_allocations_monthly') }}
    group by rule_id, charge_month, billing_currency
),

month_mismatches as (
    select
        'month total' as failure,
        cast(null as text) as rule_id,
        coalesce(showback.charge_month, costs.charge_month) as charge_month,
        coalesce(showback.billing_currency, costs.billing_currency) as billing_currency,
        showback.total_cost as mart_amount,
        costs.effective_cost as expected_amount
    from showback
    full outer join costs
        on
            showback.charge_month = costs.charge_month
            and showback.billing_currency = costs.billing_currency
    where
        showback.charge_month is null
        or costs.charge_month is null
        or showback.total_cost != costs.effective_cost
        or showback.own_effective_cost != costs.effective_cost
        or showback.allocated_shared_cost != showback.shared_out_cost
),

pool_mismatches as (
    select
        'pool total' as failure,
        rule_id,
        charge_month,
        billing_currency,
        allocated_cost as mart_amount,
        shared_cost as expected_amount
    from pool_totals
    where allocated_cost != shared_cost or min_shared_cost != shared_cost
)

select * from month_mismatches
union all
select * from pool_mismatches
