"""The published batch schema is the one the server checks, and its errors name the field."""

import json

import pytest

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
