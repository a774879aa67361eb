"""Role dashboards of the original API (``CFODashboard``, ``COODashboard``, ``InfrastructureLeaderDashboard``),
computed from the dbt marts. Each report names the mart and column behind every figure in ``sources`` and explains
missing figures in ``notes``: a figure the marts do not have is ``None``, never an estimate.

Percentages are ``Decimal`` with 2 decimals; money is ``Decimal`` in ``currency`` (never added across currencies:
with several currencies the single-currency figures are ``None`` and the per-currency dicts carry the values).
The interactive dashboards themselves are in Superset (``/dashboard/cfo`` etc. on the ingest server redirect there).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from openfinops import _marts
from openfinops.hub import ObservabilityHub

CENT = Decimal("0.01")
WINDOW_DAYS = 30


def _mean(weighted: list[Decimal]) -> Decimal | None:
    total, weight = weighted
    return (total / weight).quantize(CENT) if weight else None


def _pct(part: Decimal | None, whole: Decimal | None) -> Decimal | None:
    if part is None or not whole:
        return None
    return (Decimal(part) / Decimal(whole) * 100).quantize(CENT)


class _Dashboard:
    def __init__(self, hub: ObservabilityHub | None = None) -> None:
        self.hub = hub or ObservabilityHub()

    def _q(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        return _marts.query(self.hub.warehouse_url, sql, params)


@dataclass
class FinancialReport:
    total_spend: Decimal | None
    currency: str | None
    ai_ml_roi: Decimal | None
    budget_utilization: Decimal | None
    period_start: date | None = None
    as_of_date: date | None = None
    spend_by_currency: dict[str, Decimal] = field(default_factory=dict)
    prior_month_to_date_spend: Decimal | None = None
    month_over_month_change_pct: Decimal | None = None
    forecast_month_end: Decimal | None = None
    ai_ml_spend: Decimal | None = None
    ai_ml_share_pct: Decimal | None = None
    ai_ml_roi_month: date | None = None
    budgets: dict[str, dict[str, Any]] = field(default_factory=dict)
    budgets_exceeded: int = 0
    budgets_at_risk: int = 0
    notes: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)


class CFODashboard(_Dashboard):
    def generate_financial_report(self) -> FinancialReport:
        """Month-to-date finance figures, as of the latest ``charge_date`` in the cost marts.

        - ``total_spend``: ``marts.fct_cost_period_comparison.mtd_effective_cost`` of the 'All providers' row
          (effective cost from the 1st of the current month through ``as_of_date``); also
          ``prior_month_to_date_spend`` (``prior_mtd_effective_cost``) and ``month_over_month_change_pct``
          (``mtd_change_pct``).
        - ``forecast_month_end``: ``marts.fct_cost_forecast.forecast_cost``, 'All providers', current month.
        - ``ai_ml_spend`` / ``ai_ml_share_pct``: ``marts.fct_ai_ml_spend_monthly`` current month.
        - ``ai_ml_roi``: ``marts.fct_ai_ml_roi_monthly.roi_pct``, 'all teams' row of the latest month with a
          configured value (``ai_ml_roi_month``); ``None`` with a note when no value is configured (``ai_ml.value``).
        - ``budget_utilization``: Σ ``actual_cost`` / Σ ``budget_amount`` x 100 over the current period of every
          budget in ``marts.fct_budget_status`` in the report's currency (the amount-weighted mean utilisation);
          ``budgets`` lists each one (``utilisation_pct``, ``status``), ``budgets_exceeded`` / ``budgets_at_risk``
          count status 'exceeded' / 'forecast_exceeded' or 'warning'.
        """
        notes: list[str] = []
        rows = self._q("""SELECT billing_currency, current_month, as_of_date, mtd_effective_cost,
                                 prior_mtd_effective_cost, mtd_change_pct
                          FROM marts.fct_cost_period_comparison WHERE is_total ORDER BY billing_currency""")
        by_currency = {r["billing_currency"]: r for r in rows}
        currency = next(iter(by_currency)) if len(by_currency) == 1 else None
        if len(by_currency) > 1:
            notes.append(f"costs in {len(by_currency)} currencies ({', '.join(by_currency)}): not added together; "
                         "see spend_by_currency")
        if not by_currency:
            notes.append("no cost data in marts.fct_cost_period_comparison")
        main = by_currency.get(currency) if currency else None
        report = FinancialReport(
            total_spend=main["mtd_effective_cost"] if main else None, currency=currency, ai_ml_roi=None,
            budget_utilization=None, period_start=main["current_month"] if main else None,
            as_of_date=main["as_of_date"] if main else None,
            spend_by_currency={c: r["mtd_effective_cost"] for c, r in by_currency.items()},
            prior_month_to_date_spend=main["prior_mtd_effective_cost"] if main else None,
            month_over_month_change_pct=main["mtd_change_pct"] if main else None, notes=notes,
            sources={"total_spend": "marts.fct_cost_period_comparison.mtd_effective_cost (is_total)",
                     "forecast_month_end": "marts.fct_cost_forecast.forecast_cost ('All providers')",
                     "ai_ml_spend": "marts.fct_ai_ml_spend_monthly.ai_ml_effective_cost",
                     "ai_ml_roi": "marts.fct_ai_ml_roi_monthly.roi_pct ('all teams')",
                     "budget_utilization": "marts.fct_budget_status: sum(actual_cost) / sum(budget_amount) x 100, "
                                           "current period per budget"})
        if main:
            forecast = self._q("""SELECT forecast_cost FROM marts.fct_cost_forecast
                                  WHERE is_total AND billing_currency = %s AND forecast_month = %s""",
                               (currency, main["current_month"]))
            report.forecast_month_end = forecast[0]["forecast_cost"] if forecast else None
            spend = self._q("""SELECT ai_ml_effective_cost, ai_ml_share_pct FROM marts.fct_ai_ml_spend_monthly
                               WHERE billing_currency = %s AND charge_month = %s""",
                            (currency, main["current_month"]))
            if spend:
                report.ai_ml_spend, report.ai_ml_share_pct = spend[0]["ai_ml_effective_cost"], \
                    spend[0]["ai_ml_share_pct"]
            roi = self._q("""SELECT charge_month, roi_pct FROM marts.fct_ai_ml_roi_monthly
                             WHERE is_all_teams AND billing_currency = %s AND value_status = 'configured'
                             ORDER BY charge_month DESC LIMIT 1""", (currency,))
            if roi:
                report.ai_ml_roi, report.ai_ml_roi_month = roi[0]["roi_pct"], roi[0]["charge_month"]
            else:
                report.notes.append("AI/ML ROI not configured: add the business value under ai_ml.value in "
                                    "config/openfinops.yaml (marts.fct_ai_ml_roi_monthly says 'not configured')")
        budgets = self._q("""SELECT DISTINCT ON (budget_id) budget_id, budget_name, billing_currency, budget_amount,
                                    actual_cost, utilisation_pct, forecast_cost, status, period_start
                             FROM marts.fct_budget_status ORDER BY budget_id, period_start DESC""")
        report.budgets = {b["budget_id"]: b for b in budgets}
        report.budgets_exceeded = sum(b["status"] == "exceeded" for b in budgets)
        report.budgets_at_risk = sum(b["status"] in ("forecast_exceeded", "warning") for b in budgets)
        same = [b for b in budgets if b["billing_currency"] == currency]
        if same:
            report.budget_utilization = _pct(sum(b["actual_cost"] for b in same),
                                             sum(b["budget_amount"] for b in same))
        else:
            report.notes.append("no budget in the report's currency in marts.fct_budget_status")
        return report


@dataclass
class OperationalMetrics:
    sla_compliance: Decimal | None
    operational_efficiency: Decimal | None
    pipeline_success_rate: Decimal | None = None
    budget_adherence: Decimal | None = None
    sources_within_sla: int = 0
    sources_total: int = 0
    sla_as_of: date | None = None
    efficiency_period: tuple[date, date] | None = None
    pipeline_period: tuple[date, date] | None = None
    notes: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)


class COODashboard(_Dashboard):
    def get_operational_metrics(self, days: int = WINDOW_DAYS) -> OperationalMetrics:
        """Operations figures.

        - ``sla_compliance``: share of configured sources within their freshness SLA now: the ``is_current`` rows
          of ``marts.fct_data_health_daily``, count(``is_within_sla``) / count(*) x 100.
        - ``operational_efficiency``: the utilisation-weighted share of cluster spend, Σ ``utilised_cost`` /
          Σ ``effective_cost`` x 100 of ``marts.fct_cluster_efficiency_daily`` over the last ``days`` days up to
          its latest ``metric_date`` (``None`` with a note when the clusters bill in several currencies).
        - ``pipeline_success_rate``: Σ ``runs_succeeded`` / Σ (``runs_succeeded`` + ``runs_failed``) x 100 of
          ``marts.fct_pipeline_runs_daily`` over the last ``days`` days up to its latest ``run_date``.
        - ``budget_adherence``: share of budgets whose current period ``is_within_budget``
          (``marts.fct_budget_status``).
        """
        notes: list[str] = []
        sla = self._q("""SELECT count(*) AS total, count(*) FILTER (WHERE is_within_sla) AS within,
                                max(health_date) AS as_of
                         FROM marts.fct_data_health_daily WHERE is_current""")[0]
        if not sla["total"]:
            notes.append("no load attempts yet: marts.fct_data_health_daily is empty")
        eff = self._q("""SELECT billing_currency, sum(utilised_cost) AS utilised, sum(effective_cost) AS effective,
                                min(metric_date) AS first, max(metric_date) AS last
                         FROM marts.fct_cluster_efficiency_daily
                         WHERE metric_date > (SELECT max(metric_date) FROM marts.fct_cluster_efficiency_daily) - %s
                         GROUP BY billing_currency""", (days,))
        efficiency = None
        if len(eff) == 1:
            efficiency = _pct(eff[0]["utilised"], eff[0]["effective"])
        elif len(eff) > 1:
            notes.append("cluster costs in several currencies: operational_efficiency not computed")
        else:
            notes.append("no cluster cost in marts.fct_cluster_efficiency_daily")
        runs = self._q("""SELECT sum(runs_succeeded) AS ok, sum(runs_succeeded + runs_failed) AS done,
                                 min(run_date) AS first, max(run_date) AS last
                          FROM marts.fct_pipeline_runs_daily
                          WHERE run_date > (SELECT max(run_date) FROM marts.fct_pipeline_runs_daily) - %s""",
                       (days,))[0]
        budgets = self._q("""SELECT count(*) AS total, count(*) FILTER (WHERE is_within_budget) AS within
                             FROM (SELECT DISTINCT ON (budget_id) is_within_budget FROM marts.fct_budget_status
                                   ORDER BY budget_id, period_start DESC) AS current_periods""")[0]
        return OperationalMetrics(
            sla_compliance=_pct(sla["within"], sla["total"]), operational_efficiency=efficiency,
            pipeline_success_rate=_pct(runs["ok"], runs["done"]),
            budget_adherence=_pct(budgets["within"], budgets["total"]),
            sources_within_sla=sla["within"], sources_total=sla["total"], sla_as_of=sla["as_of"],
            efficiency_period=(eff[0]["first"], eff[0]["last"]) if len(eff) == 1 else None,
            pipeline_period=(runs["first"], runs["last"]) if runs["first"] else None, notes=notes,
            sources={"sla_compliance": "marts.fct_data_health_daily.is_within_sla (is_current rows)",
                     "operational_efficiency": "marts.fct_cluster_efficiency_daily: sum(utilised_cost) / "
                                               "sum(effective_cost) x 100",
                     "pipeline_success_rate": "marts.fct_pipeline_runs_daily: sum(runs_succeeded) / "
                                              "sum(runs_succeeded + runs_failed) x 100",
                     "budget_adherence": "marts.fct_budget_status.is_within_budget (current period)"})


@dataclass
class ResourceUtilization:
    cpu_percent: Decimal | None
    memory_percent: Decimal | None
    storage_percent: Decimal | None
    gpu_percent: Decimal | None = None
    metric_date: date | None = None
    clusters: int = 0
    healthy_clusters: int = 0
    nodes: int = 0
    healthy_nodes: int = 0
    by_cluster: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)


class InfrastructureLeaderDashboard(_Dashboard):
    def get_resource_utilization(self) -> ResourceUtilization:
        """Utilisation on the latest ``metric_date`` of ``marts.fct_cluster_health_daily``.

        ``cpu_percent`` / ``memory_percent`` / ``gpu_percent``: the clusters' ``avg_cpu_utilization_pct`` /
        ``avg_memory_utilization_pct`` / ``avg_gpu_utilization_pct`` averaged weighted by ``nodes_reporting``
        (clusters without a Ready sample left out), 2 decimals. ``storage_percent`` is ``None``: no mart measures
        storage utilisation (a note says so). ``by_cluster`` has each cluster's row; ``clusters`` /
        ``healthy_clusters`` / ``nodes`` / ``healthy_nodes`` count ``status`` and ``nodes`` / ``healthy_nodes``.
        """
        rows = self._q("""SELECT cluster_id, metric_date, status, nodes, healthy_nodes, nodes_reporting,
                                 avg_cpu_utilization_pct, avg_gpu_utilization_pct, avg_memory_utilization_pct
                          FROM marts.fct_cluster_health_daily
                          WHERE metric_date = (SELECT max(metric_date) FROM marts.fct_cluster_health_daily)
                          ORDER BY cluster_id""")
        sums: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
        for r in rows:
            for key, column in (("cpu", "avg_cpu_utilization_pct"), ("gpu", "avg_gpu_utilization_pct"),
                                ("memory", "avg_memory_utilization_pct")):
                if r[column] is not None and r["nodes_reporting"]:
                    sums[key][0] += r[column] * r["nodes_reporting"]
                    sums[key][1] += r["nodes_reporting"]
        notes = ["storage_percent: no mart measures storage utilisation (node metrics carry CPU, GPU and memory "
                 "only), so it is None rather than an estimate"]
        if not rows:
            notes.append("no node metrics in marts.fct_cluster_health_daily")
        return ResourceUtilization(
            cpu_percent=_mean(sums["cpu"]) if "cpu" in sums else None,
            memory_percent=_mean(sums["memory"]) if "memory" in sums else None,
            storage_percent=None,
            gpu_percent=_mean(sums["gpu"]) if "gpu" in sums else None,
            metric_date=rows[0]["metric_date"] if rows else None, clusters=len(rows),
            healthy_clusters=sum(r["status"] == "healthy" for r in rows), nodes=sum(r["nodes"] for r in rows),
            healthy_nodes=sum(r["healthy_nodes"] for r in rows), by_cluster={r["cluster_id"]: r for r in rows},
            notes=notes,
            sources={"cpu_percent": "marts.fct_cluster_health_daily.avg_cpu_utilization_pct (latest day, "
                                    "weighted by nodes_reporting)",
                     "memory_percent": "marts.fct_cluster_health_daily.avg_memory_utilization_pct (same)",
                     "gpu_percent": "marts.fct_cluster_health_daily.avg_gpu_utilization_pct (same)",
                     "storage_percent": "none: no mart has storage utilisation"})
