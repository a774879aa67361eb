"""Budget and anomaly alerts: detect what is new in the marts, then deliver each alert once to each of its channels.

Two steps, run after ``dbt build`` by the ``transform`` DAG (tasks ``detect_alerts`` then ``deliver_alerts``) or by
``bin/openfinops alerts``:

**detect** (:func:`detect`) records, in one transaction,

* every newly crossed budget threshold from ``marts.fct_budget_status`` into ``alerts.budget_threshold_crossings``
  (key: budget_id, period_start, threshold_pct, kind). Kind ``actual``: ``utilisation_pct >= t`` for ``t`` in
  ``thresholds``. Kind ``forecast``: ``forecast_utilisation_pct >= t`` for ``t`` in ``forecast_thresholds`` while
  actual spend is still below ``t`` (an early warning; once actual spend is there, the forecast adds nothing - and
  for a period that is over, forecast = actual);
* every new anomaly of ``marts.fct_cost_anomalies`` with ``is_anomaly`` and a severity at or above
  ``anomalies.alert_min_severity`` (low < medium < high < critical) into ``alerts.cost_anomalies`` (key:
  anomaly_key).

A key that is already recorded is never recorded again (``ON CONFLICT DO NOTHING``): re-runs and back-fills that
re-create the same mart rows add nothing, and a row keeps the figures of the moment it was first crossed.

Alerts about the past are recorded but never sent: a crossing of a period that ended, or an anomaly on a day, more
than ``alerts.notify_within_days`` (default 7) days before the latest cost data gets a ``suppressed_reason``
(history). A first load or a 90-day back-fill therefore pages nobody about closed periods.

**deliver** (:func:`deliver`) sends every recorded alert to every channel of its budget (``budgets[].channels``)
or to ``anomalies.channels``, unless ``alerts.notifications`` (key: alert_type, alert_key, channel_id) already has
that row, and writes the row as soon as the channel has accepted the message. Anomalies of one provider on one day
are one incident: one message per channel listing the lines (largest deviation first), recorded as one
notification row per line, so a line detected later goes out as a follow-up message of its own. Each row also
records a hash of the channel's real target (:meth:`Channel.fingerprint`): a channel id pointed at a new target (the
demo sink replaced by the real workspace) is a new destination and gets the alerts that are still recent.

Delivery guarantee - exactly once, with a one-message at-least-once window:

* a row in ``alerts.notifications`` means "sent": that (alert, channel) is never sent again;
* messages are sent one at a time and each row is committed right after its send succeeded, before the next send,
  so if the process dies (or the warehouse is lost) between a receiver's acceptance and that commit, **exactly that
  one message** is sent again by the next run; if the row cannot be written, delivery stops at once rather than
  send messages it could not record;
* a request that times out although the receiver got it is retried, and may arrive twice, like any at-least-once
  delivery. For these rare duplicates every message carries a stable identity: the webhook's ``alert_type`` /
  ``alert_key`` fields and ``Idempotency-Key`` header, the e-mail's ``Message-ID``; Slack has none;
* a session-level advisory lock serialises deliverers (an Airflow run and a CLI run at the same time), so two of
  them never send the same message.

Failures: each message gets ``RetryPolicy.max_retries`` retries on a transient failure (HTTP 408, 429, 5xx,
connection errors, SMTP 4xx), waiting what a ``Retry-After`` header asks for (Slack's 429), else exponential
back-off. A channel whose message still fails is not used again in this run (its other messages wait for the next
run); the other channels go on, their messages are sent and recorded, and then :class:`DeliveryError` names each
failed channel, the alert and the HTTP status or SMTP reply, so the Airflow task fails visibly. The next run (or the
task's Airflow retry) sends only what is missing.

Every message that finally fails is also recorded in ``alerts.delivery_failures`` (own transaction: channel, redacted
target, attempts, redacted error), so delivery success per channel can be reported (marts.fct_alert_delivery_daily).

Secrets: webhook URLs (their path and query carry the token) and connection passwords are redacted from every log
record and error message and are never stored: ``alerts.notifications.target`` and ``alerts.delivery_failures.target``
hold ``scheme://host/***`` or the connection id, ``payload`` holds exactly the JSON / e-mail that was sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, get_args

from psycopg import Connection, pq
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from collectors.core.http_retry import RetryPolicy
from openfinops import alert_messages as messages
from openfinops import run_log
from openfinops.alert_channels import Channel, ChannelSet, SendError
from openfinops.alert_messages import (
    BUDGET_THRESHOLD,
    COST_ANOMALY,
    LOAD_REJECTS,
    Alert,
    AnomalyIncident,
    BudgetCrossing,
    CostAnomaly,
    LoadRejects,
    incident_key,
)
from openfinops.config import OpenFinOpsConfig, Severity

log = logging.getLogger(__name__)

SEVERITIES: tuple[str, ...] = get_args(Severity)  # low < medium < high < critical
# Per message: 1 attempt + 3 retries, waits 2, 4, 8 s (or what Retry-After asks, up to 60 s).
DEFAULT_RETRY_POLICY = RetryPolicy(max_retries=3, base_seconds=2.0, max_seconds=60.0)
_DELIVER_LOCK = "openfinops.alerts.deliver"

ALERTS_DDL = """
CREATE SCHEMA IF NOT EXISTS alerts;
CREATE TABLE IF NOT EXISTS alerts.budget_threshold_crossings (
    budget_id text NOT NULL, period_start date NOT NULL, threshold_pct int NOT NULL, kind text NOT NULL,
    period_end date NOT NULL, budget_amount numeric NOT NULL, actual_cost numeric NOT NULL,
    utilisation_pct numeric NOT NULL, billing_currency text NOT NULL, detected_at timestamptz NOT NULL,
    detected_by text, delivered_at timestamptz,
    PRIMARY KEY (budget_id, period_start, threshold_pct, kind)
);
-- columns added with forecast alerts and delivery (a warehouse made by an older version gets them here)
ALTER TABLE alerts.budget_threshold_crossings ADD COLUMN IF NOT EXISTS budget_name text;
ALTER TABLE alerts.budget_threshold_crossings ADD COLUMN IF NOT EXISTS period text;
ALTER TABLE alerts.budget_threshold_crossings ADD COLUMN IF NOT EXISTS forecast_cost numeric;
ALTER TABLE alerts.budget_threshold_crossings ADD COLUMN IF NOT EXISTS forecast_utilisation_pct numeric;
-- history (recorded, never sent): alerts about periods / days older than alerts.notify_within_days
ALTER TABLE alerts.budget_threshold_crossings ADD COLUMN IF NOT EXISTS suppressed_reason text;
CREATE TABLE IF NOT EXISTS alerts.cost_anomalies (
    anomaly_key text PRIMARY KEY, charge_date date NOT NULL, provider_name text NOT NULL, sub_account_id text,
    service_name text, billing_currency text NOT NULL, actual_cost numeric NOT NULL, baseline_cost numeric,
    deviation_cost numeric NOT NULL, robust_z numeric, severity text NOT NULL, detected_at timestamptz NOT NULL,
    detected_by text, delivered_at timestamptz
);
ALTER TABLE alerts.cost_anomalies ADD COLUMN IF NOT EXISTS suppressed_reason text;
CREATE TABLE IF NOT EXISTS alerts.load_rejects (
    load_id text NOT NULL, dataset text NOT NULL, source_id text NOT NULL, raw_table text NOT NULL,
    window_start timestamptz NOT NULL, window_end timestamptz NOT NULL, load_status text NOT NULL,
    rows_loaded bigint NOT NULL, rows_rejected bigint NOT NULL, first_record text, first_field text,
    first_reason text, finished_at timestamptz NOT NULL, detected_at timestamptz NOT NULL, detected_by text,
    suppressed_reason text, delivered_at timestamptz,
    PRIMARY KEY (load_id, dataset)
);
CREATE TABLE IF NOT EXISTS alerts.notifications (
    alert_type text NOT NULL, alert_key text NOT NULL, channel_id text NOT NULL, channel_type text NOT NULL,
    target text NOT NULL, sent_at timestamptz NOT NULL, attempts int NOT NULL, payload jsonb NOT NULL,
    sent_by text
);
-- A message is sent once per (alert, channel, real target): the target's hash (alert_channels.Channel.fingerprint)
-- is part of the key, so pointing a channel id at a new target (the demo sink -> the real workspace) sends the recent
-- alerts there. Rows recorded before it have NULL: they count as sent to whatever the channel's target is now.
ALTER TABLE alerts.notifications ADD COLUMN IF NOT EXISTS target_fingerprint text;
ALTER TABLE alerts.notifications DROP CONSTRAINT IF EXISTS notifications_pkey;
CREATE UNIQUE INDEX IF NOT EXISTS notifications_alert_channel_target
    ON alerts.notifications (alert_type, alert_key, channel_id, (coalesce(target_fingerprint, '')));
