{#
    Is the cost line `cost` (an int_focus_costs row alias) inside the configured scope `scope` (an alias of a row with
    the scope_* columns of config.budgets / config.shared_cost_rules)? The CostScope rules of openfinops/config.py:
    a NULL scope array (or NULL scope_tags) = no restriction; dimensions are ANDed, values within one are ORed.
    Teams and environments compare as they are: both sides are trimmed and lower-cased (the scope side by
    openfinops/config.py CostScope, for budgets, shared-cost rules and AI/ML scopes alike; the cost side by
    int_focus_costs). Tags (scope_tags = {"<key>": [values]}, keys
    lower-case): every configured key must be on the line (int_focus_costs.tags has lower-cased keys) with one of its
    values, values compared trimmed and lower-cased.
#}
{% macro cost_scope_matches(scope, cost) -%}
    ({{ scope }}.scope_providers is null or {{ cost }}.provider_name = any({{ scope }}.scope_providers))
    and (
        {{ scope }}.scope_billing_account_ids is null
        or {{ cost }}.billing_account_id = any({{ scope }}.scope_billing_account_ids)
    )
    and (
        {{ scope }}.scope_sub_account_ids is null
        or {{ cost }}.sub_account_id = any({{ scope }}.scope_sub_account_ids)
    )
    and ({{ scope }}.scope_services is null or {{ cost }}.service_name = any({{ scope }}.scope_services))
    and (
        {{ scope }}.scope_service_categories is null
        or {{ cost }}.service_category = any({{ scope }}.scope_service_categories)
    )
    and ({{ scope }}.scope_sources is null or {{ cost }}.source_id = any({{ scope }}.scope_sources))
    and ({{ scope }}.scope_teams is null or {{ cost }}.team = any({{ scope }}.scope_teams))
    and ({{ scope }}.scope_environments is null or {{ cost }}.environment = any({{ scope }}.scope_environments))
    and (
        {{ scope }}.scope_tags is null
        or not exists (
            select 1 as unmatched_key
            from jsonb_each({{ scope }}.scope_tags) as scope_tag (tag_key, tag_values)
            where not exists (
                    select 1 as matched_value
                    from jsonb_array_elements_text(scope_tag.tag_values) as accepted (tag_value)
                    where lower(trim(accepted.tag_value)) = lower(trim({{ cost }}.tags ->> lower(scope_tag.tag_key)))
                )
        )
    )
{%- endmacro %}
