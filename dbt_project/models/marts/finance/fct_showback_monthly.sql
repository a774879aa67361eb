-- Showback / chargeback per team and month: the team's direct cost plus its share of the shared costs.
-- Grain: charge_month x team x billing_currency (teams with cost lines of their own or with an allocation that
-- month; 'untagged' = lines without a team tag, 'unallocated' = shared pools nobody could receive).
--   own_effective_cost     = the effective cost of the lines tagged with the team (as in fct_cost_monthly)
--   shared_out_cost        = the part of those lines that belongs to a shared-cost rule's pool
--   direct_effective_cost  = own_effective_cost - shared_out_cost (what the team pays for itself)
--   allocated_shared_cost  = the team's allocations from fct_showback_allocations_monthly
--   total_cost             = direct_effective_cost + allocated_shared_cost
-- Sum of total_cost per month and currency = sum of effective_cost in int_focus_costs, exactly (the allocation is
-- exact; tested). Money in billing_currency, never converted.
with

showback_costs as (
    select
        charge_month,
        billing_currency,
        team,
        rule_id,
        effective_cost,
        line_item_count
    from {{ ref('int_showback_costs_monthly') }}
),

allocations as (
    select
        charge_month,
        billing_currency,
        team,
        allocated_cost
    from {{ ref('fct_showback_allocations_monthly') }}
),

own as (
    select
        charge_month,
        billing_currency,
        team,
        sum(effective_cost) as own_effective_cost,
        coalesce(sum(effective_cost) filter (where rule_id is not null), 0) as shared_out_cost,
        sum(line_item_count) as own_line_item_count
    from showback_costs
    group by charge_month, billing_currency, team
),

received as (
    select
        charge_month,
        billing_currency,
        team,
        sum(allocated_cost) as allocated_shared_cost
    from allocations
    group by charge_month, billing_currency, team
),

joined as (
    select
        coalesce(own.charge_month, received.charge_month) as charge_month,
        coalesce(own.team, received.team) as team,
        coalesce(own.billing_currency, received.billing_currency) as billing_currency,
        coalesce(own.own_effective_cost, 0) as own_effective_cost,
        coalesce(own.shared_out_cost, 0) as shared_out_cost,
        coalesce(received.allocated_shared_cost, 0) as allocated_shared_cost,
        coalesce(own.own_line_item_count, 0) as own_line_item_count
    from own
    full outer join received
        on
            own.charge_month = received.charge_month
            and own.billing_currency = received.billing_currency
            and own.team = received.team
),

final as (
    select
        charge_month,
        team,
        billing_currency,
        own_effective_cost,
        shared_out_cost,
        own_effective_cost - shared_out_cost as direct_effective_cost,
        allocated_shared_cost,
        own_effective_cost - shared_out_cost + allocated_shared_cost as total_cost,
        cast(own_line_item_count as bigint) as own_line_item_count
    from joined
)

select * from final
