"""Agents that run the SAME collectors as the DAGs (``collectors.sources.*``) and push what they yield.

Each cycle collects the last ``lookback_days`` whole UTC days (default 3; widened by the collector's
``align_window`` the way the loader widens it, e.g. to whole invoice months), reads every dataset completely
(a collection that fails half way pushes nothing of that dataset), maps each record to batch records
(:meth:`CollectorAgent.to_records`) and spools one batch per source, dataset and window. Its ``batch_id`` is derived
from the records, so an unchanged re-pull is stored once by the server; a restated window comes as a new batch
(the newest batch of an agent, source and window is the current picture of that window).

Rejects (records the collector could not parse) are logged by field and reason, never pushed.

**Missing is not zero.** The AWS, Azure and GCP agents' ``collect_*`` methods (the original guide's) return dicts
whose values may be missing: a metric the monitoring service (CloudWatch, Azure Monitor, Cloud Monitoring) has no
datapoint for in the window, or a price estimate the agent's list-price table does not know. Each gives such a value
as the one :data:`UNAVAILABLE`: a falsy singleton that formats as ``n/a`` with any format spec (so the guide's
``f"{x:.1f}"`` prints ``n/a``) and refuses arithmetic and comparison (``TypeError``), so it is never silently taken
for a number (``nan`` would print and compare quietly; ``None`` would crash the guide's format strings). It is never
pushed, and ``CostObservatory.track_cloud_cost`` refuses it (``ValueError``). Test with ``value is UNAVAILABLE``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from agents.base import RECORD_LISTS, TelemetryAgent, content_id
from collectors.core.base import Collector, Dataset, Reject, Window

log = logging.getLogger("agents")


class _Unavailable:
    """See :data:`UNAVAILABLE`."""

    _instance: _Unavailable | None = None
    __slots__ = ()

    def __new__(cls) -> _Unavailable:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNAVAILABLE"

    def __str__(self) -> str:
        return "n/a"

    def __format__(self, spec: str) -> str:
        return "n/a"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "UNAVAILABLE"  # pickles as this module's singleton


UNAVAILABLE = _Unavailable()
"""A value an agent could not read: a metric with no datapoint in the window, or a price not in the agent's
list-price table. Not zero, not a number: prints ``n/a`` (under any format spec), is falsy, and raises ``TypeError``
on arithmetic and comparison. Never pushed."""


class CollectorAgent(TelemetryAgent):
    """Subclasses implement :meth:`make_collectors` and :meth:`to_records`."""

    def __init__(self, openfinops_endpoint: str, *, lookback_days: int = 3, now: Any = None, **kwargs: Any) -> None:
        super().__init__(openfinops_endpoint, **kwargs)
        if not isinstance(lookback_days, int) or lookback_days < 1:
            raise ValueError(f"lookback_days: expected an integer >= 1, got {lookback_days!r}")
        self.lookback_days = lookback_days
        self._now = now  # tests: a fixed clock (callable returning an aware datetime)
        self._collectors: list[tuple[str, Collector]] | None = None

    # -- what subclasses provide -------------------------------------------------------------------------------------
    def make_collectors(self) -> list[tuple[str, Collector]]:
        """(source name, collector) pairs, with their vendor clients built from this agent's credentials."""
        raise NotImplementedError

    def to_records(self, source: str, dataset: Dataset, row: dict[str, Any]) -> Mapping[str, list[dict]]:
        """Batch records (``{"cost_records": [...], "metrics": [...]}``) for one collector record (as a dict)."""
        raise NotImplementedError

    def wanted(self, source: str, dataset: Dataset) -> bool:
        """Whether a dataset of the source is read at all (default: every dataset the collector has)."""
        return True

    #: the metric services each cycle reads beside the costs (the original telemetry.yaml's ``<provider>.services``)
    services: tuple[str, ...] = ()

    def service_readers(self) -> Mapping[str, Callable[[], tuple[Any, list[dict]]]]:
        """Service name -> a reader returning (what the guide's method returns, its ``metrics`` records)."""
        return {}

    def service_scope(self) -> str:
        """What the services' batch ids are scoped by (the region, the subscription, the project)."""
        return ""

    # -- the cycle ---------------------------------------------------------------------------------------------------
    def window(self) -> Window:
        now = self._now() if callable(self._now) else datetime.now(UTC)
        today = now.astimezone(UTC).date()
        return Window.from_dates(today - timedelta(days=self.lookback_days), today)

    def sources(self) -> list[tuple[str, Collector]]:
        """The collectors, built once (on the first cycle: credentials are read only when collecting)."""
        if self._collectors is None:
            self._collectors = self.make_collectors()
        return self._collectors

    def collect(self) -> Iterator[tuple[str | None, Mapping[str, Any]]]:
        requested = self.window()
        failed: list[str] = []
        try:
            sources = self.sources()
        except Exception as exc:  # e.g. credentials the vendor SDK refuses: the services may still go out
            log.error("%s: collectors not built: %s: %s", self.agent_type, type(exc).__name__, str(exc)[:500])
            failed.append("collectors")
            sources = []
        for source, collector in sources:
            window = collector.align_window(requested)
            for dataset in collector.datasets():
                if not self.wanted(source, dataset):
                    continue
                try:
                    batch = self._read(source, collector, dataset, window)
                except Exception as exc:  # one source failing does not stop the others
                    log.error("%s %s %s: collection failed: %s: %s", source, dataset.name, window,
                              type(exc).__name__, str(exc)[:500])
                    failed.append(f"{source}.{dataset.name}")
                    continue
                prefix = f"{self.agent_type}-{source}-{dataset.name}-{window.start:%Y%m%d}-{window.end:%Y%m%d}"
                yield content_id(prefix, batch), batch
        readers = self.service_readers()
        for service in self.services:  # then the metrics of each service; one failing does not stop the others
            try:
                _, records = readers[service]()
            except Exception as exc:  # e.g. AccessDenied / AuthorizationFailed: logged, the cycle counts as failed
                log.error("%s: %s metrics failed: %s: %s", self.agent_type, service, type(exc).__name__,
                          str(exc)[:500])
                failed.append(service)
                continue
            if records:
                batch = {"metrics": records}
                yield content_id(f"{self.agent_type}-{service}-{self.service_scope()}", batch), batch
        if failed:
            raise RuntimeError(f"collection failed for {', '.join(failed)} (the others were pushed)")

    def _read(self, source: str, collector: Collector, dataset: Dataset, window: Window) -> dict[str, list]:
        batch: dict[str, list] = {kind: [] for kind in RECORD_LISTS}
        rows = rejects = 0
        for item in collector.collect(dataset, window):
            if isinstance(item, Reject):
                rejects += 1
                if rejects <= 5:
                    log.warning("%s %s: record %s rejected: %s: %s", source, dataset.name, item.record_ref,
                                item.field, item.reason[:200])
                continue
            rows += 1
            for kind, records in self.to_records(source, dataset, dict(zip(dataset.column_names, item,
                                                                           strict=True))).items():
                batch[kind].extend(records)
        log.info("%s %s %s: %d record(s), %d reject(s) -> %s", source, dataset.name, window, rows, rejects,
                 ", ".join(f"{len(v)} {k}" for k, v in batch.items() if v) or "nothing to push")
        return {k: v for k, v in batch.items() if v}


