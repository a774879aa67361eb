-- Databricks job run time slices (system.lakeflow.job_run_timeline), latest load wins. A run longer than an hour
-- has a row per hour; result_state / termination_code are set only on the row that ends an attempt.
-- Grain: source_id x workspace_id x run_id x period_start_time.
with

source as (
    select * from {{ source('databricks_billing', 'databricks_billing_job_run_timeline') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by _source_id, workspace_id, run_id, period_start_time
            order by _loaded_at desc, _batch_id desc
        ) as load_rank
    from source
),

renamed as (
    select
        {{ surrogate_key(['_source_id', 'workspace_id', 'run_id', 'period_start_time']) }} as run_slice_key,
        cast(_source_id as text) as source_id,
        cast(account_id as text) as account_id,
        cast(workspace_id as text) as workspace_id,
        cast(job_id as text) as job_id,
        cast(run_id as text) as run_id,
        cast(run_name as text) as run_name,
        cast(trigger_type as text) as trigger_type,
        cast(run_type as text) as run_type,
        cast(period_start_time as timestamptz) as period_start_time,
        cast(period_end_time as timestamptz) as period_end_time,
        cast(result_state as text) as result_state,
        cast(termination_code as text) as termination_code
    from ranked
    where load_rank = 1
)

select * from renamed
