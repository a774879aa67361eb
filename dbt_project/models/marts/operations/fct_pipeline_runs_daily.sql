-- Pipeline runs per pipeline and UTC day (ops.pipeline_runs): how many, how they ended, how long they took.
-- Grain: pipeline x run_date (the UTC date of started_at, the run's first attempt). success_pct = succeeded /
-- (succeeded + failed) x 100 (2 decimals; NULL when no run of the day has finished); a run still 'running' counts in
-- runs_total and runs_running only. avg_duration_seconds = mean of finished_at - started_at over the finished runs
-- (retries included: a retried run's duration spans all its attempts).
with

runs as (
    select
        pipeline,
        pipeline_type,
        cast(started_at at time zone 'UTC' as date) as run_date,
        status,
        case
            when status <> 'running' and finished_at is not null
                then extract(epoch from finished_at - started_at)
        end as duration_seconds
    from {{ ref('stg_ops__pipeline_runs') }}
),

daily as (
    select
        pipeline,
        run_date,
        max(pipeline_type) as pipeline_type,
        count(*) as runs_total,
        count(*) filter (where status = 'success') as runs_succeeded,
        count(*) filter (where status = 'failed') as runs_failed,
        count(*) filter (where status = 'running') as runs_running,
        avg(duration_seconds) as avg_duration_seconds
    from runs
    group by pipeline, run_date
),

final as (
    select
        {{ surrogate_key(['pipeline', 'run_date']) }} as pipeline_run_day_key,
        pipeline,
        pipeline_type,
        run_date,
        cast(runs_total as integer) as runs_total,
        cast(runs_succeeded as integer) as runs_succeeded,
        cast(runs_failed as integer) as runs_failed,
        cast(runs_running as integer) as runs_running,
        {{ bounded_pct('runs_succeeded', 'runs_succeeded + runs_failed', 6) }} as success_pct,
        cast(round(avg_duration_seconds, 2) as numeric(12, 2)) as avg_duration_seconds
    from daily
)

select * from final
