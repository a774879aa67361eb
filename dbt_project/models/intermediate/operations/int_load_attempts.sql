-- One row per load attempt (ops.loads rows of one Loader.load call, all datasets together).
-- Grain: load_id. An attempt is 'success' when all its dataset rows are (they are written together), window = the
-- widest window of its rows (they share one), rows summed over the datasets.
with

loads as (
    select * from {{ ref('stg_ops__loads') }}
),

attempts as (
    select
        load_id,
        min(source_id) as source_id,
        min(batch_id) as batch_id,
        case when bool_and(status = 'success') then 'success' else 'failed' end as status,
        min(window_start) as window_start,
        max(window_end) as window_end,
        min(started_at) as started_at,
        max(finished_at) as finished_at,
        cast(count(*) as integer) as datasets,
        sum(rows_loaded) as rows_loaded,
        sum(rows_rejected) as rows_rejected,
        sum(rows_replaced) as rows_replaced,
        max(error) as error
    from loads
    group by load_id
)

select * from attempts
