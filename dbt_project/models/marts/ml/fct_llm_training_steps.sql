-- Every logged step of every LLM training run (ML dashboard: loss curves, learning rate, throughput, GPU memory).
-- Grain: run_id x step (stg_demo__llm_training_metrics, latest load wins).
with

steps as (
    select * from {{ ref('stg_demo__llm_training_metrics') }}
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
        gpu_count
    from steps
)

select * from final
