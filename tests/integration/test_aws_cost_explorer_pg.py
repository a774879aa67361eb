"""The Cost Explorer collector end to end: moto in server mode answers GetCostAndUsage over HTTP with a three-page
result (exact GetCostAndUsageResponse shape), the real loader COPYs into PostgreSQL, and every total is compared with
a Decimal sum taken straight from the JSON bodies we queued. Also: the Airflow-connection (hook) path, with the
secret kept out of raw tables and logs."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import boto3
import psycopg
import pytest

from collectors.core.base import Window
from collectors.sources.aws_cost_explorer import CostExplorerCollector
from openfinops.loader import Loader
from tests.fakes.moto_server import CREDENTIALS, MotoServer

CE_RESULTS = "/moto-api/static/ce/cost-and-usage-results"
WINDOW = Window.from_dates(date(2026, 11, 1), date(2026, 11, 4))
DAYS = ("2026-11-01", "2026-11-02", "2026-11-03")
ESTIMATED_DAY = "2026-11-03"
ACCOUNTS = {"111111111111": "prod-platform", "222222222222": "prod-data", "333333333333": "sandbox"}
SERVICES = ("Amazon Elastic Compute Cloud - Compute", "Amazon Simple Storage Service",
            "Amazon Relational Database Service", "AWS Lambda")
CREDIT = ("2026-11-02", "333333333333", "AWS Lambda")  # promotional credit larger than the day's usage
COST = "LINKED_ACCOUNT,SERVICE"
METRIC_NAMES = ("UnblendedCost", "AmortizedCost", "NetAmortizedCost")


def amount(rng: random.Random, low: int, high: int) -> str:
    """A wire-format amount: a decimal string with 10 decimals, as Cost Explorer sends them."""
    return f"{Decimal(rng.randint(low, high)).scaleb(-10):.10f}"


def group(rng: random.Random, keys: list[str], negative: bool = False) -> dict:
    unblended = amount(rng, 10**9, 9 * 10**11)
    if negative:
        unblended = "-" + amount(rng, 10**10, 5 * 10**10)
    amortized = amount(rng, 10**9, 9 * 10**11)
    return {"Keys": keys, "Metrics": {
        "UnblendedCost": {"Amount": unblended, "Unit": "USD"},
        "AmortizedCost": {"Amount": amortized, "Unit": "USD"},
        "NetAmortizedCost": {"Amount": f"{Decimal(amortized) * Decimal('0.95'):.10f}", "Unit": "USD"},
        "UsageQuantity": {"Amount": amount(rng, 10**10, 10**13), "Unit": "N/A"}}}


def response(definitions: list[tuple[str, str]], results: list[tuple[str, list[dict]]],
             token: str | None = None) -> dict:
    """One GetCostAndUsageResponse page: results are (day, groups); account names for the accounts it mentions."""
    body: dict = {
        "GroupDefinitions": [{"Type": t, "Key": k} for t, k in definitions],
        "ResultsByTime": [{"TimePeriod": {"Start": day, "End": str(date.fromisoformat(day) + timedelta(days=1))},
                           "Total": {}, "Groups": groups, "Estimated": day == ESTIMATED_DAY}
                          for day, groups in results],
    }
    accounts = sorted({k for _, groups in results for g in groups for k in g["Keys"] if k in ACCOUNTS})
    if accounts:
        body["DimensionValueAttributes"] = [{"Value": a, "Attributes": {"description": ACCOUNTS[a]}}
                                            for a in accounts]
    if token:
        body["NextPageToken"] = token
    return body


def cost_pass_pages() -> list[dict]:
    """3 days x 3 accounts x 4 services = 36 groups over three pages; day 2 and day 3 each span two pages."""
    rng = random.Random(20261101)
    by_day = {day: [group(rng, [account, service], negative=(day, account, service) == CREDIT)
                    for account in ACCOUNTS for service in SERVICES] for day in DAYS}
    definitions = [("DIMENSION", "LINKED_ACCOUNT"), ("DIMENSION", "SERVICE")]
    return [
        response(definitions, [(DAYS[0], by_day[DAYS[0]]), (DAYS[1], by_day[DAYS[1]][:5])], "cGFnZS0y"),
        response(definitions, [(DAYS[1], by_day[DAYS[1]][5:]), (DAYS[2], by_day[DAYS[2]][:4])], "cGFnZS0z"),
        response(definitions, [(DAYS[2], by_day[DAYS[2]][4:])]),
    ]


def breakdown_pages(cost: list[dict]) -> list[dict]:
    """REGION and TAG team passes that re-slice each day's cost-pass spend (as AWS's do): shares 60/30/rest."""
    totals: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 4)
    for body in cost:
        for result in body["ResultsByTime"]:
            for g in result["Groups"]:
                for i, name in enumerate((*METRIC_NAMES, "UsageQuantity")):
                    totals[result["TimePeriod"]["Start"]][i] += Decimal(g["Metrics"][name]["Amount"])

    def split(day: str, keys: list[str]) -> list[dict]:
        parts = [[(t * share).quantize(Decimal("1e-10")) for t in totals[day]] for share in (Decimal("0.6"),
                                                                                            Decimal("0.3"))]
        parts.append([t - a - b for t, a, b in zip(totals[day], *parts, strict=True)])
        return [{"Keys": [key], "Metrics": {name: {"Amount": f"{part[i]:.10f}", "Unit": "N/A" if i == 3 else "USD"}
                                            for i, name in enumerate((*METRIC_NAMES, "UsageQuantity"))}}
                for key, part in zip(keys, parts, strict=True)]

    region = response([("DIMENSION", "REGION")], [(d, split(d, ["us-east-1", "eu-west-1", "global"])) for d in DAYS])
    team = response([("TAG", "team")], [(d, split(d, ["team$", "team$payments", "team$data"])) for d in DAYS])
    return [region, team]


def expected_sums(bodies: dict[str, list[dict]], by: str) -> dict[tuple, tuple[Decimal, ...]]:
    """Straight from the JSON we queued: per (grouping, day) or (grouping, account), the three cost metrics."""
    sums: dict[tuple, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 3)
    for grouping, pages in bodies.items():
        for body in pages:
            for result in body["ResultsByTime"]:
                for g in result["Groups"]:
                    key = (grouping, date.fromisoformat(result["TimePeriod"]["Start"]) if by == "day" else
                           g["Keys"][0] if grouping == COST else None)
                    for i, name in enumerate(METRIC_NAMES):
                        sums[key][i] += Decimal(g["Metrics"][name]["Amount"])
    return {k: tuple(v) for k, v in sums.items()}


def loaded_sums(url: str, by: str) -> dict[tuple, tuple[Decimal, ...]]:
    column = "time_period_start" if by == "day" else "CASE WHEN grouping = %s THEN linked_account_id END"
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            f"SELECT grouping, {column}, sum(unblended_cost), sum(amortized_cost), sum(net_amortized_cost) "
            f"FROM raw.aws_cost_explorer_cost_daily GROUP BY 1, 2", (COST,) if by != "day" else ()).fetchall()
    return {(g, k): (u, a, n) for g, k, u, a, n in rows}


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


def queue(moto: MotoServer, bodies: list[dict]) -> None:
    """moto answers each new request body with the next queued result, and a repeated body with the same result:
    order = request order (cost pass pages 1-3, then one page per breakdown pass)."""
    moto.reset()
    assert moto.post(CE_RESULTS, {"results": bodies}) == 201


def test_every_page_is_loaded_with_exact_totals_and_reload_changes_nothing(moto, empty_db):
    cost = cost_pass_pages()
    region, team = breakdown_pages(cost)
    queue(moto, [*cost, region, team])
    ce = boto3.client("ce", endpoint_url=moto.url, region_name="us-east-1", **CREDENTIALS)
    collector = CostExplorerCollector("aws-ce", {"tag_keys": ["team"]}, clients={"ce": ce})
    bodies = {COST: cost, "REGION": [region], "TAG:team": [team]}
    with psycopg.connect(empty_db) as conn:
        first = Loader(conn).load(collector, WINDOW)
        by_day, by_account = loaded_sums(empty_db, "day"), loaded_sums(empty_db, "account")
        again = Loader(conn).load(collector, WINDOW)
        rows = conn.execute("""
            SELECT grouping, time_period_start, linked_account_id, linked_account_name, service, region, tag_key,
                   tag_value, unblended_cost, estimated, currency, usage_unit, payload
            FROM raw.aws_cost_explorer_cost_daily ORDER BY 1, 2, 3, 5, 6, 8""").fetchall()

    n_groups = sum(len(r["Groups"]) for pages in bodies.values() for b in pages for r in b["ResultsByTime"])
    assert n_groups == 36 + 9 + 9
    assert first.rows == again.rows == again.datasets[0].deleted == n_groups and first.rejects == 0
    assert by_day == expected_sums(bodies, "day") == loaded_sums(empty_db, "day")
    assert by_account == expected_sums(bodies, "account") == loaded_sums(empty_db, "account")

    cost_rows = [r for r in rows if r[0] == COST]
    # Every page followed: each (day, account, service) of each page is there exactly once.
    for page in cost:
        for result in page["ResultsByTime"]:
            for g in result["Groups"]:
                matches = [r for r in cost_rows if (str(r[1]), r[2], r[4]) == (result["TimePeriod"]["Start"],
                                                                                *g["Keys"])]
                assert len(matches) == 1 and matches[0][12] == g
    assert {(str(r[1]), r[9]) for r in cost_rows} == {(d, d == ESTIMATED_DAY) for d in DAYS}
    assert {(r[2], r[3]) for r in cost_rows} == set(ACCOUNTS.items())
    credit = [r for r in cost_rows if (str(r[1]), r[2], r[4]) == CREDIT]
    assert credit[0][8] < 0
    assert {(r[10], r[11]) for r in rows} == {("USD", "N/A")}
    assert {(r[6], r[7]) for r in rows if r[0] == "TAG:team"} == {("team", None), ("team", "payments"),
                                                                  ("team", "data")}
    assert {r[5] for r in rows if r[0] == "REGION"} == {"us-east-1", "eu-west-1", "global"}
    # Each breakdown pass re-slices the same daily spend: kept apart by `grouping`, never added to the cost pass.
    for grouping in ("REGION", "TAG:team"):
        assert {d: v for (g, d), v in by_day.items() if g == grouping} == {
            d: v for (g, d), v in by_day.items() if g == COST}


SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYSECRETKEY1"


def test_hook_path_from_airflow_connection_keeps_the_secret_out(moto, empty_db, monkeypatch, caplog, capsys):
    import logging

    cost = cost_pass_pages()
    queue(moto, cost)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_BILLING", json.dumps({
        "conn_type": "aws", "login": "AKIAIOSFODNN7EXAMPLE", "password": SECRET,
        "extra": {"endpoint_url": moto.url, "region_name": "us-east-1"}}))
    caplog.set_level(logging.DEBUG)
    collector = CostExplorerCollector("aws-ce", {"extra_group_bys": []}, context={"connection_id": "aws_billing"})
    with psycopg.connect(empty_db) as conn:
        result = Loader(conn).load(collector, WINDOW)
        raw_text = [t for (t,) in conn.execute("SELECT t::text FROM raw.aws_cost_explorer_cost_daily AS t "
                                               "UNION ALL SELECT r::text FROM raw._rejects AS r")]
    client = collector._client()
    assert client.meta.endpoint_url == moto.url and client.meta.region_name == "us-east-1"
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 3}
    assert result.rows == 36 and result.rejects == 0
    assert loaded_sums(empty_db, "day") == expected_sums({COST: cost}, "day")
    captured = capsys.readouterr()
    # Airflow routes logging through structlog to stdout once it is imported, so look at caplog and the streams.
    logs = caplog.text + captured.out + captured.err
    assert "conn_id='aws_billing'" in logs and "LINKED_ACCOUNT,SERVICE page 3" in logs  # logging was captured...
    for text in (logs, *raw_text):
        assert SECRET not in text  # ...and never holds the secret


def test_thirty_percent_of_requests_failing_at_random_changes_no_total(moto, empty_db, monkeypatch):
    """Seeded: 30 % of the GetCostAndUsage requests throttled (400 ThrottlingException), answered 503 or dropped on
    the way to moto. botocore and the collector retry each; the totals equal the fault-free load's to the cent."""
    from collectors.sources import aws_cost_explorer
    from tests.fakes.flaky_proxy import FlakyProxy

    monkeypatch.setattr(aws_cost_explorer, "sleep", lambda seconds: None)
    cost = cost_pass_pages()
    region, team = breakdown_pages(cost)
    bodies = {COST: cost, "REGION": [region], "TAG:team": [team]}
    queue(moto, [*cost, region, team])
    with FlakyProxy(moto.url, fault_rate=0.3, seed=8) as proxy:
        ce = boto3.client("ce", endpoint_url=proxy.url, region_name="us-east-1", **CREDENTIALS)
        collector = CostExplorerCollector("aws-ce", {"tag_keys": ["team"], "max_retries": 10}, clients={"ce": ce})
        with psycopg.connect(empty_db) as conn:
            result = Loader(conn).load(collector, WINDOW)
    print(f"\n[faults] {len(proxy.faults)} of {proxy.requests} requests failed: {proxy.faults}")
    assert len(proxy.faults) >= 2 and result.rejects == 0
    assert loaded_sums(empty_db, "day") == expected_sums(bodies, "day")
    assert loaded_sums(empty_db, "account") == expected_sums(bodies, "account")
