"""The Cost Explorer collector against fakes at the network boundary (no database): moto in server mode for
GetCostAndUsage answers (the AWS CLI's own example among them), and a tiny awsJson1_1 HTTP server for throttling,
which moto cannot produce. botocore makes real HTTP requests in every test."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from botocore.config import Config

from collectors.core.base import CollectorError, Reject, Window
from collectors.sources import aws_cost_explorer
from collectors.sources.aws_cost_explorer import COST_DAILY, CostExplorerCollector
from tests.conftest import SHARED_DATA
from tests.fakes.moto_server import CREDENTIALS, MotoServer

VENDOR_EXAMPLE = SHARED_DATA / "vendor-api" / "aws-ce-get-cost-and-usage.json"
CE_RESULTS = "/moto-api/static/ce/cost-and-usage-results"
COLUMNS = COST_DAILY.column_names


def ce_client(url: str, max_attempts: int = 3):
    return boto3.client("ce", endpoint_url=url, region_name="us-east-1",
                        config=Config(retries={"mode": "standard", "total_max_attempts": max_attempts}),
                        **CREDENTIALS)


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def ce(moto):
    moto.reset()
    return ce_client(moto.url)


def as_dicts(records) -> list[dict]:
    return [dict(zip(COLUMNS, r, strict=True)) for r in records]


# -- options -----------------------------------------------------------------------------------------------------
def test_passes_from_options():
    default = CostExplorerCollector("aws-ce", {"tag_keys": ["team", "env"]})
    assert [p.grouping for p in default.passes] == ["LINKED_ACCOUNT,SERVICE", "REGION", "TAG:team", "TAG:env"]
    assert default.passes[2].request == [{"Type": "TAG", "Key": "team"}]
    custom = CostExplorerCollector("aws-ce", {"extra_group_bys": [["LINKED_ACCOUNT", "REGION"], ["TAG:team"],
                                                                  ["COST_CATEGORY:Unit"]],
                                              "tag_keys": ["team"]})  # TAG:team asked twice: pulled once
    assert [p.grouping for p in custom.passes] == ["LINKED_ACCOUNT,SERVICE", "LINKED_ACCOUNT,REGION", "TAG:team",
                                                   "COST_CATEGORY:Unit"]
    assert [p.grouping for p in CostExplorerCollector("aws-ce", {"extra_group_bys": []}).passes] == [
        "LINKED_ACCOUNT,SERVICE"]


@pytest.mark.parametrize(("options", "message"), [
    ({"tag_key": ["team"]}, "unknown options ['tag_key']"),
    ({"tag_keys": "team"}, "options.tag_keys must be a list"),
    ({"extra_group_bys": [["REGION", "SERVICE", "USAGE_TYPE"]]}, "options.extra_group_bys[0] must be a list of 1-2"),
    ({"extra_group_bys": [["region"]]}, "options.extra_group_bys[0] has 'region'"),
    ({"extra_group_bys": [["LABEL:x"]]}, "'TAG:<key>' or 'COST_CATEGORY:<name>'"),
    ({"filter": "SERVICE=EC2"}, "options.filter must be a Cost Explorer Expression"),
    ({"max_retries": -1}, "options.max_retries must be an integer >= 0"),
    ({"retry_base_seconds": "1s"}, "options.retry_base_seconds must be a number >= 0"),
])
def test_bad_options_name_the_key(options, message):
    with pytest.raises(ValueError, match="source aws-ce") as err:
        CostExplorerCollector("aws-ce", options)
    assert message in str(err.value)


def test_window_is_aligned_to_whole_utc_days():
    from datetime import UTC, datetime

    collector = CostExplorerCollector("aws-ce")
    aligned = collector.align_window(Window(datetime(2026, 11, 1, 6, tzinfo=UTC), datetime(2026, 11, 3, 1, tzinfo=UTC)))
    assert aligned == Window.from_dates(date(2026, 11, 1), date(2026, 11, 4))
    whole = Window.from_dates(date(2026, 11, 1), date(2026, 11, 2))
    assert collector.align_window(whole) == whole


# -- the AWS CLI example through moto ----------------------------------------------------------------------------
def test_vendor_example_is_parsed_field_by_field(moto, ce):
    """The verbatim `aws ce get-cost-and-usage` example (SERVICE x TAG Environment, MONTHLY, September 2017) as the
    answer to a pass asking for exactly that grouping; the cost pass before it gets an empty answer."""
    example = json.loads(VENDOR_EXAMPLE.read_text())
    assert moto.post(CE_RESULTS, {"results": [{"ResultsByTime": []}, example]}) == 201
    collector = CostExplorerCollector("aws-ce", {"extra_group_bys": [["SERVICE", "TAG:Environment"]]},
                                      clients={"ce": ce})
    rows = as_dicts(collector.collect(COST_DAILY, Window.from_dates(date(2017, 9, 1), date(2017, 10, 1))))

    groups = example["ResultsByTime"][0]["Groups"]
    assert len(rows) == len(groups) == 2
    for row, group in zip(rows, groups, strict=True):
        metrics = group["Metrics"]
        assert row["grouping"] == "SERVICE,TAG:Environment"
        assert (row["time_period_start"], row["time_period_end"]) == (date(2017, 9, 1), date(2017, 10, 1))
        assert row["estimated"] is False
        assert row["service"] == group["Keys"][0] == "Amazon Simple Storage Service"
        assert row["tag_key"] == "Environment"
        assert row["unblended_cost"] == Decimal(metrics["UnblendedCost"]["Amount"])
        assert row["usage_quantity"] == Decimal(metrics["UsageQuantity"]["Amount"])
        assert (row["currency"], row["usage_unit"]) == ("USD", "N/A")
        # Not asked for in the CLI example, so absent: NULL, not zero. BlendedCost stays in the payload only.
        assert row["amortized_cost"] is None and row["net_amortized_cost"] is None
        assert json.loads(row["payload"]) == group
        assert row["linked_account_id"] is None and row["region"] is None and row["other_keys"] is None
    assert [r["tag_value"] for r in rows] == [None, "Dev"]  # "Environment$" = untagged
    assert sum(r["unblended_cost"] for r in rows) == Decimal("40.3543773134") + Decimal("0.2682364644")


def test_bad_groups_are_rejected_with_field_and_position(moto, ce):
    def group(keys, unblended="1.5000000000", unit="USD", amortized_unit="USD"):
        return {"Keys": keys, "Metrics": {"UnblendedCost": {"Amount": unblended, "Unit": unit},
                                          "AmortizedCost": {"Amount": "1.2", "Unit": amortized_unit}}}

    page = {"GroupDefinitions": [{"Type": "DIMENSION", "Key": "REGION"}, {"Type": "TAG", "Key": "team"}],
            "ResultsByTime": [{"TimePeriod": {"Start": "2026-11-01", "End": "2026-11-02"}, "Estimated": True,
                               "Total": {}, "Groups": [
                                   group(["us-east-1", "team$ml"]),
                                   group(["us-east-1", "team$web"], unblended="12,50"),
                                   group(["eu-west-1", "team$web"], amortized_unit="EUR"),
                                   group(["eu-west-1"]),
                                   group(["eu-west-1", "owner$alice"]),
                                   group(["ap-south-1", "team$"], unblended="-0.0100000000"),
                               ]}]}
    moto.post(CE_RESULTS, {"results": [{"ResultsByTime": []}, page]})
    collector = CostExplorerCollector("aws-ce", {"extra_group_bys": [["REGION", "TAG:team"]]}, clients={"ce": ce})
    out = list(collector.collect(COST_DAILY, Window.from_dates(date(2026, 11, 1), date(2026, 11, 2))))

    rejects = [r for r in out if isinstance(r, Reject)]
    assert [(r.record_ref, r.field) for r in rejects] == [
        ("REGION,TAG:team page 1 ResultsByTime[0].Groups[1]", "Metrics.UnblendedCost.Amount"),
        ("REGION,TAG:team page 1 ResultsByTime[0].Groups[2]", "Metrics.*.Unit"),
        ("REGION,TAG:team page 1 ResultsByTime[0].Groups[3]", "Keys"),
        ("REGION,TAG:team page 1 ResultsByTime[0].Groups[4]", "Keys[1]"),
    ]
    assert "'12,50'" in rejects[0].reason and "EUR" in rejects[1].reason
    assert json.loads(rejects[2].raw_text)["Keys"] == ["eu-west-1"] and "owner$alice" in rejects[3].reason
    rows = as_dicts(r for r in out if not isinstance(r, Reject))
    assert [(r["region"], r["tag_value"], r["unblended_cost"], r["estimated"]) for r in rows] == [
        ("us-east-1", "ml", Decimal("1.5000000000"), True), ("ap-south-1", None, Decimal("-0.0100000000"), True)]


def test_response_grouped_otherwise_than_asked_fails(moto, ce):
    example = json.loads(VENDOR_EXAMPLE.read_text())  # grouped by SERVICE x TAG Environment
    moto.post(CE_RESULTS, {"results": [example]})
    collector = CostExplorerCollector("aws-ce", {"extra_group_bys": []}, clients={"ce": ce})
    with pytest.raises(CollectorError, match=r"source aws-ce: .*GroupDefinitions .*'SERVICE'.* but GroupBy"):
        list(collector.collect(COST_DAILY, Window.from_dates(date(2017, 9, 1), date(2017, 10, 1))))


# -- throttling: a tiny server speaking Cost Explorer's awsJson1_1 wire format -----------------------------------
ONE_DAY = {"GroupDefinitions": [{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"},
                                {"Type": "DIMENSION", "Key": "SERVICE"}],
           "ResultsByTime": [{"TimePeriod": {"Start": "2026-11-01", "End": "2026-11-02"}, "Total": {},
                              "Estimated": True, "Groups": [
                                  {"Keys": ["111111111111", "AWS Lambda"],
                                   "Metrics": {"UnblendedCost": {"Amount": "0.4200000000", "Unit": "USD"}}}]}]}


class FakeCostExplorer:
    """Answers POST / with scripted (status, JSON body, headers) in order, repeating the last one; counts requests."""

    def __init__(self, script: list[tuple[int, dict, dict]]) -> None:
        self.script = script
        self.targets: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fake.targets.append(self.headers.get("X-Amz-Target", ""))
                status, body, headers = fake.script[min(len(fake.targets), len(fake.script)) - 1]
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "req-1",
                                    "Content-Length": str(len(data)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


THROTTLED = (400, {"__type": "ThrottlingException", "message": "Rate exceeded"}, {})


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """The collector's backoff delays, recorded instead of slept."""
    delays: list[float] = []
    monkeypatch.setattr(aws_cost_explorer, "sleep", delays.append)
    return delays


