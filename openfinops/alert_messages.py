"""What an alert says, per channel type: Slack (``text`` + Block Kit ``blocks``), generic webhook (flat JSON) and
e-mail (subject + plain-text body).

Rendered from the alert as it was *recorded* (``alerts.budget_threshold_crossings`` / ``alerts.cost_anomalies``),
so a message says what was true when the threshold was crossed, whatever the marts say later. Amounts are in the
budget's or the cost line's ``billing_currency``; people get them rounded to cents with thousands separators, the
webhook gets the exact warehouse ``numeric`` values as strings (a JSON number would turn them into floats).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

BUDGET_THRESHOLD = "budget_threshold"
COST_ANOMALY = "cost_anomaly"
LOAD_REJECTS = "load_rejects"
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class BudgetCrossing:
    """A recorded (budget, period, threshold, kind) crossing. ``kind`` is ``actual`` (spend so far reached
    ``threshold_pct`` % of ``budget_amount``) or ``forecast`` (the projected spend to period end did, while actual
    spend had not). ``period_end`` is exclusive (the next period's first day), as in ``marts.fct_budget_status``."""

    alert_key: str
    budget_id: str
    budget_name: str
    period: str
    period_start: date
    period_end: date
    threshold_pct: int
    kind: str
    billing_currency: str
    budget_amount: Decimal
    actual_cost: Decimal
    utilisation_pct: Decimal
    forecast_cost: Decimal | None
    forecast_utilisation_pct: Decimal | None
    detected_at: datetime

    alert_type = BUDGET_THRESHOLD


@dataclass(frozen=True)
class CostAnomaly:
    """A recorded daily cost anomaly (``marts.fct_cost_anomalies``): ``actual_cost`` on ``charge_date`` against the
    robust ``baseline_cost``; ``deviation_cost`` = actual - baseline."""

    alert_key: str  # the mart's anomaly_key
    charge_date: date
    provider_name: str
    sub_account_id: str | None
    service_name: str | None
    billing_currency: str
    actual_cost: Decimal
    baseline_cost: Decimal | None
    deviation_cost: Decimal
    robust_z: Decimal | None
    severity: str
    detected_at: datetime

    alert_type = COST_ANOMALY


@dataclass(frozen=True)
class AnomalyIncident:
    """Several recorded anomalies of one provider on one day (a spike split over sub accounts x services): sent as
    one message listing the lines, largest deviation first. ``alert_key`` names the incident and its lines (a line
    recorded later makes a new, smaller incident message); each line's own key is what
    ``alerts.notifications`` records."""

    alert_key: str
    lines: tuple[CostAnomaly, ...]

    alert_type = COST_ANOMALY

    @property
    def charge_date(self) -> date:
        return self.lines[0].charge_date

    @property
    def provider_name(self) -> str:
        return self.lines[0].provider_name

    @property
    def severity(self) -> str:
        order = ("low", "medium", "high", "critical")
        return max((line.severity for line in self.lines), key=lambda s: order.index(s) if s in order else -1)

    @property
    def detected_at(self) -> datetime:
        return max(line.detected_at for line in self.lines)

    @property
    def billing_currency(self) -> str:
        return ", ".join(sorted({line.billing_currency for line in self.lines}))

    def deviations(self) -> str:
        """The total deviation per currency ('1,234.00 USD, 10.00 EUR')."""
        totals: dict[str, Decimal] = {}
        for line in self.lines:
            totals[line.billing_currency] = totals.get(line.billing_currency, Decimal(0)) + line.deviation_cost
        return ", ".join(money(amount, currency) for currency, amount in sorted(totals.items()))


def incident_key(lines: list[CostAnomaly]) -> str:
    import hashlib

    digest = hashlib.sha256("|".join(sorted(line.alert_key for line in lines)).encode()).hexdigest()[:12]
    return f"incident:{lines[0].provider_name}:{lines[0].charge_date.isoformat()}:{len(lines)}:{digest}"


@dataclass(frozen=True)
class LoadRejects:
    """A load (one source, window and dataset) that rejected records: they are in ``raw._rejects``; the first one is
    quoted. ``load_status`` 'failed' means the load was refused (too many rejects) and the window kept its rows."""

    alert_key: str  # load_id:dataset
    source_id: str
    dataset: str
    raw_table: str
    window_start: datetime
    window_end: datetime
    load_status: str
    rows_loaded: int
    rows_rejected: int
    first_record: str | None
    first_field: str | None
    first_reason: str | None
    detected_at: datetime

    alert_type = LOAD_REJECTS
    billing_currency = ""


Alert = BudgetCrossing | CostAnomaly | AnomalyIncident | LoadRejects


def money(amount: Decimal | None, currency: str) -> str:
    if amount is None:
        return "n/a"
    return f"{amount.quantize(_CENT, rounding=ROUND_HALF_UP):,} {currency}"


def percent(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{value.quantize(_CENT, rounding=ROUND_HALF_UP)}%"


def _exact(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def period_label(alert: BudgetCrossing) -> str:
    last_day = alert.period_end - timedelta(days=1)
    return f"{alert.period_start.isoformat()} to {last_day.isoformat()} ({alert.period})"


def title(alert: Alert) -> str:
    if isinstance(alert, LoadRejects):
        verb = "refused" if alert.load_status == "failed" else "loaded"
        return f"Rejected records: source {alert.source_id}, {alert.rows_rejected} record(s) ({verb})"
    if isinstance(alert, AnomalyIncident):
        return (f"Cost anomaly ({alert.severity}): {len(alert.lines)} cost lines on {alert.provider_name}, "
                f"{alert.charge_date.isoformat()}")
    if isinstance(alert, BudgetCrossing):
        if alert.kind == "forecast":
            return f"Budget {alert.budget_name!r} is forecast to reach {alert.threshold_pct}%"
        return f"Budget {alert.budget_name!r} reached {alert.threshold_pct}%"
    what = alert.service_name or "(no service)"
    return f"Cost anomaly ({alert.severity}): {what} on {alert.provider_name}, {alert.charge_date.isoformat()}"


def summary(alert: Alert) -> str:
    if isinstance(alert, LoadRejects):
        window = f"{alert.window_start.date().isoformat()} to {alert.window_end.date().isoformat()} (exclusive)"
        outcome = ("The load was refused: the window keeps its previous rows." if alert.load_status == "failed"
                   else f"The other {alert.rows_loaded} record(s) were loaded.")
        first = (f" First: {alert.first_record}, field {alert.first_field}: {alert.first_reason}."
                 if alert.first_record else "")
        return (f"Source {alert.source_id} rejected {alert.rows_rejected} record(s) of {alert.dataset} for "
                f"{window}. {outcome}{first} All of them are in raw._rejects.")
    if isinstance(alert, AnomalyIncident):
        top = alert.lines[0]
        return (f"{len(alert.lines)} cost lines of {alert.provider_name} on {alert.charge_date.isoformat()} are "
                f"off their baselines, {alert.deviations()} in all. The largest: {top.service_name or '(no service)'}"
                f" in sub account {top.sub_account_id or 'n/a'}, {money(top.actual_cost, top.billing_currency)} "
                f"against a baseline of {money(top.baseline_cost, top.billing_currency)} (severity {top.severity}).")
    if isinstance(alert, BudgetCrossing):
        budget = money(alert.budget_amount, alert.billing_currency)
        if alert.kind == "forecast":
            return (f"Forecast spend to the end of the period of "
                    f"{money(alert.forecast_cost, alert.billing_currency)} is "
                    f"{percent(alert.forecast_utilisation_pct)} of the {budget} budget {alert.budget_name!r} for "
                    f"{period_label(alert)}: the {alert.threshold_pct}% forecast threshold is crossed. Actual spend "
                    f"so far: {money(alert.actual_cost, alert.billing_currency)} "
                    f"({percent(alert.utilisation_pct)}).")
        return (f"Actual spend of {money(alert.actual_cost, alert.billing_currency)} is "
                f"{percent(alert.utilisation_pct)} of the {budget} budget {alert.budget_name!r} for "
                f"{period_label(alert)}: the {alert.threshold_pct}% threshold is crossed.")
    direction = "above" if alert.deviation_cost >= 0 else "below"
    z = "n/a" if alert.robust_z is None else str(alert.robust_z)
    return (f"{alert.service_name or '(no service)'} in {alert.provider_name} sub account "
            f"{alert.sub_account_id or 'n/a'} cost {money(alert.actual_cost, alert.billing_currency)} on "
            f"{alert.charge_date.isoformat()}, {money(abs(alert.deviation_cost), alert.billing_currency)} "
            f"{direction} its baseline of {money(alert.baseline_cost, alert.billing_currency)} "
            f"(robust z-score {z}, severity {alert.severity}).")


def facts(alert: Alert) -> list[tuple[str, str]]:
    """Label/value pairs shown as Slack fields and e-mail lines."""
    if isinstance(alert, LoadRejects):
        return [("Source", alert.source_id), ("Dataset", f"{alert.dataset} (raw.{alert.raw_table})"),
                ("Window", f"{alert.window_start.isoformat()} to {alert.window_end.isoformat()}"),
                ("Load", alert.load_status), ("Rejected", str(alert.rows_rejected)),
                ("Loaded", str(alert.rows_loaded)),
                ("First reject",
                 f"{alert.first_record or 'n/a'} {alert.first_field or ''}: {alert.first_reason or ''}")]
    if isinstance(alert, AnomalyIncident):  # one per line, largest deviation first (Slack shows the first 10)
        return [(f"{line.service_name or '(no service)'} / {line.sub_account_id or 'n/a'}",
                 f"{money(line.actual_cost, line.billing_currency)} vs "
                 f"{money(line.baseline_cost, line.billing_currency)} ({line.severity})") for line in alert.lines]
    if isinstance(alert, BudgetCrossing):
        cur = alert.billing_currency
        return [
            ("Budget", f"{alert.budget_name} ({alert.budget_id})"),
            ("Period", period_label(alert)),
            ("Threshold", f"{alert.threshold_pct}% ({alert.kind})"),
            ("Budget amount", money(alert.budget_amount, cur)),
            ("Actual spend", f"{money(alert.actual_cost, cur)} ({percent(alert.utilisation_pct)})"),
            ("Forecast to period end",
             f"{money(alert.forecast_cost, cur)} ({percent(alert.forecast_utilisation_pct)})"),
        ]
    cur = alert.billing_currency
    return [
        ("Provider", alert.provider_name),
        ("Sub account", alert.sub_account_id or "n/a"),
        ("Service", alert.service_name or "(no service)"),
        ("Charge date", alert.charge_date.isoformat()),
        ("Actual cost", money(alert.actual_cost, cur)),
        ("Baseline cost", money(alert.baseline_cost, cur)),
        ("Deviation", money(alert.deviation_cost, cur)),
        ("Severity", f"{alert.severity} (robust z-score {'n/a' if alert.robust_z is None else alert.robust_z})"),
    ]


def _mrkdwn(text: str) -> str:
    """Slack's three control characters (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(alert: Alert) -> dict[str, Any]:
    """Incoming-webhook body: ``text`` (notifications and clients without blocks) and ``blocks``."""
    return {
        "text": f"{title(alert)}. {summary(alert)}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title(alert)[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _mrkdwn(summary(alert))}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{label}*\n{_mrkdwn(value)}"}
                                           for label, value in facts(alert)][:10]},
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": _mrkdwn(f"OpenFinOps {alert.alert_type} {alert.alert_key}")}]},
        ],
    }


def webhook_payload(alert: Alert) -> dict[str, Any]:
    """Flat JSON: the alert type and key (a receiver's de-duplication key), the alert's fields, amounts as exact
    decimal strings, ``currency``, and ``title`` / ``summary`` for display."""
    common = {"source": "openfinops", "alert_type": alert.alert_type, "alert_key": alert.alert_key,
              "title": title(alert), "summary": summary(alert), "currency": alert.billing_currency,
              "detected_at": alert.detected_at.isoformat()}
    if isinstance(alert, LoadRejects):
        return {**common,
                "source_id": alert.source_id, "dataset": alert.dataset, "raw_table": alert.raw_table,
                "window_start": alert.window_start.isoformat(), "window_end": alert.window_end.isoformat(),
                "load_status": alert.load_status, "rows_loaded": alert.rows_loaded,
                "rows_rejected": alert.rows_rejected, "first_record": alert.first_record,
                "first_field": alert.first_field, "first_reason": alert.first_reason}
    if isinstance(alert, AnomalyIncident):
        return {**common,
                "incident": True, "charge_date": alert.charge_date.isoformat(), "provider_name": alert.provider_name,
                "severity": alert.severity, "anomaly_keys": [line.alert_key for line in alert.lines],
                "lines": [{"anomaly_key": line.alert_key, "sub_account_id": line.sub_account_id,
                           "service_name": line.service_name, "severity": line.severity,
                           "currency": line.billing_currency, "actual_cost": _exact(line.actual_cost),
                           "baseline_cost": _exact(line.baseline_cost), "deviation_cost": _exact(line.deviation_cost),
                           "robust_z": _exact(line.robust_z)} for line in alert.lines]}
    if isinstance(alert, BudgetCrossing):
        return {**common,
                "budget_id": alert.budget_id, "budget_name": alert.budget_name, "period": alert.period,
                "period_start": alert.period_start.isoformat(), "period_end": alert.period_end.isoformat(),
                "kind": alert.kind, "threshold_pct": alert.threshold_pct,
                "budget_amount": _exact(alert.budget_amount), "actual_cost": _exact(alert.actual_cost),
                "utilisation_pct": _exact(alert.utilisation_pct), "forecast_cost": _exact(alert.forecast_cost),
                "forecast_utilisation_pct": _exact(alert.forecast_utilisation_pct)}
    return {**common,
            "anomaly_key": alert.alert_key, "charge_date": alert.charge_date.isoformat(),
            "provider_name": alert.provider_name, "sub_account_id": alert.sub_account_id,
            "service_name": alert.service_name, "severity": alert.severity,
            "actual_cost": _exact(alert.actual_cost), "baseline_cost": _exact(alert.baseline_cost),
            "deviation_cost": _exact(alert.deviation_cost), "robust_z": _exact(alert.robust_z)}


def email_content(alert: Alert) -> tuple[str, str]:
    """(subject, plain-text body)."""
    width = max(len(label) for label, _ in facts(alert))
    lines = [summary(alert), ""]
    lines += [f"{label + ':':<{width + 1}} {value}" for label, value in facts(alert)]
    lines += ["", f"Alert: {alert.alert_type} {alert.alert_key}",
              "Sent once per alert and channel by OpenFinOps (alerts.notifications)."]
    return f"[OpenFinOps] {title(alert)}", "\n".join(lines) + "\n"


def message_id(alert: Alert, channel_id: str) -> str:
    """A stable Message-ID: the same alert to the same channel always has the same one."""
    import hashlib

    digest = hashlib.sha256(f"{alert.alert_type}|{alert.alert_key}|{channel_id}".encode()).hexdigest()[:32]
    return f"<{digest}.{alert.alert_type}@openfinops>"
