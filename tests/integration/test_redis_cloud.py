"""redis_cloud against a local Redis Cloud API (tests/fakes/redis_cloud_api.py): Redis's own client fixture
verbatim plus a monthly-priced subscription; pricing items read field by field with Decimal money, unpriced items
kept without a price, a malformed price rejected naming the field, a 429 retried, unknown subscription ids refused.
The estimation bug of the original agent (a field that does not exist, so cost 0) cannot recur: the price comes
from subscriptionPricing[].pricePerUnit, asserted here, and the daily cost in staging (tests/airflow)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from collectors.core.base import CollectorError, Reject, Window
from collectors.sources.redis_cloud import SUBSCRIPTION_PRICING, RedisCloudCollector
from tests.fakes.redis_cloud_api import API_KEY, SECRET_KEY, RedisCloudApi, vendor_subscriptions

TWO_DAYS = Window.from_dates(date(2026, 11, 1), date(2026, 11, 3))


def collector(api: RedisCloudApi, **options) -> RedisCloudCollector:
    return RedisCloudCollector("redis-test", {"api_url": api.url, **options},
                               clients={"api_key": API_KEY, "secret_key": SECRET_KEY})


def test_pricing_items_per_day_with_decimal_prices_and_a_rejected_item():
    with RedisCloudApi(vendor_subscriptions()) as api:
        api.throttle = 1
        out = list(collector(api).collect(SUBSCRIPTION_PRICING, TWO_DAYS))
    assert api.requests == 2  # the 429 retried
    rows = [r for r in out if not isinstance(r, Reject)]
    rejects = [r for r in out if isinstance(r, Reject)]
    assert [(r.record_ref, r.field, r.reason) for r in rejects] == [
        ("subscription 98766 subscriptionPricing[1]", "pricePerUnit", "not a number: 'n/a'")]
    by_day = {d: [r for r in rows if r[0] == d] for d in (date(2026, 11, 1), date(2026, 11, 2))}
    assert [len(v) for v in by_day.values()] == [4, 4]  # 3 items of the fixture + 1 priced monthly item, each day
    first = [r[1:14] for r in by_day[date(2026, 11, 1)]]
    assert first == [
        ("40131", "1", "Get-test", "active", 1, "Shards", None, Decimal(1), "shards", Decimal("0.1"), "USD", "hour",
         "AWS"),
        ("40131", "1", "Get-test", "active", 2, "EBS Volume", None, Decimal(71), "GB", None, None, None, "AWS"),
        ("40131", "1", "Get-test", "active", 3, "c5.xlarge", None, Decimal(2), "instances", None, None, None, "AWS"),
        ("40131", "98766", "cache-eu", "active", 1, "Shards", "sessions", Decimal(2), "shards", Decimal("43.8"),
         "USD", "month", "GCP"),
    ]
    assert all(r[14].tzinfo is not None for r in rows)  # observed_at: the response's Date


def test_subscription_ids_select_and_a_missing_one_is_an_error():
    with RedisCloudApi(vendor_subscriptions()) as api:
        rows = list(collector(api, subscription_ids=[1]).collect(SUBSCRIPTION_PRICING, TWO_DAYS))
        assert {r[2] for r in rows} == {"1"}
        with pytest.raises(CollectorError, match=r"options.subscription_ids \['424242'\] not in the account"):
            list(collector(api, subscription_ids=[1, 424242]).collect(SUBSCRIPTION_PRICING, TWO_DAYS))


def test_wrong_keys_fail_naming_the_source_and_the_status():
    with RedisCloudApi(vendor_subscriptions()) as api:
        bad = RedisCloudCollector("redis-test", {"api_url": api.url}, clients={"api_key": "x", "secret_key": "y"})
        with pytest.raises(CollectorError, match="source redis-test: list subscriptions: GET /v1/subscriptions "
                                                 "failed with HTTP 401"):
            list(bad.collect(SUBSCRIPTION_PRICING, TWO_DAYS))


def test_credentials_come_from_the_airflow_connection_and_a_missing_field_is_named(monkeypatch):
    import json

    with RedisCloudApi(vendor_subscriptions()) as api:
        monkeypatch.setenv("AIRFLOW_CONN_REDIS_T", json.dumps({"conn_type": "http", "login": API_KEY,
                                                               "password": SECRET_KEY}))
        ok = RedisCloudCollector("redis-test", {"api_url": api.url}, context={"connection_id": "redis_t"})
        assert len(list(ok.collect(SUBSCRIPTION_PRICING, TWO_DAYS))) == 9  # 4 rows a day + the rejected item
        monkeypatch.setenv("AIRFLOW_CONN_REDIS_T", json.dumps({"conn_type": "http", "password": SECRET_KEY}))
        with pytest.raises(CollectorError, match=r"connection 'redis_t': expected login \(account API key\) and "
                                                 r"password \(secret key\)"):
            list(ok.collect(SUBSCRIPTION_PRICING, TWO_DAYS))
    with pytest.raises(CollectorError, match="no credentials: set connection_id"):
        list(RedisCloudCollector("redis-test", {}).collect(SUBSCRIPTION_PRICING, TWO_DAYS))
