"""The ``azure_cost_query`` collector against a local HTTPS fake of the Cost Management Query API and of the Entra ID
token endpoint (tests/fakes/azure_cost_api.py), loaded by the real loader into the real PostgreSQL.

The credential is azure-identity's real ``ClientSecretCredential`` (msal inside) talking to the fake's token
endpoint, or, in the end-to-end test, the one the collector builds from an Airflow ``azure`` connection. Expected
figures are Decimal sums over the response bodies the fake served, computed here by column name.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from azure.core.credentials import AccessToken
from azure.identity import ClientSecretCredential

from collectors.core.base import CollectorError, Window
from collectors.sources.azure_cost_query import COST_DAILY, CostQueryCollector, parse_scope, query_pieces
from openfinops.loader import Loader
from tests.fakes.azure_cost_api import AzureCostApiFake, Page, azure_error, make_tls_files

SUBSCRIPTION = "9b2f6c1e-0001-4a7d-9c10-000000000001"
SCOPE = f"subscriptions/{SUBSCRIPTION}"
QUERY_PATH = f"/{SCOPE}/providers/Microsoft.CostManagement/query"
VERBATIM = Path(__file__).resolve().parents[3] / "shared" / "data" / "vendor-api" / "azure-cost-management-query.json"
WINDOW = Window.from_dates(date(2026, 11, 1), date(2026, 11, 4))  # 3 days


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return make_tls_files(tmp_path_factory.mktemp("azure-fake-tls"))


@pytest.fixture
def fake(tls, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls.ca_bundle)  # requests (ours and azure-core's) trust the fake
    with AzureCostApiFake(tls) as server:
        yield server


def make_collector(fake: AzureCostApiFake, waits: list | None = None, credential=None,
                   **options) -> CostQueryCollector:
    credential = credential or ClientSecretCredential(fake.tenant_id, fake.client_id, fake.client_secret,
                                                      authority=fake.authority, disable_instance_discovery=True)
    return CostQueryCollector("azure-test", {"scope": SCOPE, "endpoint": fake.base_url, "retry_base_seconds": 0.5,
                                             **options},
                              clients={"credential": credential, "sleep": (waits if waits is not None else []).append})


def load(url: str, collector: CostQueryCollector, window: Window = WINDOW, ratio: float = 0.01):
    with psycopg.connect(url) as conn:
        return Loader(conn, max_reject_ratio=ratio).load(collector, window)


def raw_totals(url: str) -> dict[tuple, tuple]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("""SELECT usage_date, cost_type, grouping, count(*), sum(cost), sum(cost_usd)
                               FROM raw.azure_cost_query_cost_daily GROUP BY 1, 2, 3""").fetchall()
    return {(d, t, g): (n, cost, usd) for d, t, g, n, cost, usd in rows}


# -- the scenario: 3 days, a subscription billed in EUR, a reservation, a refund ---------------------------------------
COLUMNS = {name: {"name": name, "type": kind} for name, kind in (
    ("Cost", "Number"), ("CostUSD", "Number"), ("UsageDate", "Number"), ("ServiceName", "String"),
    ("ResourceGroupName", "String"), ("MeterCategory", "String"), ("TagKey", "String"), ("TagValue", "String"),
    ("Currency", "String"))}
TEAMS = {"rg-web": "web", "rg-data": "data", "rg-batch": "ml", "rg-legacy": "web", "": ""}
USAGE = (  # (service, resource group, EUR per day on day 1; later days grow)
    ("Virtual Machines", "rg-web", Decimal("412.73318402915467")),
    ("Storage", "rg-data", Decimal("58.0412999317025")),
    ("Azure SQL Database", "rg-data", Decimal("131.50003390131712")),
    ("Azure App Service", "rg-web", Decimal("22.914000000000001")),
    ("Bandwidth", "rg-web", Decimal("3.0000000000000004")),
    ("Azure OpenAI", "rg-batch", Decimal("77.1234567890123")),
)
RESERVATION_PURCHASE = Decimal("1460.0000")  # 1-year VM reservation, billed monthly, bought on day 1
RESERVED_VM_AMORTISED = Decimal("48.6666666666666667")  # the reserved VMs' amortised cost per day (rg-batch)
REFUND = Decimal("-15.2035")  # day 2: an App Service refund on a retired resource group


@dataclass(frozen=True)
class CostLine:
    day: date
    service: str
    resource_group: str
    cost: Decimal

    @property
    def cost_usd(self) -> Decimal:
        return (self.cost * Decimal("1.0862")).quantize(Decimal("1E-12"))


def cost_lines(cost_type: str) -> list[CostLine]:
    """What Azure bills (ActualCost) or amortises (AmortizedCost) per day, service and resource group."""
    lines = []
    for n, day in enumerate(WINDOW.days()):
        lines += [CostLine(day, s, rg, (daily * (1 + Decimal(n) / 50)).quantize(Decimal("1E-14")))
                  for s, rg, daily in USAGE]
        # The reserved VMs: covered usage costs 0 when billed; amortised, it carries the reservation's daily share.
        lines.append(CostLine(day, "Virtual Machines", "rg-batch",
                              Decimal(0) if cost_type == "ActualCost" else RESERVED_VM_AMORTISED))
        if n == 0 and cost_type == "ActualCost":
            lines.append(CostLine(day, "Virtual Machines", "", RESERVATION_PURCHASE))
        if n == 1:
            lines.append(CostLine(day, "Azure App Service", "rg-legacy", REFUND))
    return lines


def summed(lines: list[CostLine], key) -> list[tuple[tuple, CostLine]]:
    """Lines added up per day and ``key(line)``, as Azure answers a pass grouped by other dimensions."""
    sums: dict[tuple, Decimal] = defaultdict(Decimal)
    for line in lines:
        sums[(line.day, key(line))] += line.cost
    return [(k, CostLine(day, "", "", cost)) for (day, k), cost in sums.items()]


def row(line: CostLine, order: list[str], **dims: str) -> list:
    values = {"Cost": line.cost, "CostUSD": line.cost_usd, "UsageDate": int(line.day.strftime("%Y%m%d")),
              "Currency": "EUR", **dims}
    return [values[name] for name in order]


def scenario_pages(body: dict) -> list[Page]:
    """The answers: the cost pass in 3 pages (columns in another order on page 2), the others in 1 or 2."""
    cost_type = body["type"]
    groups = tuple(g["name"] for g in body["dataset"]["grouping"])
    period = [date.fromisoformat(body["timePeriod"][end][:10]) for end in ("from", "to")]
    lines = [line for line in cost_lines(cost_type) if period[0] <= line.day <= period[1]]  # as asked
    if groups == ("ServiceName", "ResourceGroupName"):
        order = ["Cost", "CostUSD", "UsageDate", "ServiceName", "ResourceGroupName", "Currency"]
        shuffled = ["Currency", "ResourceGroupName", "UsageDate", "CostUSD", "ServiceName", "Cost"]
        rows = [(line, {"ServiceName": line.service, "ResourceGroupName": line.resource_group}) for line in lines]
        third = len(rows) // 3
        chunks = (rows[:third], rows[third:2 * third], rows[2 * third:])
        return [Page([COLUMNS[c] for c in cols], [row(line, cols, **dims) for line, dims in chunk])
                for cols, chunk in zip((order, shuffled, order), chunks, strict=True)]
    if groups == ("ServiceName", "MeterCategory"):
        order = ["Cost", "CostUSD", "UsageDate", "ServiceName", "MeterCategory", "Currency"]
        sums = summed(lines, lambda line: (line.service, line.service))
        return [Page([COLUMNS[c] for c in order],
                     [row(line, order, ServiceName=k[0], MeterCategory=k[1]) for k, line in sums])]
    if groups == ("team",):
        order = ["Cost", "CostUSD", "UsageDate", "TagKey", "TagValue", "Currency"]
        sums = summed(lines, lambda line: ("team" if TEAMS[line.resource_group] else "", TEAMS[line.resource_group]))
        rows = [row(line, order, TagKey=k[0], TagValue=k[1]) for k, line in sums]
        return [Page([COLUMNS[c] for c in order], rows[:7]), Page([COLUMNS[c] for c in order], rows[7:])]
    raise AssertionError(f"unexpected grouping {groups}")


def yyyymmdd(number: int) -> date:
    return date(number // 10000, number // 100 % 100, number % 100)


def served_totals(fake: AzureCostApiFake) -> dict[tuple, tuple]:
    """Independent expectation: Decimal sums over every page body the scenario serves, read by column name."""
    grouping_name = {("ServiceName", "ResourceGroupName"): "cost", ("ServiceName", "MeterCategory"): "meter",
                     ("team",): "tag:team"}
    sums: dict[tuple, list] = defaultdict(lambda: [0, Decimal(0), Decimal(0)])
    queries = {json.dumps(r.body, sort_keys=True): r.body for r in fake.query_requests()}  # retries, pages: once
    for body in queries.values():
        groups = tuple(g["name"] for g in body["dataset"]["grouping"])
        for page in scenario_pages(body):
            names = [c["name"] for c in page.columns]
            for values in page.rows:
                record = dict(zip(names, values, strict=True))
                key = (yyyymmdd(record["UsageDate"]), body["type"], grouping_name[groups])
                sums[key][0] += 1
                sums[key][1] += record["Cost"]
                sums[key][2] += record["CostUSD"]
    return {k: tuple(v) for k, v in sums.items()}


# -- tests -------------------------------------------------------------------------------------------------------------
def test_verbatim_vendor_example_loads_every_digit(fake, empty_db):
    """(a) The official example, served byte for byte, lands with each cost equal to the JSON number as Decimal."""
    body = VERBATIM.read_bytes()
    fake.pages_for = lambda request_body: [body]
    document = json.loads(body, parse_float=Decimal)
    names = [c["name"] for c in document["properties"]["columns"]]
    records = [dict(zip(names, values, strict=True)) for values in document["properties"]["rows"]]
    expected = sorted((yyyymmdd(r["UsageDate"]), r["ResourceGroup"], r["PreTaxCost"], r["Currency"]) for r in records)

    result = load(empty_db, make_collector(fake), Window.from_dates(date(2018, 3, 31), date(2018, 4, 2)))

    with psycopg.connect(empty_db) as conn:
        rows = conn.execute("""SELECT cost_type, grouping, usage_date, resource_group_name, cost, currency,
                                      cost::text, (payload ->> 'PreTaxCost')::numeric, cost_column, cost_usd
                               FROM raw.azure_cost_query_cost_daily ORDER BY 1, 2, 3, 4, 5""").fetchall()
    assert result.rows == 12 and result.rejects == 0  # 2 cost types x 2 passes x 3 rows
    by_query = defaultdict(list)
    for cost_type, grouping, *values in rows:
        by_query[(cost_type, grouping)].append(values)
    assert set(by_query) == {(t, g) for t in ("ActualCost", "AmortizedCost") for g in ("cost", "meter")}
    for values in by_query.values():
        assert sorted(tuple(v[:4]) for v in values) == expected
        assert all(v[5] == v[2] and v[6] == "PreTaxCost" and v[7] is None for v in values)
    assert "218.68795741935486" in {v[4] for v in by_query[("ActualCost", "cost")]}


def test_three_pages_two_cost_types_totals_match_served_bodies(fake, empty_db):
    """(b) Paged answers, ActualCost != AmortizedCost (a reservation), a negative refund row: raw totals per day,
    cost type and pass equal the Decimal sums of the bodies served; the refund is kept negative."""
    fake.pages_for = scenario_pages
    result = load(empty_db, make_collector(fake, tag_keys=["team"]))

    assert result.rejects == 0
    assert raw_totals(empty_db) == served_totals(fake)
    with psycopg.connect(empty_db) as conn:
        billed, effective = conn.execute("""
            SELECT sum(cost) FILTER (WHERE cost_type = 'ActualCost'),
                   sum(cost) FILTER (WHERE cost_type = 'AmortizedCost')
            FROM raw.azure_cost_query_cost_daily WHERE grouping = 'cost'""").fetchone()
        refund = conn.execute("""SELECT cost_type, usage_date, cost, currency FROM raw.azure_cost_query_cost_daily
                                 WHERE cost < 0 AND grouping = 'cost' ORDER BY 1""").fetchall()
        duplicates = conn.execute("""SELECT count(*) - count(DISTINCT (cost_type, grouping, usage_date, service_name,
                                            resource_group_name, meter_category, tag_key, tag_value, currency))
                                     FROM raw.azure_cost_query_cost_daily""").fetchone()[0]
        pages = conn.execute("""SELECT count(DISTINCT split_part(record_ref, ' row ', 1))
                                FROM raw.azure_cost_query_cost_daily
                                WHERE grouping = 'cost' AND cost_type = 'ActualCost'""").fetchone()[0]
    assert pages == 3 and duplicates == 0
    # Billed includes the purchase; amortised spreads it (here: 3 days of the reservation's daily share).
    assert billed - effective == RESERVATION_PURCHASE - 3 * RESERVED_VM_AMORTISED
    assert refund == [(t, date(2026, 11, 2), REFUND, "EUR") for t in ("ActualCost", "AmortizedCost")]


def test_throttling_is_retried_with_the_waits_azure_asks_for(fake, empty_db):
    """(c) 429 + Retry-After: 1 (and the qpu header), 429 with only the entity header, then 503: retried, waiting
    1 s, 4 s, then the backoff (0.5 s x 2**2); the data then loads completely."""
    fake.pages_for = scenario_pages
    fake.interruptions.extend([
        azure_error(429, "TooManyRequests", "Too many requests. Please retry.",
                    **{"Retry-After": "1", "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after": "1"}),
        azure_error(429, "TooManyRequests", "Too many requests. Please retry.",
                    **{"x-ms-ratelimit-microsoft.costmanagement-entity-retry-after": "4"}),
        azure_error(503, "ServiceUnavailable", "The service is temporarily unavailable."),
    ])
    waits: list[float] = []
    load(empty_db, make_collector(fake, waits))

    assert waits == [1.0, 4.0, 2.0]
    first = fake.query_requests()[:4]
    assert len({json.dumps(r.body, default=str, sort_keys=True) for r in first}) == 1  # the same query, 4 times
    assert raw_totals(empty_db) == served_totals(fake)


class StaticCredential:
    """A TokenCredential with a fixed token (the fake rejects any token it did not issue)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs) -> AccessToken:
        return AccessToken(self.token, 4102444800)