COMMENT ON TABLE alerts.notifications IS
    'One row per alert sent to a channel (written right after the channel accepted it): never sent again. '
    'target is redacted; payload is what was sent.';
CREATE TABLE IF NOT EXISTS alerts.delivery_failures (
    failure_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_type text NOT NULL, alert_key text NOT NULL, channel_id text NOT NULL, channel_type text NOT NULL,
    target text NOT NULL, failed_at timestamptz NOT NULL, attempts int NOT NULL, error text NOT NULL, sent_by text
);
COMMENT ON TABLE alerts.delivery_failures IS
    'One row per message that finally failed (after its retries) in a delivery run; the next run retries it. '
    'target and error are redacted.';
"""

# The alert key of a crossing, computed in SQL only (one definition): budget:period_start:kind:threshold.
_BUDGET_KEY = ("c.budget_id || ':' || to_char(c.period_start, 'YYYY-MM-DD') || ':' || c.kind || ':' "
               "|| c.threshold_pct")


@dataclass(frozen=True)
class Detected:
    """What one :func:`detect` call recorded: (budget_id, period_start, threshold_pct, kind, pct) and
    (anomaly_key, charge_date, provider, service, severity) tuples."""

    crossings: list[tuple]
    anomalies: list[tuple]
    rejects: list[tuple] = field(default_factory=list)  # (load_id, dataset, source_id, rows_rejected, history)

    def describe(self) -> str:
        lines = [f"budget {b} period {p}: crossed {t}% ({kind}), {'forecast ' if kind == 'forecast' else ''}"
                 f"utilisation {u}%" + (f" - not sent ({why})" if why else "")
                 for b, p, t, kind, u, why in self.crossings]
        lines += [f"anomaly {k}: {prov} / {svc} on {d}, severity {sev}" + (f" - not sent ({why})" if why else "")
                  for k, d, prov, svc, sev, why in self.anomalies]
        lines += [f"load {load} of source {source} ({dataset}): {n} record(s) rejected"
                  + (f" - not sent ({why})" if why else "") for load, dataset, source, n, why in self.rejects]
        history = sum(1 for r in self.crossings + self.anomalies + self.rejects if r[-1])
        lines.append(f"{len(self.crossings)} new budget threshold crossing(s) recorded in "
                     f"alerts.budget_threshold_crossings, {len(self.anomalies)} new cost anomaly(ies) in "
                     f"alerts.cost_anomalies, {len(self.rejects)} load(s) with rejected records in "
                     f"alerts.load_rejects; {history} of them history (older than alerts.notify_within_days: "
                     f"recorded, not sent)")
        return "\n".join(lines)


def ensure_tables(conn: Connection) -> None:
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(ALERTS_DDL)


def _require_relation(cur, name: str) -> None:
    cur.execute("SELECT to_regclass(%s)", (name,))
    if cur.fetchone()[0] is None:
        raise RuntimeError(f"{name} does not exist: build the marts first (`bin/openfinops transform`, or the "
                           "transform DAG's dbt tasks)")


def detect_budget_crossings(conn: Connection, detected_by: str | None = None,
                            notify_within_days: int = 7) -> list[tuple]:
    """Record newly crossed budget thresholds (actual and forecast); returns (budget_id, period_start,
    threshold_pct, kind, utilisation_pct or forecast_utilisation_pct, suppressed_reason) of the new rows. A crossing
    of a period that ended more than ``notify_within_days`` days before the latest cost data is recorded with a
    ``suppressed_reason`` (history: never sent)."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(ALERTS_DDL)
        _require_relation(cur, "marts.fct_budget_status")
        cur.execute("""
            WITH latest AS (SELECT max(as_of_date) AS cost_date FROM marts.fct_budget_status),
            crossed AS (
                SELECT s.*, t.threshold_pct, 'actual' AS kind
                FROM marts.fct_budget_status AS s
                CROSS JOIN LATERAL unnest(s.thresholds) AS t (threshold_pct)
                WHERE s.utilisation_pct >= t.threshold_pct
                UNION ALL
                SELECT s.*, t.threshold_pct, 'forecast'
                FROM marts.fct_budget_status AS s
                CROSS JOIN LATERAL unnest(s.forecast_thresholds) AS t (threshold_pct)
                WHERE s.forecast_utilisation_pct >= t.threshold_pct AND s.utilisation_pct < t.threshold_pct
            )
            INSERT INTO alerts.budget_threshold_crossings
                (budget_id, period_start, threshold_pct, kind, budget_name, period, period_end, budget_amount,
                 actual_cost, utilisation_pct, forecast_cost, forecast_utilisation_pct, billing_currency,
                 detected_at, detected_by, suppressed_reason)
            SELECT c.budget_id, c.period_start, c.threshold_pct, c.kind, c.budget_name, c.period, c.period_end,
                   c.budget_amount, c.actual_cost, c.utilisation_pct, c.forecast_cost, c.forecast_utilisation_pct,
                   c.billing_currency, %(now)s, %(by)s,
                   CASE WHEN c.period_end <= latest.cost_date - %(days)s::int
                        THEN 'history: the period ended on ' || (c.period_end - 1) || ', more than '
                             || %(days)s::int || ' days before the latest cost data (' || latest.cost_date || ')'
                   END
            FROM crossed AS c CROSS JOIN latest
            ORDER BY 1, 2, 4, 3
            ON CONFLICT DO NOTHING
            RETURNING budget_id, period_start, threshold_pct, kind,
                      CASE kind WHEN 'forecast' THEN forecast_utilisation_pct ELSE utilisation_pct END,
                      suppressed_reason
        """, {"now": datetime.now(UTC), "by": detected_by, "days": notify_within_days})
        return cur.fetchall()


