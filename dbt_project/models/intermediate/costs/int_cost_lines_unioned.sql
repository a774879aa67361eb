-- Every source's cost lines in the FOCUS cost columns, each tagged with its source_system and cost_grain: the
-- one list of cost sources. A new source adds one entry here (see macros/union_cost_sources.sql and
-- docs/adding-a-source.md); int_focus_costs applies the precedence rule and the tag dimensions on top.
-- Grain: one row per source cost line (cost_line_key). A view: int_focus_costs is the table.
{{ config(materialized='view') }}
{%- set cost_sources = [
    {'model': 'int_databricks_costs_conformed', 'source_system': 'databricks_billing',
     'cost_grain': 'line_item'},
    {'model': 'int_snowflake_costs_conformed', 'source_system': 'snowflake_billing',
     'cost_grain': 'line_item'},
    {'model': 'int_snowflake_storage_costs_conformed', 'source_system': 'snowflake_billing',
     'cost_grain': 'line_item'},
    {'model': 'int_focus_file_costs_conformed', 'source_system': 'focus_file', 'cost_grain': 'line_item'},
    {'model': 'int_aws_data_export_cur2_costs_conformed', 'source_system': 'aws_data_export_cur2',
     'cost_grain': 'line_item'},
    {'model': 'int_gcp_billing_export_costs_conformed', 'source_system': 'gcp_billing_export',
     'cost_grain': 'line_item'},
    {'model': 'int_aws_cost_explorer_costs_conformed', 'source_system': 'aws_cost_explorer',
     'cost_grain': 'api_aggregate'},
    {'model': 'int_azure_cost_query_costs_conformed', 'source_system': 'azure_cost_query',
     'cost_grain': 'api_aggregate'},
    {'model': 'stg_github_billing__usage_items', 'source_system': 'github_billing', 'cost_grain': 'line_item'},
    {'model': 'stg_redis_cloud__subscription_costs', 'source_system': 'redis_cloud', 'cost_grain': 'line_item'},
    {'model': 'stg_datadog_cost__charges', 'source_system': 'datadog_cost', 'cost_grain': 'line_item'},
    {'model': 'int_mongodb_atlas_costs_conformed', 'source_system': 'mongodb_atlas', 'cost_grain': 'line_item'},
    {'model': 'stg_telemetry__cost_records', 'source_system': 'telemetry', 'cost_grain': 'line_item'},
] %}

{{ union_cost_sources(cost_sources) }}
