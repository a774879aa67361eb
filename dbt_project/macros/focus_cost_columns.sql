{#
    The FOCUS 1.2 cost columns (snake_case) every provider is conformed to, in one fixed order, so the
    per-provider models can be UNIONed by name. `cost_line_key` and `source_id` are ours (lineage).
#}
{% macro focus_cost_columns() -%}
    {{ return([
        'cost_line_key', 'source_id',
        'charge_period_start', 'charge_period_end', 'billing_period_start', 'billing_period_end',
        'provider_name', 'publisher_name', 'invoice_issuer_name',
        'billing_account_id', 'billing_account_name', 'sub_account_id', 'sub_account_name',
        'service_name', 'service_category', 'region_id', 'region_name', 'resource_id', 'resource_name', 'sku_id',
        'charge_category', 'charge_class', 'charge_description', 'charge_frequency', 'pricing_category',
        'pricing_quantity', 'pricing_unit', 'list_unit_price', 'contracted_unit_price',
        'billed_cost', 'effective_cost', 'list_cost', 'contracted_cost', 'billing_currency',
        'commitment_discount_id', 'commitment_discount_type', 'commitment_discount_category',
        'commitment_discount_status', 'tags'
    ]) }}
{%- endmacro %}