@pytest.mark.parametrize("case", ["persistent 429", "401 token", "400 bad request"])
def test_errors_name_source_status_and_azure_code_and_keep_previous_load(fake, empty_db, case):
    """(d) Persistent throttling (after max_retries), a rejected token (no retry) and a 400 fail with a
    CollectorError naming the source, the scope, the status and Azure's error code and message; the failed run
    leaves the previously loaded window untouched."""
    fake.pages_for = scenario_pages
    load(empty_db, make_collector(fake))
    before = raw_totals(empty_db)
    waits: list[float] = []
    credential = None
    if case == "persistent 429":
        fake.interruptions.extend([azure_error(429, "TooManyRequests", "Too many requests. Please retry.",
                                               **{"Retry-After": "1"})] * 10)
        status, code, message = 429, "TooManyRequests", "Too many requests. Please retry."
    elif case == "401 token":
        credential = StaticCredential("expired-or-foreign-token")
        status, code, message = 401, "InvalidAuthenticationToken", "The access token is invalid."
    else:
        fake.interruptions.append(azure_error(400, "BadRequest", "Invalid dataset grouping: 'MeterCategory'."))
        status, code, message = 400, "BadRequest", "Invalid dataset grouping: 'MeterCategory'."
    requests_before = len(fake.query_requests())

    with pytest.raises(CollectorError) as err:
        load(empty_db, make_collector(fake, waits, credential, max_retries=3))

    text = str(err.value)
    for part in ("source azure-test", SCOPE, f"HTTP {status}", code, message, QUERY_PATH):
        assert part in text
    assert "api-version" not in text and "skiptoken" not in text  # no query string in errors
    assert waits == ([1.0] * 3 if status == 429 else [])
    assert len(fake.query_requests()) - requests_before == (4 if status == 429 else 1)
    assert raw_totals(empty_db) == before


