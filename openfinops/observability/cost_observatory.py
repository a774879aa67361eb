"""Cost tracking and budgets: ``Budget`` and ``CostObservatory`` (the original names), over the dbt marts.

Money is ``Decimal`` in its billing currency; currencies are never added together.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from openfinops import _marts

# provider names as the original API wrote them -> FOCUS ProviderName in the marts
PROVIDER_NAMES = {"aws": "AWS", "amazon": "AWS", "azure": "Microsoft Azure", "microsoft": "Microsoft Azure",
                  "gcp": "Google Cloud", "google": "Google Cloud", "databricks": "Databricks",
                  "snowflake": "Snowflake"}
PERIODS = {"monthly": "monthly", "month": "monthly", "quarterly": "quarterly", "quarter": "quarterly",
           "annual": "annual", "yearly": "annual", "year": "annual"}
# Budget.scope keys -> config.api_budgets scope columns (singular or plural, as in config/openfinops.yaml)
SCOPE_KEYS = {"provider": "scope_providers", "providers": "scope_providers",
              "billing_account_id": "scope_billing_account_ids", "billing_account_ids": "scope_billing_account_ids",
              "account_id": "scope_sub_account_ids", "sub_account_id": "scope_sub_account_ids",
              "sub_account_ids": "scope_sub_account_ids", "service": "scope_services", "services": "scope_services",
              "service_category": "scope_service_categories", "service_categories": "scope_service_categories",
              "source": "scope_sources", "sources": "scope_sources", "team": "scope_teams", "teams": "scope_teams",
              "environment": "scope_environments", "environments": "scope_environments"}
SCOPE_COLUMNS = ("scope_providers", "scope_billing_account_ids", "scope_sub_account_ids", "scope_services",
                 "scope_service_categories", "scope_sources", "scope_teams", "scope_environments")
# the same dimensions in marts.fct_cost_daily (sources are not there)
COST_DAILY_DIMENSIONS = {"scope_providers": "provider_name", "scope_billing_account_ids": "billing_account_id",
                         "scope_sub_account_ids": "sub_account_id", "scope_services": "service_name",
                         "scope_service_categories": "service_category", "scope_teams": "team",
                         "scope_environments": "environment"}


@dataclass
class Budget:
    """A spending budget (the original fields). ``amount_usd`` is per period (``Decimal`` or a number, stored as
    ``numeric``, USD); ``period`` monthly / quarterly / annual (``yearly`` accepted); ``start_time`` Unix seconds
    (or a datetime): its UTC month is the first month of quarterly / annual periods; ``scope`` e.g.
    ``{"provider": "aws", "tags": {"team": "ml-research"}}`` (keys as in the config file's budget scopes, singular
    or plural); ``alert_threshold`` a fraction (0.8 = alert at 80 %)."""

    budget_id: str
    name: str
    amount_usd: Decimal | float | int
    period: str
    start_time: float | datetime
    scope: dict[str, Any] = field(default_factory=dict)
    alert_threshold: float = 0.8


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, (list, tuple, set)) else [str(value)]


def budget_row(budget: Budget) -> dict[str, Any]:
    """The ``config.api_budgets`` row of a budget (shaped like ``config.budgets``, plus the original fields)."""
    from psycopg.types.json import Jsonb

    period = PERIODS.get(str(budget.period).lower())
    if period is None:
        raise ValueError(f"period {budget.period!r}: the marts know monthly, quarterly and annual budgets")
    amount = Decimal(str(budget.amount_usd))
    if amount <= 0:
        raise ValueError("amount_usd must be > 0")
    threshold = Decimal(str(budget.alert_threshold))
    if not 0 < threshold <= 10:
        raise ValueError("alert_threshold is a fraction of the amount, e.g. 0.8")
    start = budget.start_time if isinstance(budget.start_time, datetime) \
        else datetime.fromtimestamp(float(budget.start_time), UTC)
    if start.tzinfo is None:
        raise ValueError("start_time: a datetime needs a UTC offset")
    start = start.astimezone(UTC)
    row: dict[str, Any] = {c: None for c in SCOPE_COLUMNS}
    tags = None
    for key, value in (budget.scope or {}).items():
        if key == "tags":
            if not isinstance(value, dict):
                raise ValueError("scope.tags: a mapping of tag key -> value(s)")
            tags = {k.strip().lower(): [v.strip().lower() for v in _as_list(vals)] for k, vals in value.items()}
            continue
        column = SCOPE_KEYS.get(key)
        if column is None:
            raise ValueError(f"scope key {key!r} unknown (known: {sorted(SCOPE_KEYS)} and tags)")
        values = _as_list(value)
        if column == "scope_providers":
            values = [PROVIDER_NAMES.get(v.lower(), v) for v in values]
        if column in ("scope_teams", "scope_environments"):
            values = [v.strip().lower() for v in values]
        row[column] = sorted(set((row[column] or []) + values))
    return {"budget_id": budget.budget_id, "budget_name": budget.name, "amount": amount, "currency": "USD",
            "period": period, "start_month": start.month if period != "monthly" else 1,
            "thresholds": sorted({int(threshold * 100), 100}), "forecast_thresholds": [100], "channels": [],
            **row, "scope_tags": Jsonb(tags) if tags is not None else None, "start_time": start,
            "alert_threshold": threshold,
            "scope_original": Jsonb(json.loads(json.dumps(budget.scope or {}, default=str)))}


class CostObservatory:
    """Costs from ``marts.fct_cost_daily`` and budgets from ``marts.fct_budget_status``.

    ``collection_interval`` is kept for compatibility: costs are collected by the Airflow collectors and the agents,
    not by this object.
    """

    def __init__(self, collection_interval: float = 3600, warehouse_url: str | None = None) -> None:
        self.collection_interval = collection_interval
        self.warehouse_url = _marts.resolve_url(warehouse_url)

    # -- budgets --------------------------------------------------------------------------------------------------
    def create_budget(self, budget: Budget) -> dict[str, Any]:
        """Store (or replace: upsert on ``budget_id``) a budget in ``config.api_budgets`` and return its row.

        The table has the columns of ``config.budgets`` (budget_id, budget_name, amount, currency = USD, period,
        start_month, thresholds = {alert_threshold x 100, 100}, forecast_thresholds, channels, scope_* arrays,
        scope_tags) so the dbt layer can union it, plus start_time, alert_threshold, scope_original, created_at,
        updated_at. **On an id clash the config file's budget wins**: ``config.budgets`` (from
        config/openfinops.yaml) is what ``marts.fct_budget_status`` and :meth:`get_budget_status` report for that id.
        """
        row = budget_row(budget)
        now = datetime.now(UTC)
        columns = list(row) + ["created_at", "updated_at"]
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in ("budget_id", "created_at"))
        with _marts.connect(self.warehouse_url) as conn:
            _marts.ensure_api_tables(conn)
            with conn.transaction():
                conn.execute(f"""
                    INSERT INTO config.api_budgets ({", ".join(columns)})
                    VALUES ({", ".join(["%s"] * len(columns))})
                    ON CONFLICT (budget_id) DO UPDATE SET {updates}""", [*row.values(), now, now])
        return self.get_budget(budget.budget_id)

    def get_budget(self, budget_id: str) -> dict[str, Any] | None:
        """The stored ``config.api_budgets`` row of a budget created with :meth:`create_budget` (else ``None``)."""
        if not _marts.relation_exists(self.warehouse_url, "config.api_budgets"):
            return None
        rows = _marts.query(self.warehouse_url, "SELECT * FROM config.api_budgets WHERE budget_id = %s",
                            (budget_id,))
        return rows[0] if rows else None

    def get_budget_status(self) -> dict[str, dict[str, Any]]:
        """{budget_id: info} for the current period of every budget (the latest ``period_start`` per budget in
        ``marts.fct_budget_status``). Keys: ``name``, ``amount`` (``budget_amount``), ``spent`` (``actual_cost``,
        effective cost), ``currency``, ``status`` (ok / warning / forecast_exceeded / exceeded), ``utilization``
        (``utilisation_pct``, percent), ``forecast`` (``forecast_cost`` to period end), ``forecast_utilization``,
        ``period``, ``period_start``, ``period_end`` (exclusive), ``as_of_date``, ``is_within_budget``,
        ``source``. Money is ``Decimal``.

        Budgets created with :meth:`create_budget` that the marts do not know yet (the transform has not run since,
        or dbt does not read ``config.api_budgets`` yet) are listed with ``"source": "config.api_budgets (not yet
        transformed)"``: ``spent`` is then Σ ``effective_cost`` of ``marts.fct_cost_daily`` over the current period
        when the scope can be evaluated there (providers, accounts, services, categories, teams, environments, and
        the tag ``team`` = the mart's ``team``), else ``None``; ``forecast`` is ``None`` and ``status`` uses the
        utilisation bands only. A config-file budget with the same id wins (the API one is not listed).
        """
        url = self.warehouse_url
        rows = _marts.query(url, """
            SELECT DISTINCT ON (budget_id) budget_id, budget_name, period, period_start, period_end, billing_currency,
                   budget_amount, actual_cost, utilisation_pct, status, forecast_cost, forecast_utilisation_pct,
                   as_of_date, is_within_budget, is_period_closed, highest_threshold_crossed
            FROM marts.fct_budget_status ORDER BY budget_id, period_start DESC""")
        out: dict[str, dict[str, Any]] = {}
        for r in rows:
            out[r["budget_id"]] = {
                "name": r["budget_name"], "amount": r["budget_amount"], "spent": r["actual_cost"],
                "currency": r["billing_currency"], "status": r["status"], "utilization": r["utilisation_pct"],
                "forecast": r["forecast_cost"], "forecast_utilization": r["forecast_utilisation_pct"],
                "period": r["period"], "period_start": r["period_start"], "period_end": r["period_end"],
                "as_of_date": r["as_of_date"], "is_within_budget": r["is_within_budget"],
                "highest_threshold_crossed": r["highest_threshold_crossed"], "source": "marts.fct_budget_status"}
        config_ids = set()
        if _marts.relation_exists(url, "config.budgets"):
            config_ids = {r["budget_id"] for r in _marts.query(url, "SELECT budget_id FROM config.budgets")}
        if _marts.relation_exists(url, "config.api_budgets"):
            for b in _marts.query(url, "SELECT * FROM config.api_budgets ORDER BY budget_id"):
                if b["budget_id"] in out or b["budget_id"] in config_ids:
                    continue
                out[b["budget_id"]] = self._provisional_status(b)
        return out

    def _provisional_status(self, b: dict[str, Any]) -> dict[str, Any]:
        latest = _marts.query(self.warehouse_url, "SELECT max(charge_date) AS d FROM marts.fct_cost_daily")[0]["d"]
        info: dict[str, Any] = {"name": b["budget_name"], "amount": b["amount"], "spent": None,
                                "currency": b["currency"], "status": "unknown", "utilization": None,
                                "forecast": None, "forecast_utilization": None, "period": b["period"],
                                "period_start": None, "period_end": None, "as_of_date": latest,
                                "is_within_budget": None, "source": "config.api_budgets (not yet transformed)"}
        if latest is None:
            return info
        months = {"monthly": 1, "quarterly": 3, "annual": 12}[b["period"]]
        offset = (latest.month - b["start_month"]) % months
        first = _add_months(latest.replace(day=1), -offset)
        info["period_start"], info["period_end"] = first, _add_months(first, months)
        tags = b["scope_tags"] or {}
        if b["scope_sources"] or set(tags) - {"team"}:
            return info  # not expressible on fct_cost_daily: no number rather than a wrong one
        where, params = ["charge_date >= %s", "charge_date <= %s", "billing_currency = %s"], [first, latest,
                                                                                             b["currency"]]
        for column, dim in COST_DAILY_DIMENSIONS.items():
            if b[column] is not None:
                lowered = column in ("scope_teams", "scope_environments")
                where.append(f"{'lower(' + dim + ')' if lowered else dim} = ANY(%s)")
                params.append(b[column])
        if "team" in tags:
            where.append("team = ANY(%s)")
            params.append(tags["team"])
        spent = _marts.query(self.warehouse_url, f"""SELECT coalesce(sum(effective_cost), 0) AS spent
            FROM marts.fct_cost_daily WHERE {" AND ".join(where)}""", params)[0]["spent"]
        utilization = (spent / b["amount"] * 100).quantize(Decimal("0.01"))
        info.update(spent=spent, utilization=utilization,
                    status="exceeded" if utilization >= 100 else "warning" if utilization >= 80 else "ok")
        return info

    # -- costs ----------------------------------------------------------------------------------------------------
    def get_cost_summary(self, time_range_hours: int = 24, as_of: date | None = None) -> dict[str, Any]:
        """Effective cost over the whole UTC days covering the last ``time_range_hours`` up to ``as_of`` (default:
        the latest ``charge_date`` in ``marts.fct_cost_daily`` - bills arrive a day or more late, so "now" would
        usually show nothing): ceil(hours / 24) days ending on that day.

        Returns ``total_cost``, ``by_provider``, ``by_service`` (``Decimal``, Σ ``effective_cost``), ``currency``,
        ``period_start`` / ``period_end`` (UTC datetimes, end exclusive), ``days``, ``billed_cost``,
        ``totals_by_currency`` and ``source``; providers and services are ordered by cost, largest first. With
        several currencies nothing is added across them:
        ``currency`` is the list of codes and ``total_cost`` / ``by_provider`` / ``by_service`` are keyed by currency
        first (``{"USD": Decimal, "EUR": Decimal}``, ``{"USD": {"AWS": ...}}``). No cost in the range:
        ``total_cost`` 0 and ``currency`` ``None``.
        """
        if time_range_hours <= 0:
            raise ValueError("time_range_hours must be > 0")
        if as_of is None:
            as_of = _marts.query(self.warehouse_url,
                                 "SELECT max(charge_date) AS d FROM marts.fct_cost_daily")[0]["d"] \
                or datetime.now(UTC).date()
        days = -(-int(time_range_hours) // 24)
        first = as_of - timedelta(days=days - 1)
        rows = _marts.query(self.warehouse_url, """
            SELECT billing_currency, provider_name, service_name, sum(effective_cost) AS effective_cost,
                   sum(billed_cost) AS billed_cost
            FROM marts.fct_cost_daily WHERE charge_date BETWEEN %s AND %s
            GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""", (first, as_of))
        totals: dict[str, Decimal] = defaultdict(Decimal)
        billed: dict[str, Decimal] = defaultdict(Decimal)
        providers: dict[str, Any] = defaultdict(lambda: defaultdict(Decimal))
        services: dict[str, Any] = defaultdict(lambda: defaultdict(Decimal))
        for r in rows:
            cur = r["billing_currency"]
            totals[cur] += r["effective_cost"]
            billed[cur] += r["billed_cost"]
            providers[cur][r["provider_name"]] += r["effective_cost"]
            services[cur][r["service_name"]] += r["effective_cost"]
        providers = {c: _by_cost(v) for c, v in providers.items()}
        services = {c: _by_cost(v) for c, v in services.items()}
        out: dict[str, Any] = {
            "period_start": datetime.combine(first, time(), UTC),
            "period_end": datetime.combine(as_of + timedelta(days=1), time(), UTC), "days": days,
            "totals_by_currency": dict(totals), "source": "marts.fct_cost_daily (effective_cost)"}
        if len(totals) <= 1:
            cur = next(iter(totals), None)
            out.update(total_cost=totals.get(cur, Decimal(0)), currency=cur,
                       billed_cost=billed.get(cur, Decimal(0)),
                       by_provider=dict(providers.get(cur, {})), by_service=dict(services.get(cur, {})))
        else:
            out.update(total_cost=dict(totals), currency=sorted(totals), billed_cost=dict(billed),
                       by_provider={c: dict(v) for c, v in providers.items()},
                       by_service={c: dict(v) for c, v in services.items()})
        return out

    # -- writes ---------------------------------------------------------------------------------------------------
    def track_cloud_cost(self, provider: str, service: str, cost: Decimal | int | float | str,
                         region: str | None = None, *, currency: str = "USD", timestamp: datetime | float | None = None,
                         account_id: str | None = None, **resource: Any) -> dict[str, Any]:
        """Store one cost record (the guide's "Complete Example": ``track_cloud_cost(provider='azure', service='vm',
        cost=vm['cost_per_hour'], vm_name=vm['name'])``) in ``raw.telemetry_cost_records``.

        ``cost`` is kept exact: a ``Decimal`` (or int, or decimal string) digit for digit, a float by its shortest
        repr (``0.1`` -> ``0.1``); non-finite values and booleans are refused. ``currency`` is explicit (ISO 4217,
        default USD: the agents' ``cost_per_hour`` estimates are USD list prices). ``provider`` is written as the
        marts name it (``aws`` -> AWS, ``azure`` -> Microsoft Azure, ``gcp`` -> Google Cloud; others as given).
        ``timestamp`` (default now, UTC) is the record's time. The resource keywords (``instance_id=...``,
        ``vm_name=...``) become tags; ``resource_id`` is the ``resource_id`` keyword, else the only resource keyword.

        Where it goes, exactly as :meth:`LLMObservabilityHub.collect_llm_training_metrics`: through the ingest server
        when ``OPENFINOPS_ENDPOINT`` / ``OPENFINOPS_API_KEY`` / ``OPENFINOPS_AGENT_ID`` are set (a refusal raises
        ``IngestError``), else straight into the warehouse (``store_batch``, agent id ``python-api``). Returns
        ``{"record": <the record as stored, cost a Decimal>, "batch_id", "agent_id", "via", "stored"}``."""
        import uuid

        from openfinops.observability.llm_observability import DIRECT_AGENT_ID, LLMObservabilityHub

        if isinstance(cost, bool) or not isinstance(cost, (Decimal, int, float, str)):
            raise ValueError(f"cost: expected a Decimal, a number or a decimal string, got {cost!r}")
        try:
            amount = Decimal(repr(cost)) if isinstance(cost, float) else Decimal(str(cost).strip())
        except ArithmeticError:
            raise ValueError(f"cost: not a decimal amount: {cost!r}") from None
        if not amount.is_finite():
            raise ValueError(f"cost: not a finite amount: {cost!r}")
        if not (isinstance(currency, str) and len(currency) == 3 and currency.isalpha() and currency.isupper()):
            raise ValueError(f"currency: an ISO 4217 code such as 'USD', got {currency!r}")
        if not provider or not service:
            raise ValueError("provider and service are required")
        when = datetime.now(UTC) if timestamp is None else timestamp
        if isinstance(when, datetime):
            if when.tzinfo is None:
                raise ValueError("timestamp: a datetime needs a UTC offset")
            when = when.astimezone(UTC).isoformat()
        resource_id = resource.get("resource_id")
        if resource_id is None and len(resource) == 1:
            resource_id = next(iter(resource.values()))
        record: dict[str, Any] = {
            "timestamp": when, "provider": PROVIDER_NAMES.get(str(provider).lower(), str(provider)),
            "service": str(service), "cost": format(amount, "f"), "currency": currency, "region": region,
            "account_id": account_id, "resource_id": None if resource_id is None else str(resource_id),
            "tags": {"source": "track_cloud_cost", "provider_as_given": str(provider),
                     **{str(k): (v if isinstance(v, (str, int, float, bool)) or v is None else str(v))
                        for k, v in resource.items()}}}
        hub = LLMObservabilityHub(warehouse_url=self.warehouse_url)
        batch = {"agent_id": hub.agent_id or DIRECT_AGENT_ID, "batch_id": f"cost-{uuid.uuid4().hex}",
                 "sent_at": datetime.now(UTC).isoformat(), "cost_records": [record]}
        stored_record = {**record, "cost": amount}
        if hub.endpoint:
            return {"record": stored_record, **hub._post(batch)}
        from openfinops.server import schema, store

        body = json.dumps(batch, sort_keys=True).encode()
        checked = schema.decode(body)
        with _marts.connect(self.warehouse_url) as conn:
            store.ensure_tables(conn)
            store.store_batch(conn, batch["agent_id"], checked, store.body_hash(body))
        return {"record": stored_record, "batch_id": batch["batch_id"], "agent_id": batch["agent_id"],
                "via": "warehouse", "stored": True}


def _by_cost(costs: dict[str, Decimal]) -> dict[str, Decimal]:
    return dict(sorted(costs.items(), key=lambda item: (-item[1], item[0])))


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)
