"""A local Datadog Usage Metering API: v2 `GET /api/v2/usage/historical_cost` and `.../estimated_cost`
(`view`, `start_month`, `end_month`) -> `{"data": [{"type": "cost_by_org", "id", "attributes": {...}}]}` in the shape
of Datadog's published example (../shared/data/vendor-api; its "number" placeholders replaced by numbers, as the
example's own caveat says); v1 `GET /api/v1/usage/summary` (`start_month`, `end_month` as `YYYY-MM`, both months
included, `include_org_details`) -> `UsageSummaryResponse` as documented (API reference "Get usage across your
account"): all-organisation totals (`<field>_sum`), `start_date`, `end_date`, `last_updated` and `usage[]`
per month (`date`, the month's totals over its organisations, and with `include_org_details=true` `orgs[]`: `id`,
`name`, `public_id`, `region`, `account_name`, `account_public_id` and one integer per usage field). DD-API-KEY /
DD-APPLICATION-KEY checked on every path, and 429s with Datadog's X-RateLimit-* headers on demand (`throttle`: any
path; `usage_throttle`: the usage summary only)."""

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


RATE_LIMITED = {"X-RateLimit-Limit": "12", "X-RateLimit-Period": "60", "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": "1"}


def _months(start: str, end: str) -> list[str]:
    """YYYY-MM from ``start`` to ``end``, both included."""
    year, month = int(start[:4]), int(start[5:7])
    out = []
    while f"{year:04d}-{month:02d}" <= end[:7]:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def usage_summary(months: dict[str, list[dict]], start: str, end: str, org_details: bool) -> dict:
    """The documented UsageSummaryResponse for the months ``start``..``end`` of ``months`` (YYYY-MM -> the
    organisations' usage as served: identity text fields and one integer per usage field)."""
    def totals(orgs: list[dict], suffix: str) -> dict:
        sums: dict[str, int] = {}
        for org in orgs:
            for key, value in org.items():
                if isinstance(value, int) and not isinstance(value, bool):
                    sums[key + suffix] = sums.get(key + suffix, 0) + value
        return sums

    usage = []
    for month in _months(start, end):
        orgs = months.get(month)
        if orgs is None:
            continue
        entry = {"date": f"{month}-01T00:00:00.000Z", **totals(orgs, "")}
        if org_details:
            entry["orgs"] = copy.deepcopy(orgs)
        usage.append(entry)
    every_org = [org for month in _months(start, end) for org in months.get(month, [])]
    return {**totals(every_org, "_sum"), "start_date": f"{start[:7]}-01T00:00:00.000Z",
            "end_date": f"{end[:7]}-01T00:00:00.000Z", "last_updated": f"{end[:7]}-03T00:00:00.000Z",
            "usage": usage}


class DatadogApi:
    def __init__(self) -> None:
        self.historical: dict[str, list[dict]] = {}  # YYYY-MM -> data entries
        self.estimated: dict[str, list[dict]] = {}
        self.usage: dict[str, list[dict]] = {}  # YYYY-MM -> the organisations' usage summary (orgs[])
        self.requests: list[str] = []
        self.usage_queries: list[dict[str, list[str]]] = []
        self.throttle = 0
        self.usage_throttle = 0
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
                    return self._send(429, '{"errors": ["Too many requests"]}', RATE_LIMITED)
                if url.path == "/api/v1/usage/summary":
                    api.usage_queries.append(query)
                    if api.usage_throttle:
                        api.usage_throttle -= 1
                        return self._send(429, '{"errors": ["Too many requests"]}',
                                          {**RATE_LIMITED, "X-RateLimit-Limit": "60", "X-RateLimit-Reset": "7"})
                    if "start_month" not in query:
                        return self._send(400, '{"errors": ["start_month is required"]}')
                    start = query["start_month"][0]
                    end = query.get("end_month", [start])[0]
                    details = query.get("include_org_details", ["false"])[0] == "true"
                    return self._send(200, dumps(usage_summary(api.usage, start, end, details)))
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


def usage_org(public_id: str, name: str, **fields) -> dict:
    """One organisation of a usage summary month (``orgs[]``), its identity as Datadog documents it."""
    return {"id": f"{public_id}-id", "name": name, "public_id": public_id, "region": "eu", "account_name": "Acme",
            "account_public_id": "abcdef12345", **fields}


# October 2026: the parent organisation (the one the cost view `summary` bills) and a sub-organisation with one
# malformed value; ingested bytes above 2**53 (a float would round them); a null field (no usage).
OCTOBER_USAGE = [
    usage_org("abcdef12345", "Acme", infra_host_top99p=42, apm_host_top99p=17, agent_host_top99p=40,
              custom_ts_avg=1250, indexed_events_count_sum=3_500_000, ingested_events_bytes_sum=9_007_199_254_740_993,
              container_avg=85, gcp_host_top99p=None),
    usage_org("fedcba54321", "Acme Staging", infra_host_top99p=5, apm_host_top99p="twelve", custom_ts_avg=40,
              ingested_events_bytes_sum=1_048_576),
]
NOVEMBER_USAGE = [usage_org("abcdef12345", "Acme", infra_host_top99p=20, apm_host_top99p=9, custom_ts_avg=600)]


def standard_api(api: DatadogApi) -> DatadogApi:
    """October 2026 closed (historical, one malformed charge); November only estimated so far. The usage summary
    of both months (October with one malformed value)."""
    api.historical["2026-10"] = [cost_entry("2026-10", OCTOBER)]
    api.estimated["2026-11"] = [cost_entry("2026-11", NOVEMBER_ESTIMATE)]
    api.usage["2026-10"] = OCTOBER_USAGE
    api.usage["2026-11"] = NOVEMBER_USAGE
    return api