def test_reload_and_backfill_leave_totals_unchanged(fake, empty_db):
    """(e) The same window again, then an overlapping one-day back-fill: every total stays what it was."""
    fake.pages_for = scenario_pages
    first = load(empty_db, make_collector(fake, tag_keys=["team"]))
    totals = raw_totals(empty_db)
    again = load(empty_db, make_collector(fake, tag_keys=["team"]))
    load(empty_db, make_collector(fake, tag_keys=["team"]), Window.from_dates(date(2026, 11, 2), date(2026, 11, 3)))

    assert again.datasets[0].deleted == first.rows == again.rows
    assert raw_totals(empty_db) == totals


def test_airflow_connection_credential_end_to_end_leaks_no_secret(fake, empty_db, monkeypatch, caplog, capfd):
    """(f) Credentials from an Airflow `azure` connection (client id / secret / tenantId, built by the collector
    through the Microsoft Azure provider): the token comes from the (fake) Entra endpoint and is sent as Bearer; the
    client secret and the token appear neither in raw tables nor in logs."""
    monkeypatch.setenv("AIRFLOW_CONN_AZURE_BILLING", json.dumps({
        "conn_type": "azure", "login": fake.client_id, "password": fake.client_secret,
        "extra": {"tenantId": fake.tenant_id, "authority": fake.authority, "disable_instance_discovery": True}}))
    fake.pages_for = scenario_pages
    fake.interruptions.append(azure_error(429, "TooManyRequests", "Too many requests.", **{"Retry-After": "1"}))
    caplog.set_level(logging.DEBUG)
    waits: list[float] = []
    collector = CostQueryCollector("azure-test", {"scope": SCOPE, "endpoint": fake.base_url, "tag_keys": ["team"]},
                                   clients={"sleep": waits.append}, context={"connection_id": "azure_billing"})
    load(empty_db, collector)

    token_requests = fake.token_requests()
    assert len(token_requests) == 1  # cached by azure-identity for every query request and retry
    assert token_requests[0].body["client_id"] == fake.client_id
    assert "https://management.azure.com/.default" in token_requests[0].body["scope"]
    assert {r.authorization for r in fake.query_requests()} == {f"Bearer {fake.access_token}"}
    assert raw_totals(empty_db) == served_totals(fake) and waits == [1.0]
    with psycopg.connect(empty_db) as conn:
        stored = conn.execute("""SELECT coalesce(string_agg(t::text, ' '), '') FROM raw.azure_cost_query_cost_daily t
                                 UNION ALL SELECT coalesce(string_agg(r::text, ' '), '') FROM raw._rejects r
                              """).fetchall()
    out, err = capfd.readouterr()
    logs = caplog.text + out + err
    assert "retry 1 of 6" in logs  # the logs were captured
    for secret in (fake.client_secret, fake.access_token):
        assert secret not in logs
        assert all(secret not in text for (text,) in stored)


