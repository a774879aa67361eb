"""mongodb_atlas against a local Atlas Admin API v2 (tests/fakes/mongodb_atlas_api.py) through requests' real HTTP
digest authentication: invoices listed page by page, the ones overlapping the window read with their line items,
money parsed as Decimal (cents and dollars as sent), a malformed item rejected naming the field, a wrong key a clear
error; the cluster inventory (the organisation's projects, each one's clusters, paged) as one row per cluster and
day up to the answer's Date, a malformed cluster rejected naming project, cluster and field; then the real loader
and a real ``dbt build``: a cluster-day without invoice lines is estimated at the list price per cluster-hour x 24 x
shards (never x its nodes), labelled, and a cluster-day with invoice lines (or in a closed invoice's month) is not."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
import yaml

from collectors.core.base import CollectorError, Reject, Window
from collectors.sources.mongodb_atlas import CLUSTERS, LINE_ITEMS, MongodbAtlasCollector
from openfinops import pipeline
from openfinops.config import load_config
from tests.conftest import ROOT, create_database, drop_database, run_cli
from tests.fakes.mongodb_atlas_api import (
    ORG,
    PRIVATE_KEY,
    PRODUCTION,
    PUBLIC_KEY,
    AtlasApi,
    cluster,
    october_invoices,
    project,
)

OCTOBER = Window.from_dates(date(2026, 10, 1), date(2026, 11, 1))


@pytest.fixture
def atlas():
    with AtlasApi(october_invoices(), page_size=1) as api:
        yield api


def collector(api: AtlasApi, keys=(PUBLIC_KEY, PRIVATE_KEY)) -> MongodbAtlasCollector:
    return MongodbAtlasCollector("atlas-test", {"org_id": ORG, "api_url": api.url}, clients={"keys": keys})


def test_line_items_of_the_window_are_read_with_digest_auth_across_pages(atlas):
    out = list(collector(atlas).collect(LINE_ITEMS, OCTOBER))
    records = [dict(zip(LINE_ITEMS.column_names, r, strict=True)) for r in out if not isinstance(r, Reject)]
    rejects = [r for r in out if isinstance(r, Reject)]
    assert [(r["start_date"].date(), r["sku"], r["quantity"], r["total_price_cents"], r["discount_cents"])
            for r in records] == [
        (date(2026, 10, 1), "ATLAS_AWS_INSTANCE_M30", Decimal(24), Decimal(1296), None),
        (date(2026, 10, 1), "ATLAS_AWS_BACKUP_SNAPSHOT_STORAGE", Decimal("120.5"), Decimal(1205), Decimal(205)),
        (date(2026, 10, 2), "ATLAS_AWS_INSTANCE_M30", Decimal(24), Decimal(1296), None),
        (date(2026, 10, 2), "ATLAS_AWS_DATA_TRANSFER_DIFFERENT_REGION", Decimal("10.25"), Decimal(21), None),
        (date(2026, 10, 3), "ATLAS_AWS_INSTANCE_M30", Decimal(24), Decimal(1296), None)]
    first = records[0]
    assert first["unit_price_dollars"] == Decimal("0.54") and first["invoice_status"] == "CLOSED"
    assert first["start_date"] == datetime(2026, 10, 1, tzinfo=UTC) and first["cluster_name"] == "orders"
    assert first["group_name"] == "production" and first["line_number"] == 1 and first["org_id"] == ORG
    assert [(r.record_ref, r.field, r.reason) for r in rejects] == [
        ("invoice 6f0000000000000000000a10 lineItems[4]", "quantity", "not a number: 'twenty'")]
    listing = {p for p in atlas.requests if "/invoices?" in p}
    assert len(listing) == 3  # the server caps a page at one invoice: three pages for three invoices
    details = sorted({p for p in atlas.requests if p.endswith(("a10", "a11", "a09"))})
    assert details == [f"/api/atlas/v2/orgs/{ORG}/invoices/6f0000000000000000000a10"]  # only October's overlaps
    assert atlas.challenges >= 1  # the first request of a session is challenged, then answered with a digest


def test_a_429_waits_for_retry_after_and_retries(atlas):
    atlas.throttled = 1
    out = list(collector(atlas).collect(LINE_ITEMS, OCTOBER))
    assert len([r for r in out if not isinstance(r, Reject)]) == 5


def test_a_wrong_private_key_is_a_clear_error_and_never_shown(atlas):
    with pytest.raises(CollectorError, match=r"source atlas-test: list invoices page 1: GET .*/invoices.*401") as err:
        list(collector(atlas, keys=(PUBLIC_KEY, "wrong-private-key")).collect(LINE_ITEMS, OCTOBER))
    assert "wrong-private-key" not in str(err.value) and PRIVATE_KEY not in str(err.value)


def test_config_errors_name_the_option():
    with pytest.raises(ValueError, match=r"options.org_id: expected the Atlas organisation id"):
        MongodbAtlasCollector("atlas", {})
    with pytest.raises(ValueError, match=r"options.api_url: expected an http\(s\) URL"):
        MongodbAtlasCollector("atlas", {"org_id": ORG, "api_url": "cloud.mongodb.com"})


# --- the cluster inventory ------------------------------------------------------------------------------------------
STAGING = "5e2211c17a3e5a48f5497de4"
NOW = datetime(2026, 11, 4, 9, 30, tzinfo=UTC)  # the fake's clock: the answers' HTTP Date
BROKEN = cluster(STAGING, "broken", "M10", "2026-09-01T00:00:00Z")
del BROKEN["replicationSpecs"][0]["regionConfigs"][0]["electableSpecs"]["instanceSize"]


def inventory() -> dict[str, list]:
    """production: 'orders' (the invoices' M30 replica set of 3 nodes), 'analytics' (an M30 replica set of 3 nodes
    created on Nov 2, never invoiced), 'archive' (paused); staging: 'events' (2 shards of M10, 5 electable nodes
    each) and a cluster without its electable instance size."""
    return {PRODUCTION: [cluster(PRODUCTION, "orders", "M30", "2026-09-01T08:00:00Z", tags={"team": "web"}),
                         cluster(PRODUCTION, "analytics", "M30", "2026-11-02T10:15:00Z"),
                         cluster(PRODUCTION, "archive", "M30", "2026-09-01T08:00:00Z", paused=True)],
            STAGING: [cluster(STAGING, "events", "M10", "2026-09-15T00:00:00Z", nodes=5, shards=2,
                              cluster_type="SHARDED", region="EU_WEST_1"), BROKEN]}


def inventory_api(**kwargs) -> AtlasApi:
    return AtlasApi(october_invoices(), groups=[project(PRODUCTION, "production", 3), project(STAGING, "staging", 2)],
                    clusters=inventory(), now=NOW, **kwargs)


def test_clusters_are_a_snapshot_per_day_up_to_the_answer_across_pages():
    with inventory_api(page_size=1) as api:
        out = list(collector(api).collect(CLUSTERS, Window.from_dates(date(2026, 11, 1), date(2026, 12, 1))))
    records = [dict(zip(CLUSTERS.column_names, r, strict=True)) for r in out if not isinstance(r, Reject)]
    rejects = [r for r in out if isinstance(r, Reject)]
    days = defaultdict(list)
    for r in records:
        days[r["cluster_name"]].append(r["snapshot_date"])
    november = [date(2026, 11, d) for d in range(1, 5)]  # never after the answer's day (Nov 4)
    assert days == {"orders": november, "analytics": november[1:], "archive": november, "events": november}
    orders = next(r for r in records if r["cluster_name"] == "orders")
    assert (orders["org_id"], orders["group_id"], orders["group_name"], orders["cluster_type"], orders["provider"],
            orders["region"], orders["instance_size"], orders["electable_nodes"], orders["read_only_nodes"],
            orders["analytics_nodes"], orders["shard_count"], orders["state"], orders["paused"]) == (
        ORG, PRODUCTION, "production", "REPLICASET", "AWS", "US_EAST_1", "M30", 3, 0, 0, 1, "IDLE", False)
    assert orders["created"] == datetime(2026, 9, 1, 8, tzinfo=UTC) and orders["as_of"] == NOW
    assert json.loads(orders["tags"]) == {"team": "web"}
    events = next(r for r in records if r["cluster_name"] == "events")
    assert (events["group_name"], events["shard_count"], events["electable_nodes"], events["region"]) == (
        "staging", 2, 5, "EU_WEST_1")
    assert next(r for r in records if r["cluster_name"] == "archive")["paused"] is True
    assert [(r.dataset, r.record_ref, r.field) for r in rejects] == [
        ("clusters", f"project {STAGING} cluster broken",
         "replicationSpecs[0].regionConfigs[0].electableSpecs.instanceSize")]
    assert len({p for p in api.requests if "/groups?" in p}) == 2  # one project a page: two pages
    assert len({p for p in api.requests if f"/groups/{STAGING}/clusters?" in p}) == 2


def test_clusters_of_the_configured_projects_only_and_options():
    with inventory_api() as api:
        source = MongodbAtlasCollector("atlas-test", {"org_id": ORG, "api_url": api.url, "group_ids": [STAGING],
                                                      "datasets": ["clusters"]},
                                       clients={"keys": (PUBLIC_KEY, PRIVATE_KEY)})
        day = Window.from_dates(date(2026, 11, 3), date(2026, 11, 4))
        assert source.datasets() == (CLUSTERS,) and source.align_window(day) == day  # days, not months
        names = {r[5] for r in source.collect(CLUSTERS, day) if not isinstance(r, Reject)}
    assert names == {"events"} and not [p for p in api.requests if "/groups?" in p or "/invoices" in p]
    with pytest.raises(ValueError, match=r"options.datasets: expected a non-empty list of \['clusters', "):
        MongodbAtlasCollector("atlas", {"org_id": ORG, "datasets": ["invoices"]})
    with pytest.raises(ValueError, match=r"options.group_ids: expected a non-empty list of Atlas project ids"):
        MongodbAtlasCollector("atlas", {"org_id": ORG, "group_ids": "5e2211c17a3e5a48f5497de3"})


# --- loader and dbt: invoice lines win, the rest of the inventory is estimated at list price ------------------------
def seed_price(provider: str, size: str) -> Decimal:
    """The seed's price per cluster-hour, read here from the CSV (independently of dbt)."""
    with (ROOT / "dbt_project" / "seeds" / "mongodb_atlas_cluster_prices.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if (r["provider"], r["instance_size"]) == (provider, size)]
    assert len(rows) == 1
    return Decimal(rows[0]["price_per_hour"])


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Iterator[dict]:
    """The run of Nov 3 2026 (close days: October and November replaced) through pipeline.collect, then
    ``openfinops transform`` of the Atlas cost model (a real ``dbt build`` with its tests)."""
    tmp: Path = tmp_path_factory.mktemp("atlas")
    config = tmp / "atlas.yaml"
    url = create_database("ofo_atlas")
    try:
        with inventory_api() as api:
            config.write_text(yaml.safe_dump({"sources": [
                {"id": "atlas-acme", "type": "mongodb_atlas", "connection_id": "mongodb_atlas",
                 "max_reject_ratio": 0.5, "options": {"org_id": ORG, "api_url": api.url}}]}))
            with psycopg.connect(url) as conn:
                result = pipeline.collect(load_config(config), "atlas-acme",
                                          Window.from_dates(date(2026, 11, 3), date(2026, 11, 4)), conn,
                                          clients={"keys": (PUBLIC_KEY, PRIVATE_KEY)})
        assert result.window == Window.from_dates(date(2026, 10, 1), date(2026, 12, 1))
        # the Atlas cost model and everything it reads (seed, staging), with their tests; int_cost_lines_unioned
        # selects its FOCUS columns by name (tests/airflow/test_saas_dag_runs.py runs Atlas on to fct_cost_daily)
        proc = run_cli("--config", str(config), "transform", "--select", "+int_mongodb_atlas_costs_conformed",
                       "--indirect-selection", "cautious", "--target-path", str(tmp / "dbt-target"),
                       url=url, check=False)
        if proc.returncode != 0:
            pytest.fail(f"dbt build failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")
        yield {"url": url, "dbt_output": proc.stdout}
    finally:
        drop_database(url)


def atlas_lines(url: str) -> list[dict]:
    with psycopg.connect(url) as conn:
        cur = conn.execute("""SELECT resource_id, (charge_period_start AT TIME ZONE 'UTC')::date AS day, billed_cost,
                                     effective_cost, list_cost, pricing_quantity, pricing_category,
                                     charge_description, sku_id, tags
                              FROM intermediate.int_mongodb_atlas_costs_conformed""")
        return [dict(zip([c.name for c in cur.description], row, strict=True)) for row in cur.fetchall()]


def test_dbt_build_passes_with_the_estimates(warehouse):
    summary = [line for line in warehouse["dbt_output"].splitlines() if "Done. PASS=" in line][-1]
    assert "ERROR=0" in summary and "WARN=0" in summary, summary
    assert "int_mongodb_atlas_costs_conformed_estimates_per_cluster" in warehouse["dbt_output"]


def test_a_3_node_m30_without_invoice_lines_costs_24_hours_of_the_cluster_price_a_day(warehouse):
    """Estimates: 'analytics' (3-node M30) on Nov 2-4 and 'orders' on Nov 2-4 (Nov 1 is invoiced) at 24 x the M30
    price per cluster-hour, not 3 x that; 'events' at 24 x 2 shards x the M10 price, whatever its 5 nodes; nothing
    for the paused cluster, and nothing in October, whose invoice is closed."""
    m30, m10 = seed_price("AWS", "M30"), seed_price("AWS", "M10")
    expected = {**{("analytics", date(2026, 11, d)): 24 * m30 for d in (2, 3, 4)},
                **{("orders", date(2026, 11, d)): 24 * m30 for d in (2, 3, 4)},
                **{("events", date(2026, 11, d)): 24 * 2 * m10 for d in (1, 2, 3, 4)}}
    estimates = [r for r in atlas_lines(warehouse["url"]) if r["charge_description"].startswith("List-price estimate")]
    assert {(r["resource_id"], r["day"]): r["billed_cost"] for r in estimates} == expected
    assert len(estimates) == len(expected)  # one line per cluster-day
    analytics = next(r for r in estimates if r["resource_id"] == "analytics")
    assert analytics["billed_cost"] == Decimal("12.96") != 3 * 24 * m30
    assert analytics["pricing_quantity"] == 24 and analytics["sku_id"] == "ATLAS_AWS_INSTANCE_M30"
    for r in estimates:
        assert r["effective_cost"] == r["list_cost"] == r["billed_cost"]
        assert r["pricing_category"] == "Standard"
        assert r["tags"]["x_cost_basis"] == "list_price_estimate"
        assert r["tags"]["x_price_source"].startswith("https://www.mongodb.com/")


def test_an_invoiced_cluster_day_is_not_estimated_on_top(warehouse):
    """Every invoice line reaches the cost model unchanged (net of discount, to the cent, from the fixture), and a
    cluster-day with invoice lines (orders on Nov 1; October's days) has no estimate besides them."""
    invoiced: dict[tuple[str, date], Decimal] = defaultdict(Decimal)
    for invoice in october_invoices():
        for item in invoice["lineItems"]:
            day = date.fromisoformat(item["startDate"][:10])
            if date(2026, 10, 1) <= day < date(2026, 12, 1) and isinstance(item["quantity"], int | float):
                invoiced[(item["clusterName"], day)] += (Decimal(item["totalPriceCents"])
                                                         - Decimal(item.get("discountCents", 0))) / 100
    lines = atlas_lines(warehouse["url"])
    billed = defaultdict(Decimal)
    for r in lines:
        if not r["charge_description"].startswith("List-price estimate"):
            billed[(r["resource_id"], r["day"])] += r["billed_cost"]
    assert billed == invoiced
    estimated = {(r["resource_id"], r["day"]) for r in lines if r["charge_description"].startswith("List-price")}
    assert not estimated & set(invoiced)
    assert ("orders", date(2026, 11, 1)) in invoiced and not [d for _, d in estimated if d.month == 10]


def test_rejects_are_kept_and_no_api_key_reaches_raw(warehouse):
    with psycopg.connect(warehouse["url"]) as conn:
        rejects = conn.execute("""SELECT dataset, record_ref, field FROM raw._rejects
                                  WHERE _source_id = 'atlas-acme' ORDER BY dataset""").fetchall()
        dump = "".join(str(conn.execute(f"SELECT * FROM raw.{table}").fetchall()) for table in (
            "mongodb_atlas_line_items", "mongodb_atlas_clusters", "_rejects"))
        days = conn.execute("SELECT min(snapshot_date), max(snapshot_date) FROM raw.mongodb_atlas_clusters").fetchone()
    assert rejects == [("clusters", f"project {STAGING} cluster broken",
                        "replicationSpecs[0].regionConfigs[0].electableSpecs.instanceSize"),
                       ("line_items", "invoice 6f0000000000000000000a10 lineItems[4]", "quantity")]
    assert days == (date(2026, 10, 1), NOW.date())
    assert PUBLIC_KEY not in dump and PRIVATE_KEY not in dump
