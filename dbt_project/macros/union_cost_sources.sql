{#
    UNION ALL of every conformed cost model, in the FOCUS cost columns (focus_cost_columns()), each tagged with its
    source_system and cost_grain. `sources` is the one list of cost sources (int_cost_lines_unioned.sql), one entry each:
      model          the conformed model (ref'd here, so dbt sees the dependency)
      source_system  a stable name for the source type (kept on every line; used by tests and the dashboards)
      cost_grain     'line_item' (an export or file itemising the bill) or 'api_aggregate' (a cost API's
                     aggregates of the same spend: left out where a line-item source covers it, see int_focus_costs)
    A new source adds one entry to the list; nothing else in the union changes.
#}
{% macro union_cost_sources(sources) -%}
    {%- set columns = focus_cost_columns() -%}
    {%- for source in sources %}
    {%- if source.cost_grain not in ('line_item', 'api_aggregate') -%}
        {{ exceptions.raise_compiler_error(
            "union_cost_sources: " ~ source.model ~ ": cost_grain must be 'line_item' or 'api_aggregate', got '"
            ~ source.cost_grain ~ "'") }}
    {%- endif %}
    select
        {{ columns | join(',\n        ') }},
        '{{ source.source_system }}' as source_system,
        '{{ source.cost_grain }}' as cost_grain
    from {{ ref(source.model) }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}