def test_request_bodies_follow_the_configuration(fake, empty_db):
    """(g) Each query: the cost type, a Custom timePeriod from the window start to its end - 1 s (`to` is
    inclusive), Daily granularity, Cost and CostUSD summed, the pass's groupings; nextLink pages re-POST the same
    body with a $skiptoken, on the same path and api-version."""
    fake.pages_for = scenario_pages
    load(empty_db, make_collector(fake, tag_keys=["team"]))

    groupings = {"cost": [{"type": "Dimension", "name": "ServiceName"},
                          {"type": "Dimension", "name": "ResourceGroupName"}],
                 "meter": [{"type": "Dimension", "name": "ServiceName"},
                           {"type": "Dimension", "name": "MeterCategory"}],
                 "tag:team": [{"type": "TagKey", "name": "team"}]}
    expected = [{"type": cost_type, "timeframe": "Custom",
                 "timePeriod": {"from": "2026-11-01T00:00:00Z", "to": "2026-11-03T23:59:59Z"},
                 "dataset": {"granularity": "Daily",
                             "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"},
                                             "totalCostUSD": {"name": "CostUSD", "function": "Sum"}},
                             "grouping": grouping}}
                for cost_type in ("ActualCost", "AmortizedCost") for grouping in groupings.values()]
    requests = fake.query_requests()
    first = [r for r in requests if "$skiptoken" not in r.query]
    follow = [r for r in requests if "$skiptoken" in r.query]
    assert [r.body for r in first] == expected
    assert len(follow) == 2 * (2 + 1)  # per cost type: 2 more pages of the cost pass, 1 of the tag pass
    assert {r.path for r in requests} == {QUERY_PATH}
    assert {r.query["api-version"][0] for r in requests} == {"2025-03-01"}
    assert all(r.body in expected for r in follow)


