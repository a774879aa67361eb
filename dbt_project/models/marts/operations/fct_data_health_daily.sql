-- Data health per configured source and UTC day: load attempts, rows, rejects and data freshness against the SLA.
-- Grain: source_id x health_date, for every configured source (stg_config__sources) from the day of its first load
-- attempt through the as-of date (the build's UTC date, macros/operations.sql). Sources never loaded get no rows.
-- Freshness (like dbt source freshness, measured at the end of each day): measured_at = the end of the day (the next
-- UTC midnight), or the build time for the current day; data_through = the latest window_end of the successful loads
-- finished by measured_at; freshness_lag_hours = measured_at - data_through in hours (2 decimals);
-- is_within_sla = lag <= freshness_sla_hours (false when nothing was ever loaded successfully).
-- status: 'failing' when the day's last load attempt failed, else 'on_time' within the SLA, else 'late'.
-- Attempts are counted per load attempt (int_load_attempts), not per dataset; attempts finished after the as-of
-- time are ignored.
with

as_of as (
    select
        {{ ops_as_of() }} as measured_now,
        cast({{ ops_as_of() }} at time zone 'UTC' as date) as as_of_date
),

sources as (
    select
        source_id,
        source_type,
        freshness_sla_hours
    from {{ ref('stg_config__sources') }}
),

attempts as (
    select
        attempts.load_id,
        attempts.source_id,
        attempts.status,
        attempts.window_start,
        attempts.window_end,
        attempts.finished_at,
        attempts.rows_loaded,
        attempts.error,
        cast(attempts.finished_at at time zone 'UTC' as date) as finished_date
    from {{ ref('int_load_attempts') }} as attempts
    inner join sources
        on attempts.source_id = sources.source_id
    cross join as_of
    where attempts.finished_at <= as_of.measured_now
),

first_attempts as (
    select
        source_id,
        min(finished_date) as first_date
    from attempts
    group by source_id
),

spine as (
    select
        sources.source_id,
        sources.source_type,
        sources.freshness_sla_hours,
        cast(calendar_day.day as date) as health_date,
        as_of.as_of_date,
        as_of.measured_now
    from sources
    inner join first_attempts
        on sources.source_id = first_attempts.source_id
    cross join as_of
    cross join lateral generate_series(
        cast(first_attempts.first_date as timestamp),
        cast(as_of.as_of_date as timestamp),
        interval '1 day'
    ) as calendar_day (day)
),

measured as (
    select
        source_id,
        source_type,
        freshness_sla_hours,
        health_date,
        health_date = as_of_date as is_current,
        case
            when health_date = as_of_date then measured_now
            else cast(health_date + 1 as timestamp) at time zone 'UTC'
        end as measured_at
    from spine
),

day_attempts as (
    select
        source_id,
        finished_date,
        count(*) filter (where status = 'success') as loads_succeeded,
        count(*) filter (where status = 'failed') as loads_failed,
        coalesce(sum(rows_loaded) filter (where status = 'success'), 0) as rows_loaded
    from attempts
    group by source_id, finished_date
),

last_attempts as (
    select distinct on (source_id, finished_date)
        source_id,
        finished_date,
        status as last_status
    from attempts
    order by source_id asc, finished_date asc, finished_at desc, load_id desc
),

last_failures as (
    select distinct on (source_id, finished_date)
        source_id,
        finished_date,
        error as last_error
    from attempts
    where status = 'failed'
    order by source_id asc, finished_date asc, finished_at desc, load_id desc
),

day_rejects as (
    select
        source_id,
        cast(loaded_at at time zone 'UTC' as date) as loaded_date,
        count(*) as rows_rejected
    from {{ ref('stg_loader__rejects') }}
    group by source_id, cast(loaded_at at time zone 'UTC' as date)
),

freshness as (
    select
        measured.*,
        latest_success.finished_at as last_load_at,
        latest_success.window_start as last_window_start,
        latest_success.window_end as last_window_end,
        (
            select max(successes.window_end) as data_through
            from attempts as successes
            where
                successes.source_id = measured.source_id
                and successes.status = 'success'
                and successes.finished_at <= measured.measured_at
        ) as data_through
    from measured
    left join lateral (
        select
            successes.finished_at,
            successes.window_start,
            successes.window_end
        from attempts as successes
        where
            successes.source_id = measured.source_id
            and successes.status = 'success'
            and successes.finished_at <= measured.measured_at
        order by successes.finished_at desc, successes.load_id desc
        limit 1
    ) as latest_success on true
),

lagged as (
    select
        freshness.*,
        cast(
            round(extract(epoch from freshness.measured_at - freshness.data_through) / 3600, 2) as numeric(12, 2)
        ) as freshness_lag_hours
    from freshness
),

final as (
    select
        {{ surrogate_key(['lagged.source_id', 'lagged.health_date']) }} as health_key,
        lagged.source_id,
        lagged.source_type,
        lagged.health_date,
        lagged.is_current,
        cast(coalesce(day_attempts.loads_succeeded, 0) as integer) as loads_succeeded,
        cast(coalesce(day_attempts.loads_failed, 0) as integer) as loads_failed,
        cast(coalesce(day_attempts.rows_loaded, 0) as bigint) as rows_loaded,
        cast(coalesce(day_rejects.rows_rejected, 0) as bigint) as rows_rejected,
        lagged.last_load_at,
        lagged.last_window_start,
        lagged.last_window_end,
        lagged.data_through,
        lagged.measured_at,
        lagged.freshness_lag_hours,
        lagged.freshness_sla_hours,
        coalesce(lagged.freshness_lag_hours <= lagged.freshness_sla_hours, false) as is_within_sla,
        case
            when last_attempts.last_status = 'failed' then 'failing'
            when lagged.freshness_lag_hours <= lagged.freshness_sla_hours then 'on_time'
            else 'late'
        end as status,
        last_failures.last_error
    from lagged
    left join day_attempts
        on
            lagged.source_id = day_attempts.source_id
            and lagged.health_date = day_attempts.finished_date
    left join last_attempts
        on
            lagged.source_id = last_attempts.source_id
            and lagged.health_date = last_attempts.finished_date
    left join last_failures
        on
            lagged.source_id = last_failures.source_id
            and lagged.health_date = last_failures.finished_date
    left join day_rejects
        on
            lagged.source_id = day_rejects.source_id
            and lagged.health_date = day_rejects.loaded_date
)

select * from final
