-- In-scope cost per budget and day, with the budget period each day falls in.
-- Grain: budget_id x charge_date (days with at least one in-scope cost line in the budget's currency).
-- Scope rules: a NULL scope array = no restriction; dimensions are ANDed, values within one are ORed;
-- teams and environments match case-insensitively (cost-side values are already lower-cased).
-- Tags (scope_tags = {"<key>": [values]}): every configured key must be on the line (int_focus_costs.tags has
-- lower-cased keys) with one of its values, values compared trimmed and lower-cased. NULL = no restriction.
-- Only lines in the budget's currency count (no FX conversion).
-- effective_cost_excl_purchases (no 'Purchase' lines) is what the forecast run rate averages (macros/forecast.sql).
with

budgets as (
    select
        budget_id,
        period,
        start_month,
        budget_currency,
        scope_providers,
        scope_billing_account_ids,
        scope_sub_account_ids,
        scope_services,
        scope_service_categories,
        scope_sources,
        -- lower-cased for case-insensitive matching; NULL stays NULL (no restriction), '{}' matches nothing
        case
            when scope_teams is not null
                then array(
                        select lower(trim(scope_team.value)) as scope_team
                        from unnest(scope_teams) as scope_team (value)
                    )
        end as scope_teams,
        case
            when scope_environments is not null
                then array(
                        select lower(trim(scope_environment.value)) as scope_environment
                        from unnest(scope_environments) as scope_environment (value)
                    )
        end as scope_environments,
        scope_tags
    from {{ ref('stg_config__budgets') }}
),

costs as (
    select
        charge_date,
        source_id,
        provider_name,
        billing_account_id,
        sub_account_id,
        service_name,
        service_category,
        team,
        environment,
        tags,
        charge_category,
        billing_currency,
        billed_cost,
        effective_cost
    from {{ ref('int_focus_costs') }}
),

in_scope as (
    select
        budgets.budget_id,
        budgets.period,
        budgets.start_month,
        costs.charge_date,
        costs.billing_currency,
        costs.charge_category,
        costs.billed_cost,
        costs.effective_cost
    from budgets
    inner join costs
        on
            budgets.budget_currency = costs.billing_currency
            and (budgets.scope_providers is null or costs.provider_name = any(budgets.scope_providers))
            and (
                budgets.scope_billing_account_ids is null
                or costs.billing_account_id = any(budgets.scope_billing_account_ids)
            )
            and (
                budgets.scope_sub_account_ids is null
                or costs.sub_account_id = any(budgets.scope_sub_account_ids)
            )
            and (budgets.scope_services is null or costs.service_name = any(budgets.scope_services))
            and (
                budgets.scope_service_categories is null
                or costs.service_category = any(budgets.scope_service_categories)
            )
            and (budgets.scope_sources is null or costs.source_id = any(budgets.scope_sources))
            and (budgets.scope_teams is null or costs.team = any(budgets.scope_teams))
            and (budgets.scope_environments is null or costs.environment = any(budgets.scope_environments))
            -- tags: no configured key may be missing from the line or carry a value outside its list
            and (
                budgets.scope_tags is null
                or not exists (
                    select 1 as unmatched_key
                    from jsonb_each(budgets.scope_tags) as scope_tag (tag_key, tag_values)
                    where not exists (
                            select 1 as matched_value
                            from jsonb_array_elements_text(scope_tag.tag_values) as accepted (tag_value)
                            where
                                lower(trim(accepted.tag_value))
                                = lower(trim(costs.tags ->> lower(scope_tag.tag_key)))
                        )
                )
            )
),

daily as (
    select
        budget_id,
        charge_date,
        {{ budget_period_start('charge_date', 'period', 'start_month') }} as period_start,
        billing_currency,
        sum(effective_cost) as effective_cost,
        coalesce(sum(effective_cost) filter (where charge_category is distinct from 'Purchase'), 0)
            as effective_cost_excl_purchases,
        sum(billed_cost) as billed_cost,
        count(*) as line_item_count
    from in_scope
    group by budget_id, charge_date, period, start_month, billing_currency
)

select * from daily