def detect_anomalies(conn: Connection, min_severity: str, detected_by: str | None = None,
                     notify_within_days: int = 7) -> list[tuple]:
    """Record new anomalies at or above ``min_severity``; returns (anomaly_key, charge_date, provider_name,
    service_name, severity, suppressed_reason) of the new rows. An anomaly on a day more than
    ``notify_within_days`` days before the latest cost data is recorded as history (never sent)."""
    if min_severity not in SEVERITIES:
        raise ValueError(f"min_severity: expected one of {list(SEVERITIES)}, got {min_severity!r}")
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(ALERTS_DDL)
        _require_relation(cur, "marts.fct_cost_anomalies")
        cur.execute("""
            WITH latest AS (SELECT max(charge_date) AS cost_date FROM marts.fct_cost_anomalies)
            INSERT INTO alerts.cost_anomalies
                (anomaly_key, charge_date, provider_name, sub_account_id, service_name, billing_currency,
                 actual_cost, baseline_cost, deviation_cost, robust_z, severity, detected_at, detected_by,
                 suppressed_reason)
            SELECT a.anomaly_key, a.charge_date, a.provider_name, a.sub_account_id, a.service_name,
                   a.billing_currency, a.actual_cost, a.baseline_cost, a.deviation_cost, a.robust_z, a.severity,
                   %(now)s, %(by)s,
                   CASE WHEN a.charge_date <= latest.cost_date - %(days)s::int
                        THEN 'history: ' || a.charge_date || ' is more than ' || %(days)s::int
                             || ' days before the latest cost data (' || latest.cost_date || ')'
                   END
            FROM marts.fct_cost_anomalies AS a CROSS JOIN latest
            WHERE a.is_anomaly
              AND array_position(%(levels)s::text[], a.severity) >= array_position(%(levels)s::text[], %(min)s)
            ORDER BY a.charge_date, a.provider_name, a.sub_account_id, a.service_name
            ON CONFLICT DO NOTHING
            RETURNING anomaly_key, charge_date, provider_name, service_name, severity, suppressed_reason
        """, {"now": datetime.now(UTC), "by": detected_by, "levels": list(SEVERITIES), "min": min_severity,
              "days": notify_within_days})
        return cur.fetchall()


