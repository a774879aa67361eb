{#
    Generic money-identity test: sum(`column`) of the model equals sum(`compare_column`) of `compare_model`,
    per group (`group_by`, present in both), within `tolerance` (exact by default: everything is numeric).
    A group present on one side only fails too. Usage:
        - sums_match:
            arguments:
              column: billed_cost
              compare_model: ref('int_focus_costs')
              group_by: [charge_date, provider_name]
#}
{% test sums_match(model, column, compare_model, compare_column=none, group_by=[], tolerance=0) %}
    {%- set compare_column = compare_column or column -%}
    {%- set keys = group_by | join(', ') -%}
    with
    actual as (
        select
            {% if keys %}{{ keys }},{% endif %}
            sum({{ column }}) as total
        from {{ model }}
        {% if keys %}group by {{ keys }}{% endif %}
    ),

    expected as (
        select
            {% if keys %}{{ keys }},{% endif %}
            sum({{ compare_column }}) as total
        from {{ compare_model }}
        {% if keys %}group by {{ keys }}{% endif %}
    )

    select
        {% for key in group_by %}coalesce(actual.{{ key }}, expected.{{ key }}) as {{ key }},{% endfor %}
        actual.total as model_total,
        expected.total as compare_total
    from actual
    full outer join expected
        on {% if keys %}
        {%- for key in group_by %}
        coalesce(cast(actual.{{ key }} as text), '_null_') = coalesce(cast(expected.{{ key }} as text), '_null_'){% if not loop.last %} and{% endif %}
        {%- endfor %}
        {%- else %}true{% endif %}
    where abs(coalesce(actual.total, 0) - coalesce(expected.total, 0)) > {{ tolerance }}
        or actual.total is null and expected.total is not null
        or expected.total is null and actual.total is not null
{% endtest %}
