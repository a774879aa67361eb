-- Every training step the ML marts read: what trainers and agents pushed to the ingest server
-- (stg_telemetry__llm_training_metrics; the demo's training jobs push too, through agents/demo_telemetry_agent.py).
-- The one place the marts take steps from, so a future pulled source is a union here. A view.
-- Grain: run_id x step (training_step_key).
{{ config(materialized='view') }}

select
    training_step_key,
    run_id,
    step,
    logged_at,
    model_name,
    cluster_id,
    source_id,
    loss,
    learning_rate,
    tokens_per_second,
    gpu_memory_used_gb,
    gpu_count,
    epoch,
    validation_loss,
    batch_size,
    throughput_samples_per_sec,
    batch_id,
    loaded_at
from {{ ref('stg_telemetry__llm_training_metrics') }}
