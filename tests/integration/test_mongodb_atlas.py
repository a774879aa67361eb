"""mongodb_atlas against a local Atlas Admin API v2 (tests/fakes/mongodb_atlas_api.py) through requests' real HTTP
digest authentication: invoices listed page by page, the ones overlapping the window read with their line items,
money parsed as Decimal (cents and dollars as sent), a malformed item rejected naming the field, a wrong key a clear
error."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from collectors.core.base import CollectorError, Reject, Window
from collectors.sources.mongodb_atlas import LINE_ITEMS, MongodbAtlasCollector
from tests.fakes.mongodb_atlas_api import ORG, PRIVATE_KEY, PUBLIC_KEY, AtlasApi, october_invoices

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
