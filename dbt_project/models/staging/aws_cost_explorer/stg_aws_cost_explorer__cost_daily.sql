-- Cost Explorer GetCostAndUsage daily groups (collectors/sources/aws_cost_explorer.py), renamed and cast, 1:1 with raw.
-- Grain: source_id x grouping x time_period_start x group keys. The loader replaces whole (source, day) slices,
-- so a group is never loaded twice; the unique test on cost_daily_key proves it instead of hiding duplicates.
-- Rows of different groupings are alternative breakdowns of the same spend: never add them up.
with

source as (
    select * from {{ source('aws_cost_explorer', 'aws_cost_explorer_cost_daily') }}
),

renamed as (
    select
        -- keys
        {{ surrogate_key(['_source_id', 'grouping', 'time_period_start', "payload -> 'Keys'"]) }}
            as cost_daily_key,
        cast(_source_id as text) as source_id,
        cast(grouping as text) as grouping_name,
        cast(payload -> 'Keys' as jsonb) as group_keys,

        -- time: the UTC day(s) [start, end) of the ResultsByTime entry; estimated = not final yet
        cast(time_period_start as date) as time_period_start,
        cast(time_period_end as date) as time_period_end,
        cast(estimated as boolean) as is_estimated,

        -- dimensions (NULL when the pass does not group by them)
        cast(linked_account_id as text) as linked_account_id,
        cast(linked_account_name as text) as linked_account_name,
        cast(service as text) as service_name,
        cast(region as text) as region,
        cast(tag_key as text) as tag_key,
        cast(tag_value as text) as tag_value,
        cast(other_keys as jsonb) as other_keys,

        -- money in currency; usage in usage_unit ('N/A' when the group mixes units)
        cast(unblended_cost as numeric) as unblended_cost,
        cast(amortized_cost as numeric) as amortized_cost,
        cast(net_amortized_cost as numeric) as net_amortized_cost,
        cast(usage_quantity as numeric) as usage_quantity,
        cast(currency as text) as currency,
        cast(usage_unit as text) as usage_unit,

        -- the original Group object
        cast(payload as jsonb) as payload,

        -- load metadata
        cast(_batch_id as text) as batch_id,
        cast(_loaded_at as timestamptz) as loaded_at

    from source
)

select * from renamed
