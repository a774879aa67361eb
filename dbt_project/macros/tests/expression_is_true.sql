{#
    Generic test: every row (optionally filtered with `where` config) satisfies `expression`.
    Fails with the offending rows. On a column, the column name is put in front of the expression
    (`expression: "> 0"`); on a model, the expression stands alone:
        data_tests:
          - expression_is_true:
              arguments:
                expression: "healthy_nodes <= nodes_reporting"
#}
{% test expression_is_true(model, expression, column_name=none) %}
    select *
    from {{ model }}
    where not coalesce(({{ column_name ~ ' ' if column_name else '' }}{{ expression }}), false)
{% endtest %}
