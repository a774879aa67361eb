-- Training steps pushed by trainers (LLMObservabilityHub.collect_llm_training_metrics, agents, the demo's training
-- jobs) with the original LLMTrainingMetrics fields (epoch, validation loss, batch size, samples/s);
-- loss = training_loss, GPU memory MB -> GB (/ 1024). A step pushed again replaces the earlier one (latest received
-- wins).
-- Grain: run_id x step.
with

source as (
    select * from {{ source('telemetry', 'telemetry_llm_training_metrics') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by run_id, step
            order by _received_at desc, _batch_id desc, _record_index desc
        ) as receive_rank
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
        cast('agent:' || _agent_id as text) as source_id,

        -- metrics
        cast(training_loss as numeric) as loss,
        cast(learning_rate as numeric) as learning_rate,
        cast(tokens_per_second as numeric) as tokens_per_second,
        cast(gpu_memory_mb / 1024 as numeric) as gpu_memory_used_gb,
        cast(gpu_count as integer) as gpu_count,
        cast(epoch as integer) as epoch,
        cast(validation_loss as numeric) as validation_loss,
        cast(batch_size as integer) as batch_size,
        cast(throughput_samples_per_sec as numeric) as throughput_samples_per_sec,

        -- load metadata
        cast(_batch_id as text) as batch_id,
        cast(_received_at as timestamptz) as loaded_at

    from ranked
    where receive_rank = 1
)

select * from renamed