def detect_load_rejects(conn: Connection, detected_by: str | None = None, notify_within_days: int = 7) -> list[tuple]:
    """Record every load (``ops.loads``, one row per dataset) that rejected records, quoting its first reject from
    ``raw._rejects``; returns (load_id, dataset, source_id, rows_rejected, suppressed_reason) of the new rows. A load
    that finished more than ``notify_within_days`` days before the newest load is history (never sent)."""
    run_log.ensure_tables(conn)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(ALERTS_DDL)
        cur.execute("SELECT to_regclass('raw._rejects') IS NOT NULL")
        first = ("""LEFT JOIN LATERAL (
                        SELECT rj.record_ref, rj.field, rj.reason FROM raw._rejects AS rj
                        WHERE rj._source_id = l.source_id AND rj._batch_id = l.batch_id AND rj.dataset = l.dataset
                        ORDER BY rj.record_ref LIMIT 1) AS r ON true"""
                 if cur.fetchone()[0] else
                 "LEFT JOIN (SELECT NULL::text AS record_ref, NULL::text AS field, NULL::text AS reason) AS r ON true")
        cur.execute(f"""
            WITH newest AS (SELECT max(finished_at) AS at FROM ops.loads)
            INSERT INTO alerts.load_rejects
                (load_id, dataset, source_id, raw_table, window_start, window_end, load_status, rows_loaded,
                 rows_rejected, first_record, first_field, first_reason, finished_at, detected_at, detected_by,
                 suppressed_reason)
            SELECT l.load_id, l.dataset, l.source_id, l.raw_table, l.window_start, l.window_end, l.status,
                   l.rows_loaded, l.rows_rejected, r.record_ref, r.field, r.reason, l.finished_at, %(now)s, %(by)s,
                   CASE WHEN l.finished_at < newest.at - make_interval(days => %(days)s::int)
                        THEN 'history: loaded on ' || l.finished_at::date || ', more than ' || %(days)s::int
                             || ' days before the newest load (' || newest.at::date || ')'
                   END
            FROM ops.loads AS l CROSS JOIN newest
            {first}
            WHERE l.rows_rejected > 0
            ORDER BY l.finished_at, l.load_id, l.dataset
            ON CONFLICT DO NOTHING
            RETURNING load_id, dataset, source_id, rows_rejected, suppressed_reason
        """, {"now": datetime.now(UTC), "by": detected_by, "days": notify_within_days})
        return cur.fetchall()


