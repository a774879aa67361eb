-- Databricks jobs (system.lakeflow.jobs, a slowly changing dimension: a row per change), the latest change of each
-- job (its current name, owner and tags).
-- Grain: source_id x workspace_id x job_id.
with

source as (
    select * from {{ source('databricks_billing', 'databricks_billing_jobs') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by _source_id, workspace_id, job_id
            order by change_time desc, _loaded_at desc, _batch_id desc
        ) as change_rank
    from source
),

renamed as (
    select
        {{ surrogate_key(['_source_id', 'workspace_id', 'job_id']) }} as job_key,
        cast(_source_id as text) as source_id,
        cast(workspace_id as text) as workspace_id,
        cast(job_id as text) as job_id,
        cast(name as text) as job_name,
        cast(creator_id as text) as creator_id,
        cast(run_as as text) as run_as,
        cast(tags as jsonb) as tags,
        cast(change_time as timestamptz) as changed_at,
        cast(delete_time as timestamptz) as deleted_at
    from ranked
    where change_rank = 1
)

select * from renamed
