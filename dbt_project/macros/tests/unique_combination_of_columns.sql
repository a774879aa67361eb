{#
    Generic test: the combination of `combination_of_columns` is unique (a model's grain).
    NULLs compare equal here (grouping semantics), so a NULL dimension cannot hide a duplicate.
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
    select
        {{ combination_of_columns | join(', ') }},
        count(*) as duplicate_rows
    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}
    having count(*) > 1
{% endtest %}