def detect(cfg: OpenFinOpsConfig, conn: Connection, detected_by: str | None = None) -> Detected:
    """Both detections (budgets, then anomalies at ``cfg.anomalies.alert_min_severity`` or above)."""
    days = cfg.alerts.notify_within_days
    return Detected(detect_budget_crossings(conn, detected_by, days),
                    detect_anomalies(conn, cfg.anomalies.alert_min_severity, detected_by, days),
                    detect_load_rejects(conn, detected_by, days))


# --- delivery ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    channel: str  # "<id> (<type> <redacted target>)"
    alert_type: str
    alert_key: str
    detail: str
    attempts: int


@dataclass
class DeliveryReport:
    sent: list[tuple[str, str, str, int]] = field(default_factory=list)  # alert_type, alert_key, channel_id, attempts
    failures: list[Failure] = field(default_factory=list)
    not_attempted: dict[str, int] = field(default_factory=dict)  # channel id -> messages left for the next run

    def summary(self) -> str:
        lines = [f"sent {t} {k} to {c} ({n} attempt(s))" for t, k, c, n in self.sent]
        lines += [f"FAILED {f.alert_type} {f.alert_key} to {f.channel} after {f.attempts} attempt(s): {f.detail}"
                  for f in self.failures]
        lines.append(f"{len(self.sent)} alert message(s) sent and recorded in alerts.notifications, "
                     f"{len(self.failures)} failed, {sum(self.not_attempted.values())} left for the next run")
        return "\n".join(lines)


class DeliveryError(RuntimeError):
    """Some messages could not be delivered; those that were are recorded. The message names each failed channel,
    the alert and the HTTP status or SMTP reply (no secrets)."""

    def __init__(self, report: DeliveryReport) -> None:
        self.report = report
        parts = []
        for f in report.failures:
            left = report.not_attempted.get(f.channel.split(" ", 1)[0], 0)
            parts.append(f"channel {f.channel}: {f.alert_type} {f.alert_key} not delivered after {f.attempts} "
                         f"attempt(s): {f.detail}" + (f"; {left} more message(s) to this channel left for the next "
                                                      "run" if left else ""))
        super().__init__(f"alert delivery failed for {len(report.failures)} channel(s): " + " | ".join(parts)
                         + f". {len(report.sent)} other message(s) were sent and recorded; the failed ones are "
                           "sent by the next run.")


@dataclass(frozen=True)
class _Pending:
    alert: Alert
    channel_id: str


