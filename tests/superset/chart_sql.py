"""What every dashboard chart must show, written as plain SQL on the marts, independently of the chart definitions.

One entry per chart of superset/bundle/charts (the key is the file name). The test compares each chart's data from
Superset's chart-data API with the rows of its query here. Shapes:

* big number: one row, one value;
* table: the rows in the chart's order, columns in the chart's column order;
* time series / bar (x axis + series): rows ``(x, *series dimensions, *metric values)``; the test pivots them into
  the series Superset draws.
"""

from __future__ import annotations

CHART_SQL: dict[str, str] = {
    # ------------------------------------------------------------------------------------------ overview
    "overview_spend_month_to_date": """
        SELECT SUM(mtd_effective_cost) FROM marts.fct_cost_period_comparison WHERE provider_name <> 'All providers'
    """,
    "overview_spend_same_days_last_month": """
        SELECT SUM(prior_mtd_effective_cost) FROM marts.fct_cost_period_comparison
        WHERE provider_name <> 'All providers'
    """,
    "overview_spend_change": """
        SELECT (SUM(mtd_effective_cost) - SUM(prior_mtd_effective_cost)) / SUM(prior_mtd_effective_cost)
        FROM marts.fct_cost_period_comparison WHERE provider_name <> 'All providers'
    """,
    "overview_spend_trend_by_provider": """
        SELECT charge_date, provider_name, SUM(effective_cost) FROM marts.fct_cost_daily GROUP BY 1, 2
    """,
    "overview_top_services": """
        SELECT service_name, SUM(effective_cost) AS cost FROM marts.fct_cost_daily
        GROUP BY 1 ORDER BY cost DESC LIMIT 10
    """,
    "overview_budget_status": """
        SELECT budget_name, period_start, budget_amount, actual_cost, utilisation_pct, forecast_cost,
               forecast_utilisation_pct, status
        FROM marts.fct_budget_status WHERE days_remaining > 0
        ORDER BY utilisation_pct DESC, budget_name, budget_id
    """,
    "overview_open_anomalies": """
        SELECT charge_date, provider_name, service_name, sub_account_id, actual_cost, baseline_cost, deviation_cost,
               severity
        FROM marts.fct_cost_anomalies
        WHERE is_anomaly AND charge_date > (SELECT MAX(charge_date) FROM marts.fct_cost_anomalies) - 7
        ORDER BY charge_date DESC, deviation_cost DESC, anomaly_key LIMIT 100
    """,
    "overview_data_health": """
        SELECT source_id, source_type, status, freshness_lag_hours, freshness_sla_hours, last_load_at,
               last_window_start, last_window_end, rows_loaded, rows_rejected
        FROM marts.fct_data_health_daily
        WHERE health_date = (SELECT MAX(health_date) FROM marts.fct_data_health_daily)
        ORDER BY source_id
    """,
    # ------------------------------------------------------------------------------------------ CFO
    "cfo_month_end_forecast": """
        SELECT SUM(forecast_cost) FROM marts.fct_cost_forecast
        WHERE provider_name <> 'All providers' AND forecast_month = (SELECT MAX(forecast_month)
                                                                  FROM marts.fct_cost_forecast)
          AND days_remaining > 0
    """,
    "cfo_commitment_savings": "SELECT SUM(savings_vs_list_cost) FROM marts.fct_commitment_daily",
    "cfo_commitment_utilisation": """
        SELECT SUM(used_effective_cost) / (SUM(used_effective_cost) + SUM(unused_effective_cost))
        FROM marts.fct_commitment_daily
    """,
    "cfo_commitment_coverage": """
        SELECT SUM(covered_list_cost) / SUM(covered_list_cost + on_demand_list_cost)
        FROM marts.fct_commitment_coverage_daily
    """,
    "cfo_forecast_by_provider": """
        SELECT provider_name, as_of_date, actual_cost, forecast_cost, days_remaining, backtest_mape_pct,
               backtest_projections
        FROM marts.fct_cost_forecast
        WHERE forecast_month = (SELECT MAX(forecast_month) FROM marts.fct_cost_forecast) AND days_remaining > 0
        ORDER BY provider_name = 'All providers', forecast_cost DESC, provider_name, billing_currency
    """,
    "cfo_budget_utilisation": """
        SELECT budget_name, MAX(utilisation_pct), MAX(forecast_utilisation_pct)
        FROM marts.fct_budget_status WHERE days_remaining > 0 GROUP BY 1
    """,
    "cfo_spend_vs_budget": """
        SELECT date_trunc('month', period_start)::date, budget_name, SUM(actual_cost), SUM(budget_amount)
        FROM marts.fct_budget_status WHERE period = 'monthly' GROUP BY 1, 2
    """,
    "cfo_showback_by_team": """
        SELECT charge_month, team, SUM(total_cost) FROM marts.fct_showback_monthly GROUP BY 1, 2
    """,
    "cfo_showback_table": """
        SELECT charge_month, team, billing_currency, direct_effective_cost, allocated_shared_cost, total_cost
        FROM marts.fct_showback_monthly ORDER BY charge_month DESC, total_cost DESC, team, billing_currency
    """,
    "cfo_commitment_savings_by_month": """
        SELECT date_trunc('month', charge_date)::date, commitment_discount_type, SUM(savings_vs_list_cost)
        FROM marts.fct_commitment_daily GROUP BY 1, 2
    """,
    "cfo_ai_ml_spend": """
        SELECT charge_month, SUM(ai_ml_effective_cost), SUM(total_effective_cost - ai_ml_effective_cost)
        FROM marts.fct_ai_ml_spend_monthly GROUP BY 1
    """,
    "cfo_ai_ml_share": """
        SELECT SUM(ai_ml_effective_cost) / SUM(total_effective_cost) FROM marts.fct_ai_ml_spend_monthly
    """,
    "cfo_ai_ml_roi": """
        SELECT charge_month, value_scope, billing_currency, ai_ml_effective_cost, value_amount, net_value, roi_pct,
               value_status
        FROM marts.fct_ai_ml_roi_monthly ORDER BY charge_month DESC, value_scope, billing_currency
    """,
    # ------------------------------------------------------------------------------------------ COO
    "coo_freshness_sla_overall": """
        SELECT COUNT(*) FILTER (WHERE is_within_sla)::numeric / COUNT(*) FROM marts.fct_data_health_daily
    """,
    "coo_pipeline_success_overall": """
        SELECT SUM(runs_succeeded)::numeric / SUM(runs_succeeded + runs_failed) FROM marts.fct_pipeline_runs_daily
    """,
    "coo_alert_delivery_overall": """
        SELECT SUM(messages_sent)::numeric / NULLIF(SUM(messages_sent + messages_failed), 0)
        FROM marts.fct_alert_delivery_daily
    """,
    "coo_budget_adherence_overall": """
        SELECT COUNT(*) FILTER (WHERE CASE WHEN is_period_closed THEN actual_cost ELSE forecast_cost END
                                      <= budget_amount)::numeric / COUNT(*)
        FROM marts.fct_budget_status
    """,
    "coo_freshness_sla_by_day": """
        SELECT health_date, COUNT(*) FILTER (WHERE is_within_sla)::numeric / COUNT(*)
        FROM marts.fct_data_health_daily GROUP BY 1
    """,
    "coo_freshness_lag_by_source": """
        SELECT health_date, source_id, MAX(freshness_lag_hours) FROM marts.fct_data_health_daily GROUP BY 1, 2
    """,
    "coo_pipeline_success_by_day": """
        SELECT run_date, pipeline_type, SUM(runs_succeeded)::numeric / NULLIF(SUM(runs_succeeded + runs_failed), 0)
        FROM marts.fct_pipeline_runs_daily GROUP BY 1, 2
    """,
    "coo_pipeline_runs": """
        SELECT run_date, pipeline, runs_total, runs_succeeded, runs_failed, success_pct, avg_duration_seconds
        FROM marts.fct_pipeline_runs_daily ORDER BY run_date DESC, pipeline
    """,
    "coo_job_success_by_day": """
        SELECT run_date, COUNT(*) FILTER (WHERE result_state = 'SUCCEEDED')::numeric
               / NULLIF(COUNT(*) FILTER (WHERE result_state IN ('SUCCEEDED', 'FAILED', 'ERROR', 'TIMED_OUT')), 0)
        FROM marts.fct_databricks_job_runs GROUP BY 1
    """,
    "coo_jobs": """
        SELECT job_name, COUNT(*), COUNT(*) FILTER (WHERE result_state IN ('FAILED', 'ERROR', 'TIMED_OUT')),
               COUNT(*) FILTER (WHERE attempts > 1 AND result_state = 'SUCCEEDED'),
               COUNT(*) FILTER (WHERE result_state = 'SUCCEEDED')::numeric
               / NULLIF(COUNT(*) FILTER (WHERE result_state IN ('SUCCEEDED', 'FAILED', 'ERROR', 'TIMED_OUT')), 0),
               AVG(duration_seconds) / 60, SUM(billed_cost)
        FROM marts.fct_databricks_job_runs GROUP BY 1
    """,
    "coo_alert_delivery_by_day": """
        SELECT delivery_date, channel_type, SUM(messages_sent), SUM(messages_failed)
        FROM marts.fct_alert_delivery_daily GROUP BY 1, 2
    """,
    "coo_budget_adherence_by_month": """
        SELECT date_trunc('month', period_start)::date,
               COUNT(*) FILTER (WHERE CASE WHEN is_period_closed THEN actual_cost ELSE forecast_cost END
                                      <= budget_amount)::numeric / COUNT(*)
        FROM marts.fct_budget_status GROUP BY 1
    """,
    "coo_cost_per_healthy_node_hour": """
        SELECT metric_date, cluster_id, SUM(effective_cost) / NULLIF(SUM(healthy_node_hours), 0)
        FROM marts.fct_cluster_efficiency_daily GROUP BY 1, 2
    """,
    "coo_idle_cost": """
        SELECT date_trunc('week', metric_date)::date, SUM(utilised_cost), SUM(effective_cost - utilised_cost)
        FROM marts.fct_cluster_efficiency_daily GROUP BY 1
    """,
    "coo_anomalies_over_time": """
        SELECT date_trunc('week', charge_date)::date, severity, COUNT(*)
        FROM marts.fct_cost_anomalies WHERE is_anomaly GROUP BY 1, 2
    """,
    # ------------------------------------------------------------------------------------------ infrastructure
    "infra_gpu_utilisation_hourly": """
        SELECT metric_hour, cluster_id, avg_gpu_utilization_pct FROM marts.fct_cluster_health_hourly
    """,
    "infra_cpu_utilisation_hourly": """
        SELECT metric_hour, cluster_id, avg_cpu_utilization_pct FROM marts.fct_cluster_health_hourly
    """,
    "infra_memory_utilisation_hourly": """
        SELECT metric_hour, cluster_id, avg_memory_utilization_pct FROM marts.fct_cluster_health_hourly
    """,
    "infra_utilisation_daily": """
        SELECT metric_date, cluster_id, avg_gpu_utilization_pct, avg_cpu_utilization_pct, avg_memory_utilization_pct
        FROM marts.fct_cluster_health_daily
    """,
    "infra_cost_per_cluster": """
        SELECT metric_date, cluster_id, effective_cost FROM marts.fct_cluster_health_daily
    """,
    "infra_cluster_health": """
        SELECT metric_date, cluster_id, status, nodes, nodes_reporting, healthy_nodes, avg_gpu_utilization_pct,
               avg_cpu_utilization_pct, effective_cost
        FROM marts.fct_cluster_health_daily ORDER BY metric_date DESC, cluster_id LIMIT 200
    """,
    "infra_low_utilisation_nodes": """
        SELECT cluster_id, node_id, SUM(effective_cost), COUNT(*), AVG(avg_gpu_utilization_pct),
               AVG(avg_cpu_utilization_pct)
        FROM marts.fct_node_utilisation_daily WHERE is_below_threshold GROUP BY 1, 2
    """,
    "infra_low_utilisation_cost": """
        SELECT SUM(effective_cost) FROM marts.fct_node_utilisation_daily WHERE is_below_threshold
    """,
    "infra_snowflake_credits_by_user": """
        SELECT warehouse_name, user_name, SUM(attributed_credits), SUM(attributed_cost)
        FROM marts.fct_snowflake_query_attribution GROUP BY 1, 2
    """,
    "infra_snowflake_credits_by_day": """
        SELECT usage_date, warehouse_name, SUM(attributed_credits)
        FROM marts.fct_snowflake_query_attribution GROUP BY 1, 2
    """,
    # ------------------------------------------------------------------------------------------ ML
    "ml_training_cost": "SELECT SUM(run_cost) FROM marts.fct_llm_training_runs",
    "ml_cost_per_step": "SELECT SUM(run_cost) / SUM(total_steps) FROM marts.fct_llm_training_runs",
    "ml_peak_gpu_memory": "SELECT MAX(peak_gpu_memory_used_gb) FROM marts.fct_llm_training_runs",
    "ml_training_runs": """
        SELECT run_id, model_name, cluster_id, started_at, duration_hours, total_steps, best_loss, last_loss,
               avg_tokens_per_second, peak_gpu_memory_used_gb, run_cost, cost_per_step
        FROM marts.fct_llm_training_runs ORDER BY started_at DESC, run_id
    """,
    "ml_loss_over_steps": "SELECT step, run_id, loss FROM marts.fct_llm_training_steps",
    "ml_throughput_over_steps": "SELECT step, run_id, tokens_per_second FROM marts.fct_llm_training_steps",
    "ml_run_cost_by_run": """
        SELECT run_id, run_cost FROM marts.fct_llm_training_runs ORDER BY run_cost DESC LIMIT 25
    """,
    "ml_peak_gpu_memory_by_run": """
        SELECT run_id, peak_gpu_memory_used_gb FROM marts.fct_llm_training_runs
        ORDER BY peak_gpu_memory_used_gb DESC LIMIT 25
    """,
    # ------------------------------------------------------------------------------------------ team
    "team_total_cost": "SELECT SUM(total_cost) FROM marts.fct_showback_monthly",
    "team_showback_by_month": """
        SELECT charge_month, SUM(direct_effective_cost), SUM(allocated_shared_cost)
        FROM marts.fct_showback_monthly GROUP BY 1
    """,
    "team_budgets": """
        SELECT team, budget_name, period_start, budget_amount, actual_cost, utilisation_pct, forecast_cost,
               forecast_utilisation_pct, status
        FROM marts.fct_team_budget_status ORDER BY period_start DESC, team, budget_name
    """,
    "team_top_services": """
        SELECT service_name, SUM(effective_cost) AS cost FROM marts.fct_cost_monthly
        GROUP BY 1 ORDER BY cost DESC LIMIT 10
    """,
    "team_spend_by_provider": """
        SELECT charge_month, provider_name, SUM(effective_cost) FROM marts.fct_cost_monthly GROUP BY 1, 2
    """,
    "team_showback_table": """
        SELECT charge_month, team, billing_currency, direct_effective_cost, allocated_shared_cost, total_cost
        FROM marts.fct_showback_monthly ORDER BY charge_month DESC, team, billing_currency
    """,
}

# Charts whose rows depend on a team: the team test adds `team = '<id>'` to these (RLS must give the same rows).
TEAM_FILTERABLE = {"team_total_cost", "team_showback_by_month", "team_budgets", "team_top_services",
                   "team_spend_by_provider", "team_showback_table", "cfo_showback_by_team", "cfo_showback_table",
                   "overview_spend_trend_by_provider", "overview_top_services"}