def test_long_window_is_split_into_pieces_under_a_month(fake):
    """Daily queries cover at most a month: 46 days become 28 + 18 days, with inclusive `to` times."""
    collector = make_collector(fake)
    assert list(collector.collect(COST_DAILY, Window.from_dates(date(2026, 10, 1), date(2026, 11, 16)))) == []
    periods = sorted({(r.body["timePeriod"]["from"], r.body["timePeriod"]["to"]) for r in fake.query_requests()})
    assert periods == [("2026-10-01T00:00:00Z", "2026-10-28T23:59:59Z"),
                       ("2026-10-29T00:00:00Z", "2026-11-15T23:59:59Z")]
    partial = Window(Window.from_dates(date(2026, 11, 1), date(2026, 11, 2)).start.replace(hour=6),
                     Window.from_dates(date(2026, 11, 3), date(2026, 11, 4)).start.replace(hour=6))
    assert [(p.start.date(), p.end.date()) for p in query_pieces(partial)] == [(date(2026, 11, 2), date(2026, 11, 4))]


def test_bad_rows_become_rejects_naming_page_row_and_field(fake, empty_db):
    """A non-numeric cost, a day outside the requested period and a missing currency are rejected (kept in
    raw._rejects with their page/row and field), the good rows load; a 204 answer is an empty result."""
    order = ["Cost", "CostUSD", "UsageDate", "ServiceName", "ResourceGroupName", "Currency"]
    good = [Decimal("10.5"), Decimal("11.4"), 20261101, "Storage", "rg-data", "EUR"]
    bad = [["n/a", Decimal("1"), 20261101, "Storage", "rg-web", "EUR"],
           [Decimal("2"), Decimal("2"), 20261105, "Storage", "rg-web", "EUR"],
           [Decimal("3"), Decimal("3"), 20261102, "Storage", "rg-web", None]]

    fake.pages_for = lambda body: [] if body["type"] == "AmortizedCost" else [  # AmortizedCost: 204
        Page([COLUMNS[c] for c in order], [good, *bad])]
    result = load(empty_db, make_collector(fake), ratio=1.0)

    with psycopg.connect(empty_db) as conn:
        rejects = conn.execute("SELECT record_ref, field, reason, raw_text FROM raw._rejects ORDER BY 1, 2").fetchall()
    assert result.rows == 2 and result.rejects == 6  # 1 good + 3 bad rows in each ActualCost pass
    assert [(ref, field) for ref, field, *_ in rejects if "cost" in ref.split()[1]] == [
        ("ActualCost cost 2026-11-01 page 1 row 1", "Cost"),
        ("ActualCost cost 2026-11-01 page 1 row 2", "UsageDate"),
        ("ActualCost cost 2026-11-01 page 1 row 3", "Currency")]
    assert "outside the requested timePeriod 2026-11-01..2026-11-03" in rejects[1][2]
    assert json.loads(rejects[0][3])["Cost"] == "n/a"


