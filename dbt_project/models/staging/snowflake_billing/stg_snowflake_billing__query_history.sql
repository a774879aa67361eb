-- Snowflake queries that executed on a warehouse (QUERY_HISTORY), latest load wins. The execution interval is the
-- last execution_time_ms of the query (queueing and compilation come before it and use no warehouse credits).
-- Grain: source_id x query_id.
with

source as (
    select * from {{ source('snowflake_billing', 'snowflake_billing_query_history') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by _source_id, query_id
            order by _loaded_at desc, _batch_id desc
        ) as load_rank
    from source
),

renamed as (
    select
        {{ surrogate_key(['_source_id', 'query_id']) }} as query_key,
        cast(_source_id as text) as source_id,
        cast(query_id as text) as query_id,
        cast(account_name as text) as account_name,
        cast(warehouse_name as text) as warehouse_name,
        cast(user_name as text) as user_name,
        cast(role_name as text) as role_name,
        cast(query_tag as text) as query_tag,
        cast(database_name as text) as database_name,
        cast(execution_status as text) as execution_status,
        cast(start_time as timestamptz) as start_time,
        cast(end_time as timestamptz) as end_time,
        cast(execution_time_ms as bigint) as execution_time_ms,
        cast(end_time as timestamptz) - cast(execution_time_ms as bigint) * interval '1 millisecond'
            as execution_start_time
    from ranked
    where load_rank = 1
)

select * from renamed