def metric(name: str, value: Any, when: Any, unit: str | None = None, **labels: Any) -> dict[str, Any]:
    """One ``metrics`` record (value kept exact: a Decimal is sent digit for digit)."""
    return {"timestamp": when, "name": name, "value": value, "unit": unit,
            "labels": {k: v for k, v in labels.items() if v is not None}}


def tags(**values: Any) -> dict[str, Any]:
    """Cost record tags: scalars only, None dropped, at most 50 (the schema's limit)."""
    out = {k: (str(v) if not isinstance(v, (str, int, float, bool)) else v) for k, v in values.items()
           if v is not None}
    return dict(list(out.items())[:50])


def ranked(costs: dict[Any, Decimal]) -> dict[Any, Decimal]:
    """Largest cost first (ties by key)."""
    return dict(sorted(costs.items(), key=lambda item: (-item[1], str(item[0]))))


def by_currency(by: dict[str, dict[str, dict[Any, Decimal]]], ranked_keys: tuple[str, ...]) -> dict[str, Any]:
    """What the guide's cost methods return (``get_cost_management_data``, ``get_billing_data``): ``total`` /
    ``currency`` / the ``by_*`` maps (``by_day`` in date order, ``ranked_keys`` largest first) of one currency, or each
    keyed by currency when there are several (amounts in different currencies are never added)."""
    shaped = {cur: {key: (ranked(values) if key in ranked_keys else dict(sorted(values.items())))
                    for key, values in maps.items()} for cur, maps in by.items()}
    totals = {cur: sum(maps["by_day"].values(), Decimal(0)) for cur, maps in shaped.items()}
    keys = (*ranked_keys, "by_day")
    if len(shaped) <= 1:
        cur = next(iter(shaped), None)
        return {"total": totals.get(cur, Decimal(0)), "currency": cur,
                **{k: shaped.get(cur, {}).get(k, {}) for k in keys}}
    return {"total": totals, "currency": sorted(shaped),
            **{k: {cur: maps.get(k, {}) for cur, maps in shaped.items()} for k in keys}}


def checked_services(services: Iterable[str] | None, known: Iterable[str], default: Iterable[str] = ()
                     ) -> tuple[str, ...]:
    """A ``services`` argument checked against ``known`` (None: ``default``)."""
    known = tuple(known)
    if isinstance(services, str):
        raise ValueError(f"services: expected a list of some of {list(known)}, got the string {services!r}")
    chosen = tuple(dict.fromkeys(default if services is None else services))
    unknown = [s for s in chosen if s not in known]
    if unknown:
        raise ValueError(f"services {unknown}: expected some of {list(known)}")
    return chosen
