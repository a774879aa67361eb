"""An OpenFinOps source type shipped outside the repository: FOCUS cost lines from a vendor's paged HTTP JSON API.

Installed next to OpenFinOps (``pip install ./examples/openfinops-collector-example``), its entry point
(``openfinops.collectors``: ``example_focus_api``) makes the type known; no DAG, loader or registry change.
Because the records are FOCUS columns, they land in the shared ``raw.focus_cost_line_items`` and reach
``int_focus_costs`` and every mart through the existing FOCUS models: no dbt change either.

The API (an example of the shape many SaaS billing APIs have)::

    GET {base_url}/v1/focus-cost-lines?billing_period=2026-10   Authorization: Bearer <token>
    -> {"data": [{"BilledCost": 12.5, "BillingPeriodStart": "2026-10-01T00:00:00Z", ...}, ...],
        "next": "<absolute URL of the next page>" | null}

Options: ``base_url`` (required), ``focus_version`` (auto|1.0..1.3). Credentials: the source's ``connection_id``
names an Airflow connection whose password is the API token (only read when a window is collected).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from collectors.core.base import Collector, CollectorError, Dataset, Reject, Window
from collectors.core.focus_schema import FOCUS_COST_LINE_ITEMS, FocusReader, billing_periods, check_focus_version
from collectors.core.http_retry import PageGuard, RetryingHttp


class FocusApiCollector(Collector):
    type = "example_focus_api"
    default_close_days = 3  # the vendor restates the previous month for a few days after it ends

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        base_url = self.options.get("base_url")
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"source {self.source_id}: options.base_url: expected an http(s) URL, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.focus_version = check_focus_version(self)

    def datasets(self) -> tuple[Dataset, ...]:
        return (FOCUS_COST_LINE_ITEMS,)

    def align_window(self, window: Window) -> Window:
        return window.months()  # the API answers per billing period: a run replaces whole months

    def collect(self, dataset: Dataset, window: Window) -> Iterator[tuple | Reject]:
        import requests

        session = self.clients.get("session") or requests.Session()
        http = RetryingHttp(session, self.source_id)
        token = self._token()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        for period in billing_periods(window):
            url: str | None = f"{self.base_url}/v1/focus-cost-lines"
            params: dict[str, str] | None = {"billing_period": period}
            guard = PageGuard(self.source_id, f"focus-cost-lines {period}")
            page = 0
            while url:
                page += 1
                response = http.request("GET", url, params=params, headers=headers,
                                        operation=f"focus-cost-lines {period} page {page}")
                try:
                    body = json.loads(response.text, parse_float=Decimal)
                except json.JSONDecodeError as exc:
                    raise CollectorError(f"source {self.source_id}: page {page} of {period} is not JSON: "
                                         f"{exc.msg} at character {exc.pos}") from None
                if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                    raise CollectorError(f"source {self.source_id}: page {page} of {period}: expected an "
                                         f"object with a 'data' list, got {str(body)[:200]!r}")
                reader = FocusReader(f"{self.base_url}/v1/focus-cost-lines?billing_period={period}&page={page}",
                                     focus_version=self.focus_version, window=window, source_id=self.source_id)
                yield from reader.read_objects(body["data"])
                url, params = body.get("next"), None
                if url:
                    guard.next(url, page)

    def _token(self) -> str | None:
        if "token" in self.clients:
            return self.clients["token"]
        if not self.connection_id:
            return None
        from airflow.providers.http.hooks.http import HttpHook

        return HttpHook.get_connection(self.connection_id).password
