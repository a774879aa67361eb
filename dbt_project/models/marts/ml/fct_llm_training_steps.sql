-- Every logged step of every LLM training run (ML dashboard: loss curves, learning rate, throughput, GPU memory).
-- Grain: run_id x step (int_llm_training_steps_unioned: the demo's steps and those trainers pushed to the ingest
-- server; latest load wins in each).
with

steps as (
    select * from {{ ref('int_llm_training_steps_unioned') }}
),

final as (
    select
        training_step_key,
        run_id,
        model_name,
        cluster_id,
        step,
        logged_at,
        loss,
        learning_rate,
        tokens_per_second,
        gpu_memory_used_gb,
        gpu_count,
        epoch,
        validation_loss,
        batch_size,
        throughput_samples_per_sec,
        source_id
    from steps
)

select * from final
