-- Snowflake warehouse credits attributed to the queries that used them: each warehouse-hour's compute credits
-- (WAREHOUSE_METERING_HISTORY) split across the queries that executed in that hour, by their execution time in the
-- hour (a query spanning hours is split by its overlap with each). An hour no query executed in is one idle row.
-- The split telescopes (each query gets round(credits x cumulative share, 12) minus the same for the queries
-- before it), so a warehouse-hour's attributed credits add up to its metered credits exactly (tested): never the
-- hour added once per query.
-- Grain: one row per source_id x warehouse_id x hour_start x query (or the idle row).
with

hours as (
    select * from {{ ref('stg_snowflake_billing__warehouse_metering') }}
),

queries as (
    select * from {{ ref('stg_snowflake_billing__query_history') }}
),

prices as (
    select * from {{ ref('int_snowflake_credit_prices_daily') }}
),

slices as (
    select
        hours.warehouse_hour_key,
        queries.query_id,
        queries.user_name,
        queries.role_name,
        queries.query_tag,
        queries.database_name,
        cast(round(extract(epoch from (
            least(queries.end_time, hours.end_time) - greatest(queries.execution_start_time, hours.start_time)
        )) * 1000) as bigint) as execution_ms
    from hours
    inner join queries
        on
            hours.source_id = queries.source_id
            and hours.warehouse_name = queries.warehouse_name
            and hours.end_time > queries.execution_start_time
            and hours.start_time < queries.end_time
),

shares as (
    select
        *,
        sum(execution_ms) over (partition by warehouse_hour_key) as hour_execution_ms,
        sum(execution_ms) over (
            partition by warehouse_hour_key order by query_id rows between unbounded preceding and current row
        ) as cumulative_ms
    from slices
    where execution_ms > 0
),

attributed as (
    select
        hours.source_id,
        hours.account_name,
        hours.warehouse_id,
        hours.warehouse_name,
        hours.start_time as hour_start,
        shares.query_id,
        shares.user_name,
        shares.role_name,
        shares.query_tag,
        shares.database_name,
        shares.query_id is null as is_idle,
        coalesce(shares.execution_ms, 0) as execution_ms,
        hours.credits_used_compute as hour_credits,
        case
            when shares.query_id is null then hours.credits_used_compute
            else
                round(hours.credits_used_compute * shares.cumulative_ms / shares.hour_execution_ms, 12)
                - round(
                    hours.credits_used_compute * (shares.cumulative_ms - shares.execution_ms)
                    / shares.hour_execution_ms,
                    12
                )
        end as attributed_credits
    from hours
    left join shares
        on hours.warehouse_hour_key = shares.warehouse_hour_key
),

final as (
    select
        {{ surrogate_key(['attributed.source_id', 'attributed.warehouse_id', 'attributed.hour_start',
                          'attributed.query_id']) }} as attribution_key,
        attributed.source_id,
        attributed.account_name,
        attributed.warehouse_id,
        attributed.warehouse_name,
        attributed.hour_start,
        cast(attributed.hour_start at time zone 'UTC' as date) as usage_date,
        attributed.query_id,
        attributed.is_idle,
        attributed.user_name,
        attributed.role_name,
        attributed.query_tag,
        attributed.database_name,
        attributed.execution_ms,
        attributed.hour_credits,
        attributed.attributed_credits,
        prices.credit_price,
        attributed.attributed_credits * prices.credit_price as attributed_cost,
        prices.currency
    from attributed
    left join prices
        on
            attributed.source_id = prices.source_id
            and cast(attributed.hour_start at time zone 'UTC' as date) = prices.usage_date
)

select * from final
