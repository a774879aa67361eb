-- Return on AI/ML spend per month: the business value users configured (config `ai_ml.value`) against the AI/ML
-- cost (int_ai_ml_costs_monthly). Never an invented number: without configured value the mart says so.
-- Grain: charge_month x value_scope x billing_currency. value_scope = 'all teams' (all AI/ML cost; value entries
-- without a team) or a team id (that team's AI/ML cost; its entries) for every team with at least one entry.
-- Months: every month with cost, plus months with a value entry. value_status: 'not configured' when config has no
-- value entry at all (then exactly one row per month x currency, 'all teams', value and ROI NULL), 'configured' when
-- the row has a value, 'no value for this month' otherwise. net_value = value - cost; roi_pct = (value - cost) /
-- cost x 100 (2 decimals; NULL without value or when the cost is 0). The 'all teams' value is only the entries
-- without a team (team entries are not added to it: they may be part of an organisation-wide figure).
with

costs as (
    select * from {{ ref('int_ai_ml_costs_monthly') }}
),

value_entries as (
    select * from {{ ref('stg_config__ai_ml_value') }}
),

configured as (
    select exists(select 1 as has_entry from value_entries) as is_configured
),

months as (
    select distinct
        charge_month,
        billing_currency
    from costs
    union
    select distinct
        value_month as charge_month,
        value_currency as billing_currency
    from value_entries
),

value_scopes as (
    select 'all teams' as value_scope
    union
    select distinct team as value_scope
    from value_entries
    where team is not null
),

scope_costs as (
    select
        charge_month,
        billing_currency,
        'all teams' as value_scope,
        sum(ai_ml_effective_cost) as ai_ml_effective_cost
    from costs
    group by charge_month, billing_currency
    union all
    select
        charge_month,
        billing_currency,
        team as value_scope,
        sum(ai_ml_effective_cost) as ai_ml_effective_cost
    from costs
    group by charge_month, billing_currency, team
),

grid as (
    select
        months.charge_month,
        months.billing_currency,
        value_scopes.value_scope
    from months
    cross join value_scopes
),

valued as (
    select
        grid.charge_month,
        grid.value_scope,
        grid.billing_currency,
        coalesce(scope_costs.ai_ml_effective_cost, 0) as ai_ml_effective_cost,
        value_entries.value_amount,
        value_entries.value_description,
        configured.is_configured
    from grid
    cross join configured
    left join scope_costs
        on
            grid.charge_month = scope_costs.charge_month
            and grid.billing_currency = scope_costs.billing_currency
            and grid.value_scope = scope_costs.value_scope
    left join value_entries
        on
            grid.charge_month = value_entries.value_month
            and grid.billing_currency = value_entries.value_currency
            and grid.value_scope = coalesce(value_entries.team, 'all teams')
),

final as (
    select
        {{ surrogate_key(['charge_month', 'value_scope', 'billing_currency']) }} as roi_key,
        charge_month,
        value_scope,
        billing_currency,
        value_scope = 'all teams' as is_all_teams,
        ai_ml_effective_cost,
        value_amount,
        value_amount - ai_ml_effective_cost as net_value,
        {{ bounded_pct('value_amount - ai_ml_effective_cost', 'ai_ml_effective_cost', 12) }} as roi_pct,
        case
            when not is_configured then 'not configured'
            when value_amount is not null then 'configured'
            else 'no value for this month'
        end as value_status,
        value_description
    from valued
)

select * from final