def test_next_link_to_another_host_is_refused(fake):
    """The bearer token is only ever sent to the configured endpoint."""
    body = json.dumps({"properties": {"columns": [COLUMNS["Cost"], COLUMNS["UsageDate"], COLUMNS["Currency"]],
                                      "rows": [], "nextLink": "https://elsewhere.example/next?$skiptoken=x"}})
    fake.pages_for = lambda request_body: [body.encode()]
    with pytest.raises(CollectorError, match="nextLink points to https://elsewhere.example"):
        list(make_collector(fake).collect(COST_DAILY, WINDOW))


@pytest.mark.parametrize(("value", "expected"), [
    ("subscriptions/9B2F6C1E-0001-4A7D-9C10-000000000001", "subscriptions/9B2F6C1E-0001-4A7D-9C10-000000000001"),
    ("/Subscriptions/9b2f6c1e-0001-4a7d-9c10-000000000001/resourcegroups/rg-web/",
     "subscriptions/9b2f6c1e-0001-4a7d-9c10-000000000001/resourceGroups/rg-web"),
    ("providers/microsoft.billing/billingAccounts/8611537", "providers/Microsoft.Billing/billingAccounts/8611537"),
    ("subscriptions/not-a-guid", None), ("managementGroups/x", None), (None, None),
])
def test_scope_option_is_validated(value, expected):
    if expected:
        assert parse_scope("azure-test", value) == expected
    else:
        with pytest.raises(ValueError, match=r"source azure-test: options.scope must be"):
            CostQueryCollector("azure-test", {"scope": value})


def test_unknown_options_and_bad_tag_keys_are_named():
    with pytest.raises(ValueError, match=r"unknown options \['tags'\]"):
        CostQueryCollector("azure-test", {"scope": SCOPE, "tags": ["team"]})
    with pytest.raises(ValueError, match="options.tag_keys must be a list"):
        CostQueryCollector("azure-test", {"scope": SCOPE, "tag_keys": "team"})



