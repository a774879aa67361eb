"""A local Datadog Usage Metering API v2: `GET /api/v2/usage/historical_cost` and `.../estimated_cost`
(`view`, `start_month`, `end_month`) -> `{"data": [{"type": "cost_by_org", "id", "attributes": {...}}]}` in the shape
of Datadog's published example (../shared/data/vendor-api; its "number" placeholders replaced by numbers, as the
example's own caveat says), DD-API-KEY / DD-APPLICATION-KEY checked, and a 429 with Datadog's X-RateLimit-*
headers on demand."""

from __future__ import annotations

import copy
import json
import threading
from decimal import Decimal
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.conftest import SHARED_DATA
from tests.fakes.json_http import JsonHandler

VENDOR_EXAMPLE = SHARED_DATA / "vendor-api" / "datadog-estimated-cost.json"
API_KEY, APP_KEY = "dd-api-key", "dd-application-key-never-logged"


def cost_entry(month: str, charges: list[tuple[str, str, str]]) -> dict:
    """The vendor example's entry for ``month`` (YYYY-MM) with ``charges`` as (product, charge type, cost text);
    numbers are written as JSON numbers with exactly those digits (see ``dumps``)."""
    entry = copy.deepcopy(json.loads(VENDOR_EXAMPLE.read_text())["data"][0])
    attrs = entry["attributes"]
    attrs.update({"date": f"{month}-01T00:00:00.000Z", "org_name": "Acme", "public_id": "abcdef12345",
                  "account_name": "Acme", "account_public_id": "abcdef12345", "region": "eu", "id": "abcdef12345"})
    attrs["charges"] = [{"charge_type": t, "cost": Decimal(c) if c[0].isdigit() else c, "product_name": p}
                        for p, t, c in charges]
    totals = [Decimal(c) for _, t, c in charges if t == "total"]
    attrs["total_cost"] = sum(totals, Decimal(0))
    entry["id"] = "abcdef12345"
    return entry


def dumps(value) -> str:
    """JSON with Decimal written as a number of exactly its digits."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


class DatadogApi:
    def __init__(self) -> None:
        self.historical: dict[str, list[dict]] = {}  # YYYY-MM -> data entries
        self.estimated: dict[str, list[dict]] = {}
        self.requests: list[str] = []
        self.throttle = 0
        api = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                api.requests.append(f"{url.path.rsplit('/', 1)[-1]} {query.get('start_month', ['?'])[0][:7]}")
                if (self.headers.get("DD-API-KEY"), self.headers.get("DD-APPLICATION-KEY")) != (API_KEY, APP_KEY):
                    return self._send(403, '{"errors": ["Forbidden"]}')
                if api.throttle:
                    api.throttle -= 1
                    return self._send(429, '{"errors": ["Too many requests"]}', {
                        "X-RateLimit-Limit": "12", "X-RateLimit-Period": "60", "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset": "1"})
                source = {"/api/v2/usage/historical_cost": api.historical,
                          "/api/v2/usage/estimated_cost": api.estimated}.get(url.path)
                if source is None:
                    return self._send(404, '{"errors": ["Not found"]}')
                month = query["start_month"][0][:7]
                self._send(200, dumps({"data": source.get(month, [])}))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self) -> DatadogApi:
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


OCTOBER = [("infra_host", "committed", "1200.00"), ("infra_host", "on_demand", "345.67"),
           ("infra_host", "total", "1545.67"), ("apm_host", "committed", "800"), ("apm_host", "on_demand", "0.5"),
           ("apm_host", "total", "800.5"), ("logs_indexed", "on_demand", "n/a")]
NOVEMBER_ESTIMATE = [("infra_host", "committed", "600"), ("infra_host", "on_demand", "99.99"),
                     ("infra_host", "total", "699.99")]


def standard_api(api: DatadogApi) -> DatadogApi:
    """October 2026 closed (historical, one malformed charge); November only estimated so far."""
    api.historical["2026-10"] = [cost_entry("2026-10", OCTOBER)]
    api.estimated["2026-11"] = [cost_entry("2026-11", NOVEMBER_ESTIMATE)]
    return api
