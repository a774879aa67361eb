-- Showback: how each shared-cost rule's pool is split among teams, per month and currency.
-- Grain: rule_id x charge_month x billing_currency x team (the receiving team; 'unallocated' when nobody can
-- receive the pool that month).
--
-- Pool (shared_cost) = the effective cost of the lines that belong to the rule (int_showback_costs_monthly: first
-- matching rule in config order). Recipients: the rule's `recipients`; else, for method fixed, the teams in
-- `weights`; else every team with a positive direct effective cost in that month and currency. Weight:
--   proportional -> the recipient's direct effective cost in that month and currency (<= 0 counts as 0),
--   even         -> 1,
--   fixed        -> the configured weight (a recipient without one gets 0).
-- Recipients with weight 0 get nothing (no row). When no recipient has a weight > 0, the whole pool stays on
-- the team 'unallocated' (never dropped).
--
-- Exact split (largest remainder): the pool is counted in units of 10^-unit_scale, unit_scale = the number of
-- decimals of the pool's sum (numeric scale) but at least 2 (cents for cent-valued lines, micro-dollars for the
-- demo's micro-valued ones), so a pool is always a whole number of units and every share keeps that precision. Each
-- recipient gets floor(units x weight / total weight) units (exact integer arithmetic: div/mod on numeric, no
-- rounded division), and the units left over (fewer than the number of recipients) go one each to the largest
-- remainders (ties: team name). A negative pool (net credits) is split by its absolute value, sign kept.
-- So sum(allocated_cost) = shared_cost exactly, for every rule, month and currency.
with

rules as (
    select
        rule_id,
        rule_order,
        allocation_method,
        recipients,
        weights
    from {{ ref('stg_config__shared_cost_rules') }}
),

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

pools as (
    select
        charge_month,
        billing_currency,
        rule_id,
        sum(effective_cost) as shared_cost
    from showback_costs
    where rule_id is not null
    group by charge_month, billing_currency, rule_id
),

direct_costs as (
    select
        charge_month,
        billing_currency,
        team,
        sum(effective_cost) as direct_effective_cost
    from showback_costs
    where rule_id is null
    group by charge_month, billing_currency, team
),

pool_rules as (
    select
        pools.charge_month,
        pools.billing_currency,
        pools.rule_id,
        pools.shared_cost,
        rules.rule_order,
        rules.allocation_method,
        rules.recipients,
        rules.weights
    from pools
    inner join rules on pools.rule_id = rules.rule_id
),

configured_recipients as (
    select
        pool_rules.charge_month,
        pool_rules.billing_currency,
        pool_rules.rule_id,
        recipient.team
    from pool_rules
    cross join lateral unnest(pool_rules.recipients) as recipient (team)
    where pool_rules.recipients is not null
),

weighted_teams as (
    select
        pool_rules.charge_month,
        pool_rules.billing_currency,
        pool_rules.rule_id,
        weighted.team
    from pool_rules
    cross join lateral jsonb_object_keys(pool_rules.weights) as weighted (team)
    where pool_rules.recipients is null and pool_rules.allocation_method = 'fixed'
),

default_recipients as (
    select
        pool_rules.charge_month,
        pool_rules.billing_currency,
        pool_rules.rule_id,
        direct_costs.team
    from pool_rules
    inner join direct_costs
        on
            pool_rules.charge_month = direct_costs.charge_month
            and pool_rules.billing_currency = direct_costs.billing_currency
    where
        pool_rules.recipients is null
        and pool_rules.allocation_method != 'fixed'
        and direct_costs.direct_effective_cost > 0
),

candidates as (
    select * from configured_recipients
    union
    select * from weighted_teams
    union
    select * from default_recipients
),

weighted as (
    select
        candidates.charge_month,
        candidates.billing_currency,
        candidates.rule_id,
        candidates.team,
        pool_rules.rule_order,
        pool_rules.allocation_method,
        pool_rules.shared_cost,
        case pool_rules.allocation_method
            when 'proportional' then greatest(coalesce(direct_costs.direct_effective_cost, 0), 0)
            when 'even' then 1
            when 'fixed' then coalesce(cast(pool_rules.weights ->> candidates.team as numeric), 0)
        end as allocation_weight
    from candidates
    inner join pool_rules
        on
            candidates.charge_month = pool_rules.charge_month
            and candidates.billing_currency = pool_rules.billing_currency
            and candidates.rule_id = pool_rules.rule_id
    left join direct_costs
        on
            candidates.charge_month = direct_costs.charge_month
            and candidates.billing_currency = direct_costs.billing_currency
            and candidates.team = direct_costs.team
),

receiving as (
    select
        *,
        sum(allocation_weight) over pool_window as total_weight,
        greatest(scale(shared_cost), 2) as unit_scale
    from weighted
    where allocation_weight > 0
    window pool_window as (partition by charge_month, billing_currency, rule_id)
),

in_units as (
    select
        *,
        -- the pool's absolute value as a whole number of units (exact: a multiplication by a power of ten)
        trunc(abs(shared_cost) * power(cast(10 as numeric), unit_scale)) as pool_units
    from receiving
),

floored as (
    select
        *,
        div(pool_units * allocation_weight, total_weight) as floor_units,
        mod(pool_units * allocation_weight, total_weight) as remainder_weight
    from in_units
),

ranked as (
    select
        *,
        pool_units - sum(floor_units) over pool_window as leftover_units,
        row_number() over (pool_window order by remainder_weight desc, team asc) as remainder_rank
    from floored
    window pool_window as (partition by charge_month, billing_currency, rule_id)
),

allocated as (
    select
        rule_id,
        rule_order,
        allocation_method,
        charge_month,
        billing_currency,
        team,
        shared_cost,
        allocation_weight,
        total_weight,
        (case when shared_cost < 0 then -1 else 1 end)
        * (floor_units + case when remainder_rank <= leftover_units then 1 else 0 end)
        * cast('1e-' || unit_scale as numeric) as allocated_cost,
        false as is_unallocated
    from ranked
),

unallocated as (
    select
        pool_rules.rule_id,
        pool_rules.rule_order,
        pool_rules.allocation_method,
        pool_rules.charge_month,
        pool_rules.billing_currency,
        'unallocated' as team,
        pool_rules.shared_cost,
        cast(null as numeric) as allocation_weight,
        cast(null as numeric) as total_weight,
        pool_rules.shared_cost as allocated_cost,
        true as is_unallocated
    from pool_rules
    where not exists (
            select 1 as has_recipient
            from receiving
            where
                receiving.charge_month = pool_rules.charge_month
                and receiving.billing_currency = pool_rules.billing_currency
                and receiving.rule_id = pool_rules.rule_id
        )
),

unioned as (
    select * from allocated
    union all
    select * from unallocated
),

final as (
    select
        rule_id,
        rule_order,
        allocation_method,
        charge_month,
        billing_currency,
        team,
        shared_cost,
        allocation_weight,
        total_weight,
        round(allocation_weight / total_weight, 8) as allocation_share,
        allocated_cost,
        is_unallocated
    from unioned
)

select * from final
