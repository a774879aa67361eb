-- Every cost line assigned either to its own team's direct cost or to the pool of the shared-cost rule it belongs
-- to, summed per month, currency, team and rule. The input of the showback allocation.
-- Grain: charge_month x billing_currency x team x rule_id (rule_id NULL = the team's direct cost).
-- A line in the scope of several rules belongs to the first one in config order (lowest rule_order, then rule_id):
-- it is shared exactly once. charge_month = the calendar month of charge_date (the FOCUS day rule, as budgets and
-- fct_cost_monthly use it). Money: effective_cost (amortised; what showback uses), never converted.
with

rules as (
    select
        rule_id,
        rule_order,
        scope_providers,
        scope_billing_account_ids,
        scope_sub_account_ids,
        scope_services,
        scope_service_categories,
        scope_sources,
        scope_teams,
        scope_environments,
        scope_tags
    from {{ ref('stg_config__shared_cost_rules') }}
),

costs as (
    select
        cast(date_trunc('month', charge_date) as date) as charge_month,
        source_id,
        provider_name,
        billing_account_id,
        sub_account_id,
        service_name,
        service_category,
        team,
        environment,
        tags,
        billing_currency,
        effective_cost
    from {{ ref('int_focus_costs') }}
),

assigned as (
    select
        costs.charge_month,
        costs.billing_currency,
        costs.team,
        first_rule.rule_id,
        first_rule.rule_order,
        costs.effective_cost
    from costs
    left join lateral (
        select
            rules.rule_id,
            rules.rule_order
        from rules
        where {{ cost_scope_matches('rules', 'costs') }}
        order by rules.rule_order asc, rules.rule_id asc
        limit 1
    ) as first_rule on true
),

final as (
    select
        charge_month,
        billing_currency,
        team,
        rule_id,
        rule_order,
        sum(effective_cost) as effective_cost,
        count(*) as line_item_count
    from assigned
    group by charge_month, billing_currency, team, rule_id, rule_order
)

select * from final