def _pending(cfg: OpenFinOpsConfig, conn: Connection, channels: ChannelSet) -> list[_Pending]:
    """Every (recorded alert, configured channel) pair without a notification row for the channel's current target,
    oldest alert first. History is never pending, nor is an alert that has become history since it was recorded
    (its period ended, or its day lies, more than ``alerts.notify_within_days`` before the latest cost data): a
    channel pointed at a new target gets the recent alerts, not the past months'."""
    fingerprints = {c: channels[c].fingerprint() for c in {c for b in cfg.budgets for c in b.channels}
                    | set(cfg.anomalies.channels) | set(cfg.data_quality_channels())}
    routes = [(b.id, c, fingerprints[c]) for b in cfg.budgets for c in b.channels]
    days = cfg.alerts.notify_within_days
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"""
            SELECT {_BUDGET_KEY} AS alert_key, c.*, r.channel_id
            FROM alerts.budget_threshold_crossings AS c
            INNER JOIN unnest(%(budgets)s::text[], %(channels)s::text[], %(targets)s::text[])
                AS r (budget_id, channel_id, target_fingerprint)
                ON c.budget_id = r.budget_id
            WHERE c.suppressed_reason IS NULL
              AND c.period_end > coalesce((SELECT max(as_of_date) FROM marts.fct_budget_status) - %(days)s::int,
                                          '-infinity'::date)
              AND NOT EXISTS (SELECT FROM alerts.notifications AS n
                              WHERE n.alert_type = %(type)s AND n.alert_key = {_BUDGET_KEY}
                                AND n.channel_id = r.channel_id
                                AND coalesce(n.target_fingerprint, r.target_fingerprint) = r.target_fingerprint)
            ORDER BY c.detected_at, c.budget_id, c.period_start, c.kind, c.threshold_pct, r.channel_id
        """, {"budgets": [b for b, _, _ in routes], "channels": [c for _, c, _ in routes],
              "targets": [f for _, _, f in routes], "type": BUDGET_THRESHOLD, "days": days})
        budget_rows = cur.fetchall()
        cur.execute("""
            SELECT a.anomaly_key AS alert_key, a.*, r.channel_id
            FROM alerts.cost_anomalies AS a
            CROSS JOIN unnest(%(channels)s::text[], %(targets)s::text[]) AS r (channel_id, target_fingerprint)
            WHERE a.suppressed_reason IS NULL
              AND a.charge_date > coalesce((SELECT max(charge_date) FROM marts.fct_cost_anomalies) - %(days)s::int,
                                           '-infinity'::date)
              AND NOT EXISTS (SELECT FROM alerts.notifications AS n
                              WHERE n.alert_type = %(type)s AND n.alert_key = a.anomaly_key
                                AND n.channel_id = r.channel_id
                                AND coalesce(n.target_fingerprint, r.target_fingerprint) = r.target_fingerprint)
            ORDER BY a.detected_at, a.charge_date, a.anomaly_key, r.channel_id
        """, {"channels": list(cfg.anomalies.channels), "targets": [fingerprints[c] for c in cfg.anomalies.channels],
              "type": COST_ANOMALY, "days": days})
        anomaly_rows = cur.fetchall()
        quality = cfg.data_quality_channels()
        cur.execute("""
            SELECT j.load_id || ':' || j.dataset AS alert_key, j.*, r.channel_id
            FROM alerts.load_rejects AS j
            CROSS JOIN unnest(%(channels)s::text[], %(targets)s::text[]) AS r (channel_id, target_fingerprint)
            WHERE j.suppressed_reason IS NULL
              AND j.finished_at >= coalesce((SELECT max(finished_at) FROM ops.loads)
                                            - make_interval(days => %(days)s::int), '-infinity'::timestamptz)
              AND NOT EXISTS (SELECT FROM alerts.notifications AS n
                              WHERE n.alert_type = %(type)s AND n.alert_key = j.load_id || ':' || j.dataset
                                AND n.channel_id = r.channel_id
                                AND coalesce(n.target_fingerprint, r.target_fingerprint) = r.target_fingerprint)
            ORDER BY j.detected_at, j.finished_at, j.load_id, j.dataset, r.channel_id
        """, {"channels": quality, "targets": [fingerprints[c] for c in quality], "type": LOAD_REJECTS,
              "days": days})
        reject_rows = cur.fetchall()
    pending = [_Pending(_crossing(r), r["channel_id"]) for r in budget_rows]
    pending += [_Pending(_anomaly(r), r["channel_id"]) for r in anomaly_rows]
    pending += [_Pending(_load_rejects(r), r["channel_id"]) for r in reject_rows]
    return pending


def _load_rejects(r: dict[str, Any]) -> LoadRejects:
    return LoadRejects(
        alert_key=r["alert_key"], source_id=r["source_id"], dataset=r["dataset"], raw_table=r["raw_table"],
        window_start=r["window_start"], window_end=r["window_end"], load_status=r["load_status"],
        rows_loaded=r["rows_loaded"], rows_rejected=r["rows_rejected"], first_record=r["first_record"],
        first_field=r["first_field"], first_reason=r["first_reason"], detected_at=r["detected_at"])


def _incidents(pending: list[_Pending]) -> list[_Pending]:
    """The messages to send: anomalies of one provider on one day going to one channel become one incident (the
    lines listed, largest deviation first); a single anomaly stays its own message; budget crossings unchanged."""
    order: list[_Pending | tuple] = []
    groups: dict[tuple, list[CostAnomaly]] = {}
    for item in pending:
        if isinstance(item.alert, CostAnomaly):
            key = (item.channel_id, item.alert.charge_date, item.alert.provider_name)
            if key not in groups:
                groups[key] = []
                order.append(key)
            groups[key].append(item.alert)
        else:
            order.append(item)
    messages_: list[_Pending] = []
    for entry in order:
        if isinstance(entry, _Pending):
            messages_.append(entry)
            continue
        lines = sorted(groups[entry], key=lambda a: (-abs(a.deviation_cost), a.alert_key))
        alert = lines[0] if len(lines) == 1 else AnomalyIncident(incident_key(lines), tuple(lines))
        messages_.append(_Pending(alert, entry[0]))
    return messages_


