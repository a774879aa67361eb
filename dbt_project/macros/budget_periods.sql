{#
    Budget periods. A period is `period_months(period)` calendar months long and periods start in month
    `start_month` (1-12) of every year: monthly budgets ignore start_month, quarterly ones with start_month = 2
    run Feb-Apr, May-Jul, Aug-Oct, Nov-Jan, an annual one with start_month = 4 runs April to March.
#}
{% macro period_months(period) -%}
    case {{ period }}
        when 'monthly' then 1
        when 'quarterly' then 3
        when 'annual' then 12
    end
{%- endmacro %}

{# First day (date) of the budget period containing the date `day`. #}
{% macro budget_period_start(day, period, start_month) -%}
    cast(
        date_trunc('month', {{ day }})
        - make_interval(
            months => mod(
                cast(extract(month from {{ day }}) as integer) - {{ start_month }} + 12,
                {{ period_months(period) }}
            )
        )
        as date
    )
{%- endmacro %}

{# First day (date) after the period that starts on `period_start` (exclusive end). #}
{% macro budget_period_end(period_start, period) -%}
    cast({{ period_start }} + make_interval(months => {{ period_months(period) }}) as date)
{%- endmacro %}
