"""The published batch schema is the one the server checks, and its errors name the field; the compiled fast path
(msgspec) accepts nothing the schema refuses (generated batches) and accepts what agents send."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openfinops.server import schema


def test_the_published_schema_is_the_servers():
    assert json.loads(schema.SCHEMA_PATH.read_text()) == schema.SCHEMA, (
        "docs/telemetry-batch.schema.json is stale: python -c 'from openfinops.server import schema; "
        "schema.write_schema()'")


@pytest.mark.parametrize("batch, field", [
    ({"batch_id": "b"}, "agent_id"),
    ({"agent_id": "a", "batch_id": "b", "node_metrics": [{"timestamp": 0, "cluster_id": "c"}]},
     "node_metrics[0].node_id"),
    ({"agent_id": "a", "batch_id": "b", "cost_records": [
        {"timestamp": 0, "provider": "p", "service": "s", "cost": "12,50", "currency": "EUR"}]},
     "cost_records[0].cost"),
    ({"agent_id": "a", "batch_id": "b", "cost_records": [
        {"timestamp": 0, "provider": "p", "service": "s", "cost": 1, "currency": "euro"}]},
     "cost_records[0].currency"),
    ({"agent_id": "a", "batch_id": "b", "extra": 1}, "extra"),
])
def test_errors_name_the_field(batch, field):
    with pytest.raises(schema.BatchError) as err:
        schema.validate(batch)
    assert err.value.field == field and str(err.value).startswith(field)


def test_a_valid_batch_passes():
    schema.validate({"agent_id": "a", "batch_id": "b", "cost_records": [
        {"timestamp": "2026-12-01T00:00:00Z", "provider": "p", "service": "s", "cost": "-3.25", "currency": "USD"}],
        "metrics": [{"timestamp": 1796292000, "name": "m", "value": 1.5, "labels": {"k": "v"}}]})


# -- the compiled check (msgspec) against the published schema (jsonschema) ------------------------------------------
def accepted_by_schema(body: bytes) -> bool:
    try:
        batch = json.loads(body, parse_float=Decimal)
        schema.validate(batch)
        schema.check_times(batch)
    except (ValueError, schema.BatchError):
        return False
    return True


def accepted_by_fast_path(body: bytes) -> bool:
    if not schema.fast_check(body):
        return False
    try:
        schema.check_times(json.loads(body, parse_float=Decimal))
    except schema.BatchError:
        return False
    return True


times = st.one_of(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)).map(
        lambda d: d.isoformat()),
    st.floats(min_value=0, max_value=4e9), st.integers(min_value=0, max_value=4_000_000_000),
    st.sampled_from(["2026-12-01T00:00:00Z", "2026-12-01t00:00:00z", "2026-12-01 00:00:00Z", "2026-12-01T00:00Z",
                     "2026-12-01T00:00:00+0530", "2026-02-30T00:00:00Z", "2026-12-01T24:00:00Z", "2026-12-01",
                     "2026-12-01T00:00:00", "2026-12-01T00:00:00+24:00", "-1", ""]),
    st.integers(min_value=-10, max_value=-1), st.just(1e30))
edges = st.sampled_from([0, -1, -0.5, 0.5, 1, 1.0, 99.99, 100, 100.5, 101, 2**31, 2**63, 2**64, -(2**63) - 1, 1e308])
numbers = st.one_of(edges, edges, edges,
                    st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=False, allow_infinity=False),
                    st.decimals(allow_nan=False, allow_infinity=False, places=4).map(str), st.booleans(), st.none(),
                    st.sampled_from(["12,50", "1e3", "NaN", "-0.5", "007", " 1"]))
ids = st.one_of(st.text(max_size=3), st.text(min_size=199, max_size=201), st.integers(), st.none())
words = st.one_of(st.text(max_size=4), st.none(), st.integers(), st.sampled_from(
    ["Ready", "NotReady", "Compute", "Usage", "Credit", "USD", "usd", "EURO"]))
labels = st.one_of(st.dictionaries(st.text(max_size=3), st.one_of(st.text(max_size=3), numbers, st.lists(
    st.integers(), max_size=1)), max_size=3), st.dictionaries(st.text(max_size=4), st.just("v"), min_size=49,
                                                              max_size=52), st.none(), st.text(max_size=2))
FIELDS = {
    "node_metrics": {"timestamp": times, "cluster_id": ids, "node_id": ids, "status": words, "cpu_usage": numbers,
                     "gpu_usage": numbers, "memory_usage": numbers, "gpu_memory_used_gb": numbers,
                     "gpu_count": numbers, "region": words},
    "llm_training_metrics": {"timestamp": times, "run_id": ids, "model_name": ids, "cluster_id": words,
                             "epoch": numbers, "step": numbers, "training_loss": numbers,
                             "validation_loss": numbers, "learning_rate": numbers, "gpu_memory_mb": numbers,
                             "batch_size": numbers, "throughput_samples_per_sec": numbers,
                             "tokens_per_second": numbers, "gpu_count": numbers},
    "cost_records": {"timestamp": times, "period_end": times, "provider": ids, "service": ids,
                     "service_category": words, "charge_category": words, "cost": numbers, "currency": words,
                     "account_id": words, "resource_id": words, "region": words, "usage_quantity": numbers,
                     "usage_unit": words, "tags": labels},
    "metrics": {"timestamp": times, "name": ids, "value": numbers, "unit": words, "labels": labels},
}
VALID = {
    "node_metrics": {"timestamp": "2026-12-01T10:00:00+00:00", "cluster_id": "c", "node_id": "n", "cpu_usage": 50},
    "llm_training_metrics": {"timestamp": 1796292000, "run_id": "r", "model_name": "m", "step": 3},
    "cost_records": {"timestamp": "2026-12-01T00:00:00Z", "provider": "p", "service": "s", "cost": "-3.25",
                     "currency": "USD"},
    "metrics": {"timestamp": 1796292000.5, "name": "m", "value": 1.5},
}


@st.composite
def batches(draw):
    batch = {"agent_id": "a", "batch_id": "b"}
    for name in draw(st.lists(st.sampled_from(list(FIELDS)), min_size=1, max_size=1)):
        record = dict(VALID[name])
        for field in draw(st.lists(st.sampled_from([*FIELDS[name], "unknown"]), min_size=1, max_size=2, unique=True)):
            if field == "unknown":
                record["surprise"] = 1
            elif field in record and draw(st.integers(0, 4)) == 0:
                del record[field]
            else:
                record[field] = draw(FIELDS[name][field])
        batch[name] = [record]
    for key, values in (("agent_id", ids), ("batch_id", ids), ("sent_at", times)):
        if draw(st.integers(0, 19)) == 0:
            batch[key] = draw(values)
    return batch


@settings(max_examples=3000, deadline=None)
@given(batch=batches())
def test_the_compiled_check_accepts_nothing_the_schema_refuses(batch):
    body = json.dumps(batch).encode()
    if accepted_by_fast_path(body):
        assert accepted_by_schema(body), body


@pytest.mark.parametrize("name", list(VALID))
def test_the_compiled_check_accepts_what_agents_send(name):
    """The fast path is the common path: every documented record shape, with every field the schema has, passes."""
    full = {
        "node_metrics": {**VALID["node_metrics"], "status": "Ready", "gpu_usage": 91.5, "memory_usage": 60,
                         "gpu_memory_used_gb": 70.25, "gpu_count": 8, "region": "us-east-1"},
        "llm_training_metrics": {**VALID["llm_training_metrics"], "cluster_id": "c", "epoch": 1,
                                 "training_loss": 2.25, "validation_loss": None, "learning_rate": 0.0003,
                                 "gpu_memory_mb": 40000, "batch_size": 32, "throughput_samples_per_sec": 120.5,
                                 "tokens_per_second": 4000, "gpu_count": 8},
        "cost_records": {**VALID["cost_records"], "period_end": "2026-12-02T00:00:00.000001-05:00",
                         "service_category": "Compute", "charge_category": "Credit", "cost": -3.25,
                         "account_id": "a", "resource_id": None, "region": "eu", "usage_quantity": "1.5",
                         "usage_unit": "Hours", "tags": {"team": "ml", "n": 1, "ok": True, "none": None}},
        "metrics": {**VALID["metrics"], "unit": "ms", "labels": {"host": "h"}},
    }[name]
    body = json.dumps({"agent_id": "a", "batch_id": "b", "sent_at": 1796292000.25, name: [full, VALID[name]]}).encode()
    assert schema.fast_check(body) and accepted_by_schema(body)
    assert schema.decode(body)[name][0] == json.loads(body, parse_float=Decimal)[name][0]


def test_decode_keeps_money_exact_on_both_paths():
    record = {"timestamp": "2026-12-01T00:00:00Z", "provider": "p", "service": "s", "currency": "USD"}
    fast = b'{"agent_id": "a", "batch_id": "b", "cost_records": [%s]}' % json.dumps(
        {**record, "cost": 0}).encode().replace(b'"cost": 0', b'"cost": 0.1000000000000000055511151231257827')
    assert schema.fast_check(fast)
    assert schema.decode(fast)["cost_records"][0]["cost"] == Decimal("0.1000000000000000055511151231257827")
    with pytest.raises(schema.BatchError) as err:
        schema.decode(b'{"agent_id": "a", "batch_id": "b", "cost_records": [%s]}' % json.dumps(
            {**record, "cost": "1e3"}).encode())
    assert err.value.field == "cost_records[0].cost"
    with pytest.raises(schema.BatchError) as err:
        schema.decode(b'{"agent_id": "a", "batch_id": "b", "cost_records": [%s]}' % json.dumps(
            {**record, "cost": 1, "timestamp": "2026-02-30T00:00:00Z"}).encode())
    assert err.value.field == "cost_records[0].timestamp"
