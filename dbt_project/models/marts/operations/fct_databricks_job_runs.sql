-- Databricks job runs: one row per run with its final outcome, duration, attempts and cost. A run's slices
-- (system.lakeflow.job_run_timeline) are folded: started = the first slice's start, ended = the last slice's end,
-- duration = the sum of slice lengths (Databricks' own example query), attempts = the slices with a result state
-- (a repaired run has one per attempt), final state = the result state of the last of them. Cost = the run's
-- billed usage (usage records whose usage_metadata.job_run_id is the run) at the list price valid at the time of
-- use, from int_databricks_costs_conformed; a run with no usage record yet has cost 0.
-- Grain: one row per source_id x workspace_id x run_id.
with

slices as (
    select * from {{ ref('stg_databricks_billing__job_run_timeline') }}
),

jobs as (
    select * from {{ ref('stg_databricks_billing__jobs') }}
),

usage_records as (
    select * from {{ ref('stg_databricks_billing__usage') }}
),

costs as (
    select * from {{ ref('int_databricks_costs_conformed') }}
),

run_costs as (
    select
        usage_records.source_id,
        usage_records.workspace_id,
        usage_records.usage_metadata ->> 'job_run_id' as run_id,
        sum(costs.billed_cost) as billed_cost,
        min(costs.billing_currency) as billing_currency,
        count(distinct costs.billing_currency) as currencies
    from usage_records
    inner join costs
        on usage_records.usage_record_key = costs.cost_line_key
    where usage_records.usage_metadata ->> 'job_run_id' is not null
    group by usage_records.source_id, usage_records.workspace_id, usage_records.usage_metadata ->> 'job_run_id'
),

attempts as (
    select
        source_id,
        workspace_id,
        run_id,
        result_state,
        termination_code,
        row_number() over (
            partition by source_id, workspace_id, run_id order by period_end_time desc, period_start_time desc
        ) as recency
    from slices
    where result_state is not null
),

runs as (
    select
        source_id,
        workspace_id,
        run_id,
        min(job_id) as job_id,
        min(run_name) as run_name,
        min(trigger_type) as trigger_type,
        min(run_type) as run_type,
        min(period_start_time) as started_at,
        max(period_end_time) as ended_at,
        cast(sum(extract(epoch from period_end_time - period_start_time)) as numeric) as duration_seconds,
        count(result_state) as attempts
    from slices
    group by source_id, workspace_id, run_id
),

final as (
    select
        runs.source_id,
        runs.workspace_id,
        runs.run_id,
        runs.job_id,
        coalesce(jobs.job_name, 'job ' || runs.job_id) as job_name,
        runs.run_name,
        runs.trigger_type,
        runs.run_type,
        runs.started_at,
        runs.ended_at,
        cast(runs.started_at at time zone 'UTC' as date) as run_date,
        runs.duration_seconds,
        runs.attempts,
        coalesce(final_attempt.result_state, 'RUNNING') as result_state,
        final_attempt.termination_code,
        coalesce(final_attempt.result_state = 'SUCCEEDED', false) as is_succeeded,
        coalesce(final_attempt.result_state in ('FAILED', 'ERROR', 'TIMED_OUT'), false) as is_failed,
        coalesce(run_costs.billed_cost, 0) as billed_cost,
        run_costs.billing_currency
    from runs
    left join attempts as final_attempt
        on
            runs.source_id = final_attempt.source_id
            and runs.workspace_id = final_attempt.workspace_id
            and runs.run_id = final_attempt.run_id
            and final_attempt.recency = 1
    left join jobs
        on
            runs.source_id = jobs.source_id
            and runs.workspace_id = jobs.workspace_id
            and runs.job_id = jobs.job_id
    left join run_costs
        on
            runs.source_id = run_costs.source_id
            and runs.workspace_id = run_costs.workspace_id
            and runs.run_id = run_costs.run_id
)

select * from final
