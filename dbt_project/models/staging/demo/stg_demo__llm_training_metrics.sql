-- LLM training step metrics, latest load wins.
-- Grain: run_id x step.
with

source as (
    select * from {{ source('demo', 'demo_llm_training_metrics') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by run_id, step
            order by _loaded_at desc, _batch_id desc
        ) as load_rank
    from source
),

renamed as (
    select
        -- keys
        {{ surrogate_key(['run_id', 'step']) }} as training_step_key,
        cast(run_id as text) as run_id,
        cast(step as bigint) as step,
        cast(logged_at as timestamptz) as logged_at,
        cast(model_name as text) as model_name,
        cast(cluster_id as text) as cluster_id,
        cast(_source_id as text) as source_id,

        -- metrics
        cast(loss as numeric) as loss,
        cast(learning_rate as numeric) as learning_rate,
        cast(tokens_per_second as numeric) as tokens_per_second,
        cast(gpu_memory_used_gb as numeric) as gpu_memory_used_gb,
        cast(gpu_count as integer) as gpu_count,

        -- load metadata
        cast(_batch_id as text) as batch_id,
        cast(_loaded_at as timestamptz) as loaded_at

    from ranked
    where load_rank = 1
)

select * from renamed
