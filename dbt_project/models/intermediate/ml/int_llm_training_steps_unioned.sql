-- Every training step the ML marts read: the demo's (stg_demo__llm_training_metrics, which has no epoch, validation
-- loss, batch size or samples/s: NULL there) and what trainers pushed (stg_telemetry__llm_training_metrics).
-- A view. Grain: run_id x step (training_step_key; a step in both would fail its unique test).
{{ config(materialized='view') }}

with

demo_steps as (
    select * from {{ ref('stg_demo__llm_training_metrics') }}
),

pushed_steps as (
    select * from {{ ref('stg_telemetry__llm_training_metrics') }}
)

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
    cast(null as integer) as epoch,
    cast(null as numeric) as validation_loss,
    cast(null as integer) as batch_size,
    cast(null as numeric) as throughput_samples_per_sec,
    batch_id,
    loaded_at
from demo_steps

union all

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
from pushed_steps
