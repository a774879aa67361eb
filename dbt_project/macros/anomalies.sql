{#
    Exact median of a numeric expression as an ordered-set aggregate, in numeric (percentile_cont would go through
    double precision): the mean of the lower and the upper middle value (they are the same value for an odd count).
    NULL for an empty group.
#}
{% macro numeric_median(expression) -%}
    (
        (
            percentile_disc(0.5) within group (order by {{ expression }})
            + percentile_disc(0.5) within group (order by {{ expression }} desc)
        ) / 2
    )
{%- endmacro %}