def _crossing(r: dict[str, Any]) -> BudgetCrossing:
    return BudgetCrossing(
        alert_key=r["alert_key"], budget_id=r["budget_id"], budget_name=r["budget_name"] or r["budget_id"],
        period=r["period"] or "", period_start=r["period_start"], period_end=r["period_end"],
        threshold_pct=r["threshold_pct"], kind=r["kind"], billing_currency=r["billing_currency"],
        budget_amount=r["budget_amount"], actual_cost=r["actual_cost"], utilisation_pct=r["utilisation_pct"],
        forecast_cost=r["forecast_cost"], forecast_utilisation_pct=r["forecast_utilisation_pct"],
        detected_at=r["detected_at"])


def _anomaly(r: dict[str, Any]) -> CostAnomaly:
    return CostAnomaly(
        alert_key=r["alert_key"], charge_date=r["charge_date"], provider_name=r["provider_name"],
        sub_account_id=r["sub_account_id"], service_name=r["service_name"], billing_currency=r["billing_currency"],
        actual_cost=r["actual_cost"], baseline_cost=r["baseline_cost"], deviation_cost=r["deviation_cost"],
        robust_z=r["robust_z"], severity=r["severity"], detected_at=r["detected_at"])


def render(alert: Alert, channel: Channel) -> dict[str, Any]:
    """The payload for ``channel``: the Slack / webhook JSON body, or the e-mail's headers and text. It is what
    is sent and what ``alerts.notifications.payload`` keeps."""
    if channel.type == "slack":
        return messages.slack_payload(alert)
    if channel.type == "webhook":
        return messages.webhook_payload(alert)
    subject, body = messages.email_content(alert)
    return {"from": channel.from_address(), "to": list(channel.config.to or []), "subject": subject, "body": body,
            "message_id": messages.message_id(alert, channel.id)}


def _send_with_retries(channel: Channel, alert: Alert, payload: dict[str, Any], policy: RetryPolicy,
                       sleep: Callable[[float], None]) -> int:
    """Send one message; returns the number of attempts it took. Raises the last :class:`SendError`."""
    attempts = policy.max_retries + 1
    for attempt in range(1, attempts + 1):
        try:
            channel.send(payload)
            return attempt
        except SendError as exc:
            exc.attempts = attempt
            if not exc.retryable or attempt == attempts:
                raise
            wait = exc.retry_after if exc.retry_after is not None else policy.backoff(attempt - 1)
            if wait > policy.max_seconds:
                exc.detail += f" (asked to wait {wait:.0f} s, more than the {policy.max_seconds:.0f} s limit)"
                raise
            log.warning("alert %s %s to channel %s: attempt %d of %d failed (%s); retrying in %.1f s",
                        alert.alert_type, alert.alert_key, channel.describe(), attempt, attempts, exc.detail, wait)
            sleep(wait)
    raise AssertionError("unreachable")


def _record(conn: Connection, alert: Alert, channel: Channel, payload: dict[str, Any], attempts: int,
            sent_by: str | None) -> None:
    """One row per alert the message carried (an incident: one per anomaly line, the same payload), one transaction."""
    keys = [line.alert_key for line in alert.lines] if isinstance(alert, AnomalyIncident) else [alert.alert_key]
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany("""
            INSERT INTO alerts.notifications
                (alert_type, alert_key, channel_id, channel_type, target, sent_at, attempts, payload, sent_by,
                 target_fingerprint)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT DO NOTHING
        """, [(alert.alert_type, key, channel.id, channel.type, channel.target, datetime.now(UTC), attempts,
               Jsonb(payload), sent_by, channel.fingerprint()) for key in keys])


def _record_failure(conn: Connection, alert: Alert, channel: Channel, failure: Failure, sent_by: str | None) -> None:
    """One row in alerts.delivery_failures (own transaction; redacted target and error). Never hides the delivery
    error: if the row cannot be written, that is logged and delivery goes on."""
    try:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("""
                INSERT INTO alerts.delivery_failures
                    (alert_type, alert_key, channel_id, channel_type, target, failed_at, attempts, error, sent_by)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
            """, (alert.alert_type, alert.alert_key, channel.id, channel.type, channel.target, datetime.now(UTC),
                  failure.attempts, run_log.redact_error(failure.detail), sent_by))
    except Exception:  # the failure is in the report and the DeliveryError either way
        log.exception("could not record the failed delivery of %s %s to channel %s in alerts.delivery_failures",
                      alert.alert_type, alert.alert_key, failure.channel)


