{#
    The moment the operations marts measure "now" at: the build's start (dbt's run_started_at, UTC), so every model
    of one build uses the same instant. The dbt var `ops_as_of` (a timestamptz literal, e.g.
    '2026-11-05 12:00:00+00') overrides it - unit tests use it to pin the clock.
#}
{% macro ops_as_of() -%}
    cast('{{ var("ops_as_of", run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f+00")) }}' as timestamptz)
{%- endmacro %}

{#
    A percentage numerator / denominator x 100 rounded to `scale` decimals as numeric(precision, scale), or NULL when
    the denominator is 0 (or NULL) or the figure does not fit the type (e.g. a change of +10,000,000 % against a
    prior month of a few cents: meaningless as a percentage, and it must not fail the build).
#}
{% macro bounded_pct(numerator, denominator, precision, scale=2) -%}
    case
        when
            {{ denominator }} <> 0
            and abs(round(cast({{ numerator }} as numeric) / ({{ denominator }}) * 100, {{ scale }}))
            < {{ 10 ** (precision - scale) }}
            then cast(
                round(cast({{ numerator }} as numeric) / ({{ denominator }}) * 100, {{ scale }})
                as numeric({{ precision }}, {{ scale }})
            )
    end
{%- endmacro %}
