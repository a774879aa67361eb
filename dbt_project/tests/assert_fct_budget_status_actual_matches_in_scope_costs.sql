-- Budget money identity, recomputed independently of int_budget_costs_daily and the period macros:
-- for every fct_budget_status row, actual_cost = sum(effective_cost) of int_focus_costs lines with
-- period_start <= charge_date < period_end, in the budget's currency, and inside the budget's scope
-- (scope written here with array containment instead of = any(), teams/environments compared lower-cased, tags
-- with jsonb containment instead of matching array elements).
with

budgets as (
    select * from {{ ref('stg_config__budgets') }}
),

status as (
    select * from {{ ref('fct_budget_status') }}
),

costs as (
    select * from {{ ref('int_focus_costs') }}
),

recomputed as (
    select
        status.budget_id,
        status.period_start,
        status.actual_cost,
        coalesce(sum(costs.effective_cost), 0) as expected_cost
    from status
    inner join budgets
        on status.budget_id = budgets.budget_id
    left join costs
        on
            costs.charge_date >= status.period_start
            and costs.charge_date < status.period_end
            and costs.billing_currency = status.billing_currency
            and coalesce(budgets.scope_providers @> array[costs.provider_name], true)
            and coalesce(budgets.scope_billing_account_ids @> array[costs.billing_account_id], true)
            and coalesce(budgets.scope_sub_account_ids @> array[costs.sub_account_id], true)
            and coalesce(budgets.scope_services @> array[costs.service_name], true)
            and coalesce(budgets.scope_service_categories @> array[costs.service_category], true)
            and coalesce(budgets.scope_sources @> array[costs.source_id], true)
            and coalesce(lower(budgets.scope_teams::text)::text [] @> array[costs.team], true)
            and coalesce(lower(budgets.scope_environments::text)::text [] @> array[costs.environment], true)
            -- tags: jsonb containment of the line's value (trimmed, lower-cased) in every configured key's list
            and not exists (
                select 1 as unmatched_key
                from jsonb_object_keys(coalesce(budgets.scope_tags, '{}')) as scope_key (tag_key)
                where not coalesce(
                        lower(budgets.scope_tags ->> scope_key.tag_key)::jsonb
                        @> to_jsonb(lower(trim(costs.tags ->> scope_key.tag_key))),
                        false
                    )
            )
    group by status.budget_id, status.period_start, status.actual_cost
)

select *
from recomputed
where actual_cost <> expected_cost
