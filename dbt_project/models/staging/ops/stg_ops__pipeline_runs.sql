-- Pipeline runs (ops.pipeline_runs): collect_<source_id> and transform, from Airflow or the CLI.
-- Grain: pipeline x run_id.
with

source as (
    select * from {{ source('ops', 'pipeline_runs') }}
),

renamed as (
    select
        -- keys
        cast(source.pipeline as text) as pipeline,
        cast(source.pipeline_type as text) as pipeline_type,
        cast(source.run_id as text) as run_id,
        cast(source.trigger as text) as run_trigger,

        -- outcome
        cast(source.status as text) as status,
        cast(source.started_at as timestamptz) as started_at,
        cast(source.finished_at as timestamptz) as finished_at,
        cast(source.attempts as integer) as attempts,
        cast(source.error as text) as error

    from source
)

select * from renamed
