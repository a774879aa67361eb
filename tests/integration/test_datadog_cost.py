"""datadog_cost against a local Datadog Usage Metering API (tests/fakes/datadog_api.py): historical cost for a
closed month, estimated cost when there is none yet, every charge read with Decimal cost, a malformed charge
rejected naming the field, Datadog's 429 with X-RateLimit-* retried. The original agent's estimate (max hosts x $15)
cannot recur: the cost is the vendor's, asserted to the cent."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from collectors.core.base import CollectorError, Reject, Window
from collectors.sources.datadog_cost import COST_CHARGES, DatadogCostCollector
from tests.fakes.datadog_api import API_KEY, APP_KEY, DatadogApi, standard_api

OCT_NOV = Window.from_dates(date(2026, 10, 1), date(2026, 12, 1))


def collector(api: DatadogApi, **options) -> DatadogCostCollector:
    return DatadogCostCollector("dd-test", {"api_url": api.url, **options},
                                clients={"api_key": API_KEY, "app_key": APP_KEY})


def test_historical_then_estimated_charges_with_decimal_costs():
    with standard_api(DatadogApi()) as api:
        api.throttle = 1
        out = list(collector(api).collect(COST_CHARGES, OCT_NOV))
    rows = [r for r in out if not isinstance(r, Reject)]
    rejects = [r for r in out if isinstance(r, Reject)]
    assert api.requests == ["historical_cost 2026-10", "historical_cost 2026-10", "historical_cost 2026-11",
                            "estimated_cost 2026-11"]  # the 429 retried; November has no historical cost yet
    assert [(r.record_ref, r.field, r.reason) for r in rejects] == [
        ("historical_cost 2026-10 data[0].charges[6]", "cost", "not a number: 'n/a'")]
    assert [(r[0], r[1], r[7], r[8], r[9]) for r in rows] == [
        (date(2026, 10, 1), "historical", "infra_host", "committed", Decimal("1200.00")),
        (date(2026, 10, 1), "historical", "infra_host", "on_demand", Decimal("345.67")),
        (date(2026, 10, 1), "historical", "infra_host", "total", Decimal("1545.67")),
        (date(2026, 10, 1), "historical", "apm_host", "committed", Decimal("800")),
        (date(2026, 10, 1), "historical", "apm_host", "on_demand", Decimal("0.5")),
        (date(2026, 10, 1), "historical", "apm_host", "total", Decimal("800.5")),
        (date(2026, 11, 1), "estimated", "infra_host", "committed", Decimal("600")),
        (date(2026, 11, 1), "estimated", "infra_host", "on_demand", Decimal("99.99")),
        (date(2026, 11, 1), "estimated", "infra_host", "total", Decimal("699.99")),
    ]
    assert {r[2:7] for r in rows} == {("abcdef12345", "Acme", "abcdef12345", "Acme", "eu")}


def test_options_and_keys_are_checked():
    with pytest.raises(ValueError, match="options.view: expected one of \\['summary', 'sub-org'\\], got 'all'"):
        DatadogCostCollector("dd", {"view": "all"})
    with standard_api(DatadogApi()) as api:
        bad = DatadogCostCollector("dd-test", {"api_url": api.url}, clients={"api_key": "x", "app_key": "y"})
        with pytest.raises(CollectorError, match="source dd-test: historical_cost 2026-10: GET "
                                                 "/api/v2/usage/historical_cost failed with HTTP 403"):
            list(bad.collect(COST_CHARGES, OCT_NOV))
