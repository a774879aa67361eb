{#
    md5 surrogate key over several columns (our own, since dbt packages are not available here).
    NULL and '' stay distinct ('_null_' marker), and a separator keeps ('a', 'bc') apart from ('ab', 'c').
    Returns text (32 hex characters).
#}
{% macro surrogate_key(columns) -%}
    md5(
        {%- for column in columns %}
        coalesce(cast({{ column }} as text), '_null_')
        {%- if not loop.last %} || '|' ||{% endif %}
        {%- endfor %}
    )
{%- endmacro %}
