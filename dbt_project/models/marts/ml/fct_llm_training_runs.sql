-- One row per LLM training run: progress, loss, throughput and GPU memory.
-- Grain: run_id. Figures cover the metrics loaded so far: a run still going (or one that started before the
-- loaded range) shows what was logged; total_steps = last_step - first_step, steps trained in the loaded data.
-- Cost: the effective cost of the run's cluster (int_cluster_costs_hourly) over [started_at, last_logged_at]: each
-- cluster hour counts by the fraction of it the run covers, split evenly among the runs on that cluster in that
-- hour (so concurrent runs never count the same hour twice). cost_per_step = run_cost / total_steps.
with

steps as (
    select * from {{ ref('int_llm_training_steps_unioned') }}
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
        max(gpu_count) as gpu_count,
        max(epoch) as last_epoch,
        min(validation_loss) as best_validation_loss,
        avg(throughput_samples_per_sec) as avg_throughput_samples_per_sec,
        max(batch_size) as batch_size
    from ordered
    group by run_id
),

cluster_hours as (
    select
        cluster_id,
        usage_hour at time zone 'UTC' as hour_start,
        min(billing_currency) as billing_currency,
        sum(effective_cost) as effective_cost
    from {{ ref('int_cluster_costs_hourly') }}
    group by cluster_id, usage_hour
),

run_hours as (
    select
        runs.run_id,
        cluster_hours.cluster_id,
        cluster_hours.hour_start,
        cluster_hours.billing_currency,
        cluster_hours.effective_cost,
        cast(extract(epoch from (
            least(runs.last_logged_at, cluster_hours.hour_start + interval '1 hour')
            - greatest(runs.started_at, cluster_hours.hour_start)
        )) as numeric) / 3600 as hour_fraction
    from runs
    inner join cluster_hours
        on
            runs.cluster_id = cluster_hours.cluster_id
            and runs.last_logged_at > cluster_hours.hour_start
            and runs.started_at < cluster_hours.hour_start + interval '1 hour'
),

hour_concurrency as (
    select
        cluster_id,
        hour_start,
        count(*) as runs_in_hour
    from run_hours
    group by cluster_id, hour_start
),

run_costs as (
    select
        run_hours.run_id,
        min(run_hours.billing_currency) as billing_currency,
        sum(run_hours.effective_cost * run_hours.hour_fraction / hour_concurrency.runs_in_hour) as run_cost
    from run_hours
    inner join hour_concurrency
        on
            run_hours.cluster_id = hour_concurrency.cluster_id
            and run_hours.hour_start = hour_concurrency.hour_start
    group by run_hours.run_id
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
        runs.gpu_count,
        runs.last_epoch,
        runs.best_validation_loss,
        round(runs.avg_throughput_samples_per_sec, 2) as avg_throughput_samples_per_sec,
        runs.batch_size,
        run_costs.billing_currency,
        cast(coalesce(run_costs.run_cost, 0) as numeric(18, 6)) as run_cost,
        cast(run_costs.run_cost / nullif(runs.last_step - runs.first_step, 0) as numeric(18, 6)) as cost_per_step
    from runs
    left join run_costs
        on runs.run_id = run_costs.run_id
)

select * from final