def _mark_delivered(cfg: OpenFinOpsConfig, conn: Connection, channels: ChannelSet) -> None:
    """``delivered_at`` = when the last of the alert's currently configured channels got it (NULL while any has
    not, or when it has no channel)."""
    remaining = {(p.alert.alert_type, p.alert.alert_key) for p in _pending(cfg, conn, channels)}
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(f"""
            SELECT {_BUDGET_KEY}, max(n.sent_at) FROM alerts.budget_threshold_crossings AS c
            INNER JOIN alerts.notifications AS n ON n.alert_type = %s AND n.alert_key = {_BUDGET_KEY}
            WHERE c.delivered_at IS NULL GROUP BY 1
        """, (BUDGET_THRESHOLD,))
        budget_done = [(at, key) for key, at in cur.fetchall() if (BUDGET_THRESHOLD, key) not in remaining]
        cur.execute("""
            SELECT a.anomaly_key, max(n.sent_at) FROM alerts.cost_anomalies AS a
            INNER JOIN alerts.notifications AS n ON n.alert_type = %s AND n.alert_key = a.anomaly_key
            WHERE a.delivered_at IS NULL GROUP BY 1
        """, (COST_ANOMALY,))
        anomaly_done = [(at, key) for key, at in cur.fetchall() if (COST_ANOMALY, key) not in remaining]
        cur.executemany(f"UPDATE alerts.budget_threshold_crossings AS c SET delivered_at = %s "
                        f"WHERE {_BUDGET_KEY} = %s", budget_done)
        cur.executemany("UPDATE alerts.cost_anomalies SET delivered_at = %s WHERE anomaly_key = %s", anomaly_done)
        cur.execute("""
            SELECT j.load_id || ':' || j.dataset, max(n.sent_at) FROM alerts.load_rejects AS j
            INNER JOIN alerts.notifications AS n ON n.alert_type = %s AND n.alert_key = j.load_id || ':' || j.dataset
            WHERE j.delivered_at IS NULL GROUP BY 1
        """, (LOAD_REJECTS,))
        rejects_done = [(at, key) for key, at in cur.fetchall() if (LOAD_REJECTS, key) not in remaining]
        cur.executemany("UPDATE alerts.load_rejects SET delivered_at = %s WHERE load_id || ':' || dataset = %s",
                        rejects_done)


def deliver(cfg: OpenFinOpsConfig, conn: Connection, sent_by: str | None = None, *,
            policy: RetryPolicy = DEFAULT_RETRY_POLICY, sleep: Callable[[float], None] = time.sleep,
            channels: ChannelSet | None = None) -> DeliveryReport:
    """Send every recorded alert not yet sent to each of its channels (see the module docstring for the guarantee).
    Returns the report; raises :class:`DeliveryError` (after sending everything else) when a message failed.

    ``conn`` must not be inside a transaction: each sent message is committed on its own."""
    if not conn.autocommit and conn.info.transaction_status != pq.TransactionStatus.IDLE:
        raise ValueError("deliver() needs a connection outside a transaction: each sent message is committed on "
                         "its own, right after the send")
    channels = channels or ChannelSet.from_config(list(cfg.alert_channels))
    report = DeliveryReport()
    ensure_tables(conn)
    with channels.redactor.installed(), _deliver_lock(conn):
        down: dict[str, Failure] = {}
        for item in _incidents(_pending(cfg, conn, channels)):
            channel = channels[item.channel_id]
            if channel.id in down:
                report.not_attempted[channel.id] = report.not_attempted.get(channel.id, 0) + 1
                continue
            try:
                payload = render(item.alert, channel)
                attempts = _send_with_retries(channel, item.alert, payload, policy, sleep)
            except SendError as exc:
                failure = Failure(channel.describe(), item.alert.alert_type, item.alert.alert_key,
                                  channels.redactor.redact(exc.detail), exc.attempts)
                log.error("alert %s %s to channel %s failed after %d attempt(s): %s; no more messages to this "
                          "channel in this run", failure.alert_type, failure.alert_key, failure.channel,
                          failure.attempts, failure.detail)
                down[channel.id] = failure
                report.failures.append(failure)
                _record_failure(conn, item.alert, channel, failure, sent_by)
                continue
            # Sent: record it before anything else happens (if this fails, stop: see the module docstring).
            _record(conn, item.alert, channel, payload, attempts, sent_by)
            report.sent.append((item.alert.alert_type, item.alert.alert_key, channel.id, attempts))
            log.info("alert %s %s sent to channel %s (%d attempt(s))", item.alert.alert_type, item.alert.alert_key,
                     channel.describe(), attempts)
        _mark_delivered(cfg, conn, channels)
    if report.failures:
        raise DeliveryError(report)
    return report


@contextmanager
def _deliver_lock(conn: Connection) -> Iterator[None]:
    """Session-level advisory lock: one deliverer at a time per warehouse (a second one waits, then finds the first
    one's rows and sends nothing twice)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (_DELIVER_LOCK,))
    try:
        yield
    finally:
        if not conn.closed and conn.info.transaction_status == pq.TransactionStatus.IDLE:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (_DELIVER_LOCK,))
        # otherwise the session is lost or broken: closing it releases the lock
