{#
    Cost forecasts (fct_cost_forecast, fct_cost_forecast_backtest, fct_budget_status) all use one method:

        forecast to period end = actual to date + days remaining x run rate
        run rate = average daily effective cost (rounded to 6 decimals, micro-units) over the trailing
                   `forecast_trailing_days()` days ending on the as-of date (default 28 = four whole weeks, so
                   weekends weigh as much as in a month), leaving out one-off purchases (charge_category
                   'Purchase'); days without cost inside the window count as 0, days before the series' first
                   cost day do not count.

    Purchases are in the actual to date when they happen but never extrapolated. In FOCUS a commitment purchase
    (the demo's monthly Savings Plan on the 1st) is billed on the purchase line with effective_cost 0 and amortised
    into the covered usage, so effective cost has no month-start jump anyway; a non-amortised purchase would
    otherwise be repeated every remaining day.

    The window length is the dbt var `forecast_trailing_days` (unit tests override it to keep inputs small).
#}
{% macro forecast_trailing_days() -%}
    {{ return(var('forecast_trailing_days', 28) | int) }}
{%- endmacro %}

{# A back-test projection counts only when its run rate had at least this many days of history. #}
{% macro forecast_backtest_min_history_days() -%}
    {{ return(var('forecast_backtest_min_history_days', 7) | int) }}
{%- endmacro %}

{#
    Window frame over a dense daily series (exactly one row per day, partitioned by `partition_by`, ordered by
    `order_by`) covering the trailing forecast window that ends on the current row.
#}
{% macro forecast_trailing_window(partition_by, order_by='charge_date') -%}
    (
        partition by {{ partition_by }}
        order by {{ order_by }}
        rows between {{ forecast_trailing_days() - 1 }} preceding and current row
    )
{%- endmacro %}
