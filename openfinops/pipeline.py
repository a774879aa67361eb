"""Pipeline steps shared by the CLI and the Airflow tasks: build a collector from config, load a window,
write the config tables (budgets, clusters, shared-cost rules, anomaly settings) for dbt. Alerts: see
openfinops/alerts.py; the operational logs (ops.loads, ops.pipeline_runs): openfinops/run_log.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg import Connection
from psycopg.types.json import Jsonb

from collectors.core.base import Window
from collectors.core.registry import all_datasets
from openfinops import alerts, run_log
from openfinops._marts import ensure_api_tables
from openfinops.alerts import ALERTS_DDL  # noqa: F401 - re-exported for callers of the first release
from openfinops.collect_context import build_collector
from openfinops.config import CostScope, OpenFinOpsConfig
from openfinops.loader import Loader, LoadResult, ensure_tables
from openfinops.server import store as telemetry_store
from openfinops.windows import close_days, effective_window, lookback_days  # noqa: F401 - re-exported


def collect(cfg: OpenFinOpsConfig, source_id: str, window: Window, conn: Connection,
            batch_id: str | None = None, clients: Mapping[str, Any] | None = None, *,
            trigger: run_log.Trigger = "cli") -> LoadResult:
    """Collect one source for ``window`` (widened by its look-back, aligned by the collector) and replace that
    window in ``raw``. The run is recorded in ``ops.pipeline_runs`` as ``collect_<source_id>`` / ``batch_id``
    (generated when not given) with ``trigger`` - 'airflow' when the caller is the collect DAG (``batch_id`` = the
    Airflow run id), 'cli' otherwise - including failures before anything is loaded (unknown source, collector or
    connection errors); the load itself is logged in ``ops.loads`` by the loader."""
    batch_id = batch_id or run_log.new_run_id()
    with run_log.recorded_run(conn, run_log.collect_pipeline(source_id), "collect", batch_id, trigger):
        source = cfg.source(source_id)
        collector = build_collector(cfg, source, clients)
        loader = Loader(conn, max_reject_ratio=source.max_reject_ratio, max_rejects=source.max_rejects)
        return loader.load(collector, collector.align_window(effective_window(source, window)), batch_id=batch_id)


def record_failed_collect(conn: Connection, source_id: str, batch_id: str, trigger: run_log.Trigger,
                          error: BaseException) -> None:
    """Record a collect run that failed before :func:`collect` could start (the config file no longer loads)."""
    def write(conn: Connection) -> None:
        run_log.ensure_tables(conn)
        run_log.finish_run(conn, run_log.collect_pipeline(source_id), "collect", batch_id, trigger, "failed", error)

    run_log.record_failure_quietly(write, conn)


_SCOPE_COLUMNS = """scope_providers text[], scope_billing_account_ids text[], scope_sub_account_ids text[],
    scope_services text[], scope_service_categories text[], scope_sources text[], scope_teams text[],
    scope_environments text[], scope_tags jsonb"""
CONFIG_DDL = f"""
CREATE SCHEMA IF NOT EXISTS config;
CREATE TABLE IF NOT EXISTS config.budgets (
    budget_id text PRIMARY KEY, budget_name text NOT NULL, amount numeric NOT NULL, currency text NOT NULL,
    period text NOT NULL, start_month int NOT NULL, thresholds int[] NOT NULL,
    scope_providers text[], scope_billing_account_ids text[], scope_sub_account_ids text[], scope_services text[],
    scope_service_categories text[], scope_sources text[], scope_teams text[], scope_environments text[],
    channels text[] NOT NULL DEFAULT '{{}}'
);
-- columns added after the first release (a warehouse made by an older version gets them here)
ALTER TABLE config.budgets ADD COLUMN IF NOT EXISTS scope_tags jsonb;
ALTER TABLE config.budgets ADD COLUMN IF NOT EXISTS forecast_thresholds int[] NOT NULL DEFAULT '{{100}}';
CREATE TABLE IF NOT EXISTS config.clusters (
    cluster_id text PRIMARY KEY, provider text NOT NULL, region text NOT NULL, nodes int NOT NULL,
    gpus_per_node int NOT NULL, gpu_type text
);
CREATE TABLE IF NOT EXISTS config.shared_cost_rules (
    rule_id text PRIMARY KEY, rule_order int NOT NULL, description text NOT NULL, method text NOT NULL,
    recipients text[], weights jsonb, {_SCOPE_COLUMNS}
);
ALTER TABLE config.shared_cost_rules ADD COLUMN IF NOT EXISTS rule_order int;
CREATE TABLE IF NOT EXISTS config.anomaly_settings (
    baseline_days int NOT NULL, min_history_days int NOT NULL, min_cost_delta numeric NOT NULL,
    alert_min_severity text NOT NULL, channels text[] NOT NULL
);
CREATE TABLE IF NOT EXISTS config.sources (
    source_id text PRIMARY KEY, source_type text NOT NULL, description text NOT NULL, schedule text NOT NULL,
    freshness_sla_hours numeric NOT NULL
);
CREATE TABLE IF NOT EXISTS config.teams (team_id text PRIMARY KEY, team_name text NOT NULL);
CREATE TABLE IF NOT EXISTS config.ai_ml_scopes (scope_order int PRIMARY KEY, {_SCOPE_COLUMNS});
CREATE TABLE IF NOT EXISTS config.ai_ml_value (
    value_month date NOT NULL, team text, amount numeric NOT NULL, currency text NOT NULL, description text NOT NULL
);
"""


def _scope_values(scope: CostScope) -> tuple:
    return (scope.providers, scope.billing_account_ids, scope.sub_account_ids, scope.services,
            scope.service_categories, scope.sources, scope.teams, scope.environments,
            Jsonb(scope.tags) if scope.tags is not None else None)


def sync_config(cfg: OpenFinOpsConfig, conn: Connection) -> dict[str, int]:
    """Replace the ``config.*`` tables (budgets, clusters, shared-cost rules, anomaly settings, sources, teams, AI/ML
    scopes and value) with the config file's entries (one transaction), and make sure every table dbt reads exists -
    every raw table (empty for source types that are not configured), the ingest server's ``raw.telemetry_*``,
    ``raw._rejects``, ``ops.*`` and ``alerts.*`` -
    so dbt can always build."""
    ensure_tables(conn, all_datasets())
    conn.commit()
    telemetry_store.ensure_tables(conn)  # what the ingest server writes (agents that push)
    ensure_api_tables(conn)  # budgets and clusters created through the Python API
    run_log.ensure_tables(conn)
    alerts.ensure_tables(conn)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(CONFIG_DDL)
        cur.execute("DELETE FROM config.budgets")
        cur.executemany(
            """INSERT INTO config.budgets (budget_id, budget_name, amount, currency, period, start_month, thresholds,
                   forecast_thresholds, channels, scope_providers, scope_billing_account_ids, scope_sub_account_ids,
                   scope_services, scope_service_categories, scope_sources, scope_teams, scope_environments,
                   scope_tags)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            [(b.id, b.name, b.amount, b.currency, b.period, b.start_month, b.thresholds, b.forecast_thresholds,
              b.channels, *_scope_values(b.scope)) for b in cfg.budgets])
        cur.execute("DELETE FROM config.clusters")
        cur.executemany("INSERT INTO config.clusters VALUES (%s, %s, %s, %s, %s, %s)",
                        [(c.cluster_id, c.provider, c.region, c.nodes, c.gpus_per_node, c.gpu_type)
                         for c in cfg.clusters])
        cur.execute("DELETE FROM config.shared_cost_rules")
        cur.executemany(
            """INSERT INTO config.shared_cost_rules (rule_id, rule_order, description, method, recipients, weights,
                   scope_providers, scope_billing_account_ids, scope_sub_account_ids, scope_services,
                   scope_service_categories, scope_sources, scope_teams, scope_environments, scope_tags)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            [(r.id, i, r.description, r.method, [t.lower() for t in r.recipients] if r.recipients else None,
              Jsonb({k.lower(): str(v) for k, v in r.weights.items()}) if r.weights else None,
              *_scope_values(r.scope)) for i, r in enumerate(cfg.showback.shared_costs, start=1)])
        a = cfg.anomalies
        cur.execute("DELETE FROM config.anomaly_settings")
        cur.execute("INSERT INTO config.anomaly_settings VALUES (%s, %s, %s, %s, %s)",
                    (a.baseline_days, a.min_history_days, a.min_cost_delta, a.alert_min_severity, a.channels))
        cur.execute("DELETE FROM config.sources")
        cur.executemany("INSERT INTO config.sources VALUES (%s, %s, %s, %s, %s)",
                        [(s.id, s.type, s.description, s.schedule, s.freshness_sla_hours) for s in cfg.sources])
        cur.execute("DELETE FROM config.teams")
        cur.executemany("INSERT INTO config.teams VALUES (%s, %s)", [(t.id, t.name) for t in cfg.teams])
        cur.execute("DELETE FROM config.ai_ml_scopes")
        cur.executemany(
            """INSERT INTO config.ai_ml_scopes (scope_order, scope_providers, scope_billing_account_ids,
                   scope_sub_account_ids, scope_services, scope_service_categories, scope_sources, scope_teams,
                   scope_environments, scope_tags)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            [(i, *_scope_values(scope)) for i, scope in enumerate(cfg.ai_ml.scopes, start=1)])
        cur.execute("DELETE FROM config.ai_ml_value")
        cur.executemany("INSERT INTO config.ai_ml_value VALUES (%s, %s, %s, %s, %s)",
                        [(v.month, v.team, v.amount, v.currency, v.description) for v in cfg.ai_ml.value])
    return {"budgets": len(cfg.budgets), "clusters": len(cfg.clusters),
            "shared_cost_rules": len(cfg.showback.shared_costs), "sources": len(cfg.sources),
            "teams": len(cfg.teams), "ai_ml_scopes": len(cfg.ai_ml.scopes), "ai_ml_value": len(cfg.ai_ml.value)}


def record_budget_alerts(conn: Connection, detected_by: str | None = None) -> list[tuple]:
    """Record each newly crossed (budget, period, threshold, kind) from ``marts.fct_budget_status`` once, kinds
    ``actual`` and ``forecast``; returns the new crossings. Kept for callers of the first release: the alert steps
    (detection of anomalies too, and delivery) are :func:`openfinops.alerts.detect` and
    :func:`openfinops.alerts.deliver`."""
    return alerts.detect_budget_crossings(conn, detected_by)


def describe_crossings(new: list[tuple]) -> str:
    """Human-readable lines for what :func:`record_budget_alerts` returned (CLI output and task log)."""
    return alerts.Detected(new, []).describe()