def collector_for(fake: FakeCostExplorer, **options) -> CostExplorerCollector:
    # One botocore attempt per call, so every request the fake sees is one of the collector's own retries.
    return CostExplorerCollector("aws-ce", {"extra_group_bys": [], **options},
                                 clients={"ce": ce_client(fake.url, max_attempts=1)})


def test_throttled_api_is_retried_with_backoff_then_succeeds(sleeps):
    fake = FakeCostExplorer([(400, THROTTLED[1], {"Retry-After": "7"}), THROTTLED, (200, ONE_DAY, {})])
    try:
        rows = as_dicts(collector_for(fake, max_retries=3, retry_base_seconds=0.01).collect(
            COST_DAILY, Window.from_dates(date(2026, 11, 1), date(2026, 11, 2))))
    finally:
        fake.close()
    assert fake.targets == ["AWSInsightsIndexService.GetCostAndUsage"] * 3
    assert sleeps == [7.0, 0.02]  # Retry-After wins over the 0.01 s backoff; then 0.01 x 2
    assert [(r["linked_account_id"], r["service"], r["unblended_cost"]) for r in rows] == [
        ("111111111111", "AWS Lambda", Decimal("0.4200000000"))]


def test_throttled_for_good_gives_a_collector_error(sleeps):
    fake = FakeCostExplorer([THROTTLED])
    try:
        with pytest.raises(CollectorError) as err:
            list(collector_for(fake, max_retries=2, retry_base_seconds=0.001).collect(
                COST_DAILY, Window.from_dates(date(2026, 11, 1), date(2026, 11, 2))))
    finally:
        fake.close()
    assert len(fake.targets) == 3 and len(sleeps) == 2
    message = str(err.value)
    for part in ("source aws-ce", "GetCostAndUsage", "LINKED_ACCOUNT,SERVICE", "after 3 attempts", "HTTP 400",
                 "ThrottlingException", "Rate exceeded"):
        assert part in message


