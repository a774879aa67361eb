-- One row per LLM training run: progress, loss, throughput and GPU memory.
-- Grain: run_id. Figures cover the metrics loaded so far: a run still going (or one that started before the
-- loaded range) shows what was logged; total_steps = last_step - first_step, steps trained in the loaded data.
with

steps as (
    select * from {{ ref('stg_demo__llm_training_metrics') }}
),

ordered as (
    select
        *,
        first_value(loss) over (
            partition by run_id order by step
            rows between unbounded preceding and unbounded following
        ) as first_loss,
        last_value(loss) over (
            partition by run_id order by step
            rows between unbounded preceding and unbounded following
        ) as last_loss
    from steps
),

runs as (
    select
        run_id,
        max(model_name) as model_name,
        max(cluster_id) as cluster_id,
        min(logged_at) as started_at,
        max(logged_at) as last_logged_at,
        min(step) as first_step,
        max(step) as last_step,
        count(*) as logged_steps,
        max(first_loss) as first_loss,
        min(loss) as best_loss,
        max(last_loss) as last_loss,
        avg(tokens_per_second) as avg_tokens_per_second,
        max(gpu_memory_used_gb) as peak_gpu_memory_used_gb,
        max(gpu_count) as gpu_count
    from ordered
    group by run_id
),

final as (
    select
        runs.run_id,
        runs.model_name,
        runs.cluster_id,
        runs.started_at,
        runs.last_logged_at,
        cast(extract(epoch from runs.last_logged_at - runs.started_at) / 3600 as numeric(10, 2)) as duration_hours,
        runs.first_step,
        runs.last_step,
        runs.last_step - runs.first_step as total_steps,
        runs.logged_steps,
        runs.first_loss,
        runs.best_loss,
        runs.last_loss,
        round(runs.avg_tokens_per_second, 0) as avg_tokens_per_second,
        runs.peak_gpu_memory_used_gb,
        runs.gpu_count
    from runs
)

select * from final
