-- Showback shared-cost rules (config/openfinops.yaml `showback.shared_costs` via `openfinops sync-config`).
-- Grain: rule_id. rule_order is the rule's 1-based position in the config file: a cost line in the scope of
-- several rules belongs to the first one (lowest rule_order).
-- Recipients and weight keys are trimmed and lower-cased here; scope teams and environments arrive so (config.py
-- CostScope). All compare with int_focus_costs.team / environment as they are. A NULL scope_* array (or NULL
-- scope_tags) means no restriction on that dimension; NULL recipients = the default recipients (see
-- fct_showback_allocations_monthly).
with

source as (
    select * from {{ source('config', 'shared_cost_rules') }}
),

renamed as (
    select
        cast(rule_id as text) as rule_id,
        cast(rule_order as integer) as rule_order,
        cast(description as text) as rule_description,
        cast(lower(trim(method)) as text) as allocation_method,

        -- who receives a share
        case
            when recipients is not null
                then cast(array(
                        select distinct lower(trim(recipient.team)) as team
                        from unnest(recipients) as recipient (team)
                        order by team
                    ) as text[])
        end as recipients,
        -- {"<team>": "<weight>"} for method fixed; keys trimmed and lower-cased, weights as delivered (text)
        case
            when jsonb_typeof(weights) = 'object'
                then (
                    select jsonb_object_agg(lower(trim(weight.team)), weight.weight order by weight.team) as weights
                    from jsonb_each(source.weights) as weight (team, weight)
                )
        end as weights,

        -- scope: the cost lines that are shared (ANDed across dimensions, ORed within one)
        cast(scope_providers as text[]) as scope_providers,
        cast(scope_billing_account_ids as text[]) as scope_billing_account_ids,
        cast(scope_sub_account_ids as text[]) as scope_sub_account_ids,
        cast(scope_services as text[]) as scope_services,
        cast(scope_service_categories as text[]) as scope_service_categories,
        cast(scope_sources as text[]) as scope_sources,
        cast(scope_teams as text[]) as scope_teams,
        cast(scope_environments as text[]) as scope_environments,
        -- {"<tag key>": ["<value>", ...]}: keys and values lower-cased by sync-config; keys ANDed, values ORed
        cast(scope_tags as jsonb) as scope_tags

    from source
)

select * from renamed
