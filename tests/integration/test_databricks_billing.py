"""databricks_billing through the provider's real DatabricksHook (an Airflow connection of type databricks from the
environment) against a local workspace speaking the SQL Statement Execution API (tests/fakes/databricks_api.py):
statements polled until they succeed, results read chunk by chunk inline and from presigned links (without the
token), values parsed from JSON_ARRAY strings (Decimal quantities, UTC timestamps, JSON structs), a malformed row
rejected naming its record and field, a failed statement or a missing warehouse a clear error."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from collectors.core.base import CollectorError, Reject, Window
from collectors.sources.databricks_billing import JOB_RUN_TIMELINE, JOBS, LIST_PRICES, USAGE, DatabricksBillingCollector
from tests.fakes.databricks_api import TOKEN, WAREHOUSE, DatabricksApi, job_runs, list_prices, usage_rows

WINDOW = Window.from_dates(date(2026, 10, 13), date(2026, 10, 17))


@pytest.fixture
def workspace(monkeypatch):
    with DatabricksApi(chunk_rows=3) as api:
        api.usage = usage_rows()
        api.list_prices = list_prices()
        api.job_run_timeline, api.jobs = job_runs()
        monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_TEST", json.dumps(api.connection()))
        yield api


def collector(**options) -> DatabricksBillingCollector:
    return DatabricksBillingCollector("dbx-test", {"warehouse_id": WAREHOUSE, **options},
                                      context={"connection_id": "databricks_test"})


@pytest.mark.parametrize("disposition", ["EXTERNAL_LINKS", "INLINE"])
def test_usage_is_read_chunk_by_chunk_after_polling_and_parsed_to_typed_values(workspace, disposition):
    workspace.pending = 1
    out = list(collector(disposition=disposition).collect(USAGE, WINDOW))
    expected = [r for r in usage_rows() if WINDOW.start <= r["usage_start_time"] < WINDOW.end]
    assert len(out) == len(expected) == 8 and not [r for r in out if isinstance(r, Reject)]
    first = dict(zip(USAGE.column_names, out[0], strict=True))
    assert first["record_id"] == "rec-0001" and first["usage_quantity"] == Decimal("41.5000")
    assert first["usage_start_time"] == datetime(2026, 10, 13, 2, tzinfo=UTC)
    assert first["usage_date"] == date(2026, 10, 13) and first["record_type"] == "ORIGINAL"
    assert json.loads(first["usage_metadata"])["job_id"] == "1001"
    assert json.loads(first["identity_metadata"]) == {"run_as": "example@email.com", "created_by": None}
    docs_row = next(dict(zip(USAGE.column_names, r, strict=True)) for r in out if r[0].startswith("11e22ba4"))
    assert docs_row["usage_quantity"] == Decimal("259.2958") and json.loads(docs_row["custom_tags"]) == {
        "env": "production", "team": "Data"}
    assert sum(r[USAGE.column_names.index("usage_quantity")] for r in out) == sum(
        r["usage_quantity"] for r in expected)
    chunks = [r for r in workspace.requests if "/result/chunks/" in r]
    assert len(chunks) == 2  # 8 rows in chunks of 3: chunk 0 in the answer, 1 and 2 fetched
    polls = [r for r in workspace.requests if r.startswith("GET /api/2.0/sql/statements/") and "/result/" not in r]
    assert len(polls) == 2  # PENDING on submit, RUNNING on the first poll, SUCCEEDED on the second
    if disposition == "EXTERNAL_LINKS":
        assert len([r for r in workspace.requests if r.startswith("GET /presigned/")]) == 3
        assert workspace.link_auth_headers == 0


def test_a_429_is_retried_by_the_hook(workspace):
    workspace.throttled = 1
    out = list(collector(disposition="INLINE").collect(USAGE, WINDOW))
    assert len(out) == 8 and [r for r in workspace.requests if r.startswith("POST")] == [
        "POST /api/2.0/sql/statements"] * 2


def test_prices_valid_in_the_window_are_read_for_the_window(workspace):
    out = list(collector().collect(LIST_PRICES, WINDOW))
    assert [(r[0], r[4], r[5], r[2]) for r in out] == [
        (WINDOW.start, "PREMIUM_JOBS_COMPUTE", "AWS", None),
        (WINDOW.start, "STANDARD_ALL_PURPOSE_COMPUTE", "AWS", datetime(2026, 10, 15, tzinfo=UTC)),
        (WINDOW.start, "STANDARD_ALL_PURPOSE_COMPUTE", "AWS", None),
        (WINDOW.start, "STANDARD_ALL_PURPOSE_COMPUTE", "AZURE", None),
    ]
    assert json.loads(out[1][-1]) == {"default": "0.10", "promotional": {"default": "0.07"},
                                      "effective_list": {"default": "0.07"}}
    assert out[1][1] == datetime(2023, 1, 1, 9, 59, 59, 999000, tzinfo=UTC)


def test_a_malformed_row_is_rejected_naming_the_record_and_field(workspace):
    bad = dict(usage_rows()[1], record_id="rec-bad", usage_quantity="12,5")
    workspace.usage.append(bad)
    out = list(collector().collect(USAGE, WINDOW))
    rejects = [r for r in out if isinstance(r, Reject)]
    assert [(r.dataset, r.record_ref, r.field) for r in rejects] == [
        ("usage", "system.billing.usage record_id rec-bad", "usage_quantity")]
    assert "'12,5'" in rejects[0].reason and len(out) == 9


def test_a_failed_statement_and_a_wrong_warehouse_are_clear_errors(workspace):
    workspace.fail_next = ("BAD_REQUEST", "[INSUFFICIENT_PERMISSIONS] User does not have USE SCHEMA on system.billing")
    with pytest.raises(CollectorError, match=r"source dbx-test: system.billing.usage .*FAILED: BAD_REQUEST "
                                             r"\[INSUFFICIENT_PERMISSIONS\]"):
        list(collector().collect(USAGE, WINDOW))
    wrong = DatabricksBillingCollector("dbx-test", {"warehouse_id": "nope"},
                                       context={"connection_id": "databricks_test"})
    with pytest.raises(CollectorError, match=r"POST /api/2.0/sql/statements failed: .*Warehouse nope does not exist"):
        list(wrong.collect(USAGE, WINDOW))


def test_job_run_slices_and_job_changes_are_read_from_lakeflow(workspace):
    slices = [dict(zip(JOB_RUN_TIMELINE.column_names, r, strict=True))
              for r in collector().collect(JOB_RUN_TIMELINE, WINDOW)]
    assert [(s["run_id"], s["result_state"]) for s in slices] == [
        ("run-1", "SUCCEEDED"), ("run-2", "FAILED"), ("run-2", "SUCCEEDED"), ("run-3", None), ("run-3", None),
        ("run-3", "TIMED_OUT")]
    assert slices[0]["period_start_time"] == datetime(2026, 10, 13, 2, tzinfo=UTC)
    jobs = list(collector().collect(JOBS, WINDOW))
    assert [(j[2], j[3]) for j in jobs] == [("1001", "nightly-etl"), ("1002", "weekly-report"),
                                            ("1001", "nightly-etl-v2")]
    assert json.loads(jobs[0][6]) == {"team": "data"}
    assert DatabricksBillingCollector("d", {"warehouse_id": WAREHOUSE, "jobs": False}).datasets() == (USAGE,
                                                                                                      LIST_PRICES)


def test_config_errors_name_the_option():
    with pytest.raises(ValueError, match=r"options.warehouse_id: expected the id of the SQL warehouse"):
        DatabricksBillingCollector("dbx", {})
    with pytest.raises(ValueError, match=r"options.disposition: expected 'EXTERNAL_LINKS' or 'INLINE'"):
        DatabricksBillingCollector("dbx", {"warehouse_id": WAREHOUSE, "disposition": "ARROW"})


def test_the_token_is_not_in_records_or_rejects(workspace):
    out = list(collector().collect(USAGE, WINDOW)) + list(collector().collect(LIST_PRICES, WINDOW))
    assert TOKEN not in repr(out) and "presignedsecret" not in repr(out)
