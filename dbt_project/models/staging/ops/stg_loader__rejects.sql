-- Records the loader rejected (raw._rejects), kept per (source, window) until the window is re-loaded.
-- Grain: one row per rejected record as kept (no natural key).
with

source as (
    select * from {{ source('loader', 'rejects') }}
),

renamed as (
    select
        cast(_source_id as text) as source_id,
        cast(dataset as text) as dataset,
        cast(record_ref as text) as record_ref,
        cast(field as text) as field,
        cast(reason as text) as reason,

        -- load metadata
        cast(_batch_id as text) as batch_id,
        cast(_window_start as timestamptz) as window_start,
        cast(_window_end as timestamptz) as window_end,
        cast(_loaded_at as timestamptz) as loaded_at

    from source
)

select * from renamed