def test_default_lookback_re_pulls_three_whole_days():
    """Azure re-estimates recent days: a daily run replaces the 3 days before its window too, in whole UTC days."""
    from openfinops.config import SourceConfig
    from openfinops.pipeline import effective_window

    source = SourceConfig(id="azure-prod", type="azure_cost_query", options={"scope": SCOPE})
    collector = CostQueryCollector("azure-prod", source.options)
    window = collector.align_window(effective_window(source, Window.from_dates(date(2026, 11, 4), date(2026, 11, 5))))
    assert window == Window.from_dates(date(2026, 11, 1), date(2026, 11, 5))


def test_retry_helper_reads_http_dates_and_retries_connection_errors():
    """Retry-After as an HTTP-date is read against the response's own Date header (no local clock); the longest
    throttling header wins; a refused connection is retried with backoff, then named without the query string."""
    import socket

    import requests

    from collectors.core.http_retry import RetryingHttp, RetryPolicy, retry_after_seconds

    assert retry_after_seconds({"Retry-After": "Wed, 04 Nov 2026 10:00:30 GMT",
                                "Date": "Wed, 04 Nov 2026 10:00:00 GMT"}) == 30.0
    assert retry_after_seconds({"Retry-After": "Wed, 04 Nov 2026 10:00:30 GMT"}) is None
    assert retry_after_seconds({"retry-after": "2", "x-ms-ratelimit-microsoft.costmanagement-tenant-retry-after": "9",
                                "x-ms-ratelimit-remaining-microsoft.costmanagement-qpu-retry-after": "x"}) == 9.0
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    waits: list[float] = []
    http = RetryingHttp(requests.Session(), "azure-test", RetryPolicy(max_retries=2, base_seconds=0.5),
                        sleep=waits.append, timeout=(1.0, 1.0))
    with pytest.raises(CollectorError) as err:
        http.request("POST", f"http://127.0.0.1:{port}/x/query?api-version=1&$skiptoken=secret", operation="probe")
    assert waits == [0.5, 1.0]
    assert "source azure-test: probe: POST /x/query failed after 3 attempt(s): ConnectionError" in str(err.value)
    assert "skiptoken" not in str(err.value)


def test_a_retry_after_longer_than_the_task_waits_fails_at_once_and_keeps_the_previous_load(fake, empty_db):
    """429 asking for an hour: the task does not sleep through it; it fails naming the wait (Airflow retries later)."""
    fake.pages_for = scenario_pages
    load(empty_db, make_collector(fake))
    before = raw_totals(empty_db)
    fake.interruptions.append(azure_error(429, "TooManyRequests", "Too many requests.", **{"Retry-After": "3600"}))
    waits: list[float] = []
    with pytest.raises(CollectorError, match=r"source azure-test: .*HTTP 429.*asks to wait 3600 s.*than the 300 s"):
        load(empty_db, make_collector(fake, waits))
    assert waits == []
    assert raw_totals(empty_db) == before


def test_a_nextlink_that_loops_fails_instead_of_loading_pages_again(fake, empty_db):
    fake.pages_for = scenario_pages
    fake.looping_next_link = True
    with pytest.raises(CollectorError, match=r"source azure-test: .*page 2 returned a continuation already followed"):
        load(empty_db, make_collector(fake))
    assert len(fake.query_requests()) == 2
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT count(*) FROM raw.azure_cost_query_cost_daily").fetchone()[0] == 0


def test_thirty_percent_of_requests_failing_at_random_changes_no_total(fake, empty_db):
    """Seeded: 30 % of the Query API requests answered 429 / 500 / 503 or dropped without an answer. Every one is
    retried; the loaded totals equal the fault-free load's to the cent."""
    fake.pages_for = scenario_pages
    load(empty_db, make_collector(fake))
    clean = raw_totals(empty_db)
    with psycopg.connect(empty_db) as conn:
        conn.execute("TRUNCATE raw.azure_cost_query_cost_daily")
    fake.fault_rate = 0.3
    waits: list[float] = []
    before = len(fake.query_requests())
    load(empty_db, make_collector(fake, waits, max_retries=10))
    print(f"\n[faults] {len(fake.faults_served)} of {len(fake.query_requests()) - before} query requests failed: "
          f"{fake.faults_served}")
    assert len(fake.faults_served) >= 3 and {"429", "drop"} & set(fake.faults_served)
    assert len(waits) == len(fake.faults_served)
    assert raw_totals(empty_db) == clean == served_totals(fake)
