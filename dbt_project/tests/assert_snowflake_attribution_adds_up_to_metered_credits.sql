-- Per-query attribution invariant: for every metered Snowflake warehouse-hour, the credits attributed to its
-- queries (and its idle row) add up to the hour's metered compute credits exactly, and no attributed row lacks its
-- hour. Fails with every warehouse-hour that differs (rows are returned).
with

metered as (
    select
        source_id,
        warehouse_id,
        start_time as hour_start,
        credits_used_compute
    from {{ ref('stg_snowflake_billing__warehouse_metering') }}
),

attributed as (
    select
        source_id,
        warehouse_id,
        hour_start,
        sum(attributed_credits) as attributed_credits
    from {{ ref('fct_snowflake_query_attribution') }}
    group by source_id, warehouse_id, hour_start
)

select
    coalesce(metered.source_id, attributed.source_id) as source_id,
    coalesce(metered.warehouse_id, attributed.warehouse_id) as warehouse_id,
    coalesce(metered.hour_start, attributed.hour_start) as hour_start,
    metered.credits_used_compute,
    attributed.attributed_credits
from metered
full outer join attributed
    on
        metered.source_id = attributed.source_id
        and metered.warehouse_id = attributed.warehouse_id
        and metered.hour_start = attributed.hour_start
where metered.credits_used_compute is distinct from attributed.attributed_credits