def test_other_api_errors_are_not_retried(sleeps):
    fake = FakeCostExplorer([(400, {"__type": "AccessDeniedException", "Message": "User is not authorized"}, {})])
    try:
        with pytest.raises(CollectorError, match="source aws-ce: .*HTTP 400 AccessDeniedException: User is not auth"):
            list(collector_for(fake).collect(COST_DAILY, Window.from_dates(date(2026, 11, 1), date(2026, 11, 2))))
    finally:
        fake.close()
    assert len(fake.targets) == 1 and sleeps == []


def test_a_retry_after_longer_than_the_task_waits_fails_at_once(sleeps):
    fake = FakeCostExplorer([(400, THROTTLED[1], {"Retry-After": "86400"})])
    try:
        with pytest.raises(CollectorError, match=r"source aws-ce: .*asks to wait 86400 s \(Retry-After\), more than "
                                                 r"the 300 s"):
            list(collector_for(fake, max_retries=3).collect(
                COST_DAILY, Window.from_dates(date(2026, 11, 1), date(2026, 11, 2))))
    finally:
        fake.close()
    assert len(fake.targets) == 1 and sleeps == []


def test_a_next_page_token_that_repeats_fails_instead_of_looping(sleeps):
    looping = {**ONE_DAY, "NextPageToken": "same-token-again"}
    fake = FakeCostExplorer([(200, looping, {})])
    try:
        with pytest.raises(CollectorError, match=r"source aws-ce: .*page 2 returned a continuation already followed"):
            list(collector_for(fake).collect(COST_DAILY, Window.from_dates(date(2026, 11, 1), date(2026, 11, 2))))
    finally:
        fake.close()
    assert len(fake.targets) == 2
