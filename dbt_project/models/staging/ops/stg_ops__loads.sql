-- Load attempts per dataset (ops.loads, written by the loader).
-- Grain: load_id x dataset.
with

source as (
    select * from {{ source('ops', 'loads') }}
),

renamed as (
    select
        -- keys
        cast(load_id as text) as load_id,
        cast(source_id as text) as source_id,
        cast(batch_id as text) as batch_id,
        cast(dataset as text) as dataset,
        cast(raw_table as text) as raw_table,

        -- the window replaced (UTC, end exclusive)
        cast(window_start as timestamptz) as window_start,
        cast(window_end as timestamptz) as window_end,

        -- outcome
        cast(status as text) as status,
        cast(rows_loaded as bigint) as rows_loaded,
        cast(rows_rejected as bigint) as rows_rejected,
        cast(rows_replaced as bigint) as rows_replaced,
        cast(started_at as timestamptz) as started_at,
        cast(finished_at as timestamptz) as finished_at,
        cast(error as text) as error

    from source
)

select * from renamed
