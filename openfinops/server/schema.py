"""The telemetry batch format: one JSON Schema (published as ``docs/telemetry-batch.schema.json`` and served at
``GET /api/v1/schema``), checked with ``jsonschema`` so an error names the field (``node_metrics[3].cpu_usage``).

A batch is what an agent sends in one POST: who sends it (``agent_id``), an idempotency key (``batch_id``: a retried
POST with the same key is stored once), and up to :data:`MAX_RECORDS` records in four lists:

- ``node_metrics``: one sample of a cluster node (utilisation in percent, GPU memory in GB);
- ``llm_training_metrics``: one logged training step, with the original ``LLMTrainingMetrics`` fields (epoch,
  step, training and validation loss, learning rate, GPU memory in MB, batch size, throughput) kept, not dropped;
- ``cost_records``: a cost an agent read from a bill (amount as a JSON number or a decimal string, currency explicit;
  negative for credits and refunds);
- ``metrics``: any other named numeric metric with labels (``GenericTelemetryAgent.push_metrics``).

Times are RFC 3339 (ISO 8601 with seconds and an offset, e.g. Python's ``datetime.isoformat()`` of an aware
datetime), or Unix seconds (the original agents send ``time.time()``).

Two checks, one meaning. :func:`decode` first decodes the body with msgspec into typed structs that mirror the
schema (compiled: ~1 ms for 1,000 records, where ``jsonschema`` takes ~200 ms); only a batch msgspec refuses goes
through ``jsonschema`` (:func:`validate`), which names the field. The structs are never more lenient than the schema
(``tests/unit/test_server_schema.py`` checks both on generated batches), so the fast path accepts nothing the
published schema refuses.
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from openfinops.config import ROOT
from openfinops.server.store import to_time

MAX_RECORDS = 10_000  # records per batch, all lists together
SCHEMA_PATH = ROOT / "docs" / "telemetry-batch.schema.json"

TIME_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
AMOUNT_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
_TIME = {"description": "RFC 3339 date-time with an offset, or Unix seconds",
         "anyOf": [{"type": "string", "format": "date-time", "pattern": TIME_PATTERN},
                   {"type": "number", "minimum": 0}]}
_PERCENT = {"type": ["number", "null"], "minimum": 0, "maximum": 100}
_AMOUNT = {"description": "a decimal amount: a JSON number or a string such as \"-12.50\"",
           "anyOf": [{"type": "number"}, {"type": "string", "pattern": AMOUNT_PATTERN}]}
_ID = {"type": "string", "minLength": 1, "maxLength": 200}
_LABELS = {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
           "maxProperties": 50}


SERVICE_CATEGORIES = ("AI and Machine Learning", "Analytics", "Business Applications", "Compute", "Databases",
                      "Developer Tools", "Multicloud", "Identity", "Integration", "Internet of Things",
                      "Management and Governance", "Media", "Migration", "Mobile", "Networking", "Security", "Storage",
                      "Web", "Other")
CHARGE_CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")


def _records(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "object", "properties": properties, "required": required,
                                       "additionalProperties": False}}


SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://openfinops.example/schemas/telemetry-batch.schema.json",
    "title": "OpenFinOps telemetry batch",
    "description": "One POST to /api/v1/telemetry/ingest or /api/v1/metrics.",
    "type": "object",
    "required": ["agent_id", "batch_id"],
    "additionalProperties": False,
    "properties": {
        "agent_id": {**_ID, "description": "the id /api/v1/agents/register returned; must be the API key's agent"},
        "batch_id": {**_ID, "description": "idempotency key: a retried POST with the same key is stored once"},
        "sent_at": _TIME,
        "node_metrics": _records({
            "timestamp": _TIME,
            "cluster_id": _ID,
            "node_id": _ID,
            "status": {"type": "string", "enum": ["Ready", "NotReady", "Unknown"]},
            "cpu_usage": _PERCENT,
            "gpu_usage": _PERCENT,
            "memory_usage": _PERCENT,
            "gpu_memory_used_gb": {"type": ["number", "null"], "minimum": 0},
            "gpu_count": {"type": ["integer", "null"], "minimum": 0},
            "region": {"type": ["string", "null"]},
        }, ["timestamp", "cluster_id", "node_id"]),
        "llm_training_metrics": _records({
            "timestamp": _TIME,
            "run_id": _ID,
            "model_name": _ID,
            "cluster_id": {"type": ["string", "null"]},
            "epoch": {"type": ["integer", "null"], "minimum": 0},
            "step": {"type": "integer", "minimum": 0},
            "training_loss": {"type": ["number", "null"]},
            "validation_loss": {"type": ["number", "null"]},
            "learning_rate": {"type": ["number", "null"], "minimum": 0},
            "gpu_memory_mb": {"type": ["number", "null"], "minimum": 0},
            "batch_size": {"type": ["integer", "null"], "minimum": 1},
            "throughput_samples_per_sec": {"type": ["number", "null"], "minimum": 0},
            "tokens_per_second": {"type": ["number", "null"], "minimum": 0},
            "gpu_count": {"type": ["integer", "null"], "minimum": 0},
        }, ["timestamp", "run_id", "model_name", "step"]),
        "cost_records": _records({
            "timestamp": _TIME,
            "period_end": _TIME,
            "provider": _ID,
            "service": _ID,
            "service_category": {"type": ["string", "null"], "enum": [*SERVICE_CATEGORIES, None],
                                 "description": "FOCUS ServiceCategory; default Other"},
            "charge_category": {"type": ["string", "null"], "enum": [*CHARGE_CATEGORIES, None],
                                "description": "FOCUS ChargeCategory; default Usage, or Credit for a negative cost"},
            "cost": _AMOUNT,
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "account_id": {"type": ["string", "null"]},
            "resource_id": {"type": ["string", "null"]},
            "region": {"type": ["string", "null"]},
            "usage_quantity": {"anyOf": [_AMOUNT, {"type": "null"}]},
            "usage_unit": {"type": ["string", "null"]},
            "tags": _LABELS,
        }, ["timestamp", "provider", "service", "cost", "currency"]),
        "metrics": _records({
            "timestamp": _TIME,
            "name": _ID,
            "value": {"type": "number"},
            "unit": {"type": ["string", "null"]},
            "labels": _LABELS,
        }, ["timestamp", "name", "value"]),
    },
}
RECORD_LISTS = ("node_metrics", "llm_training_metrics", "cost_records", "metrics")


class BatchError(ValueError):
    """The batch breaks the schema: ``field`` is the path of the first offending value (``node_metrics[3].cpu_usage``
    or ``(batch)``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@cache
def _validator():
    from jsonschema import Draft202012Validator, FormatChecker

    return Draft202012Validator(SCHEMA, format_checker=FormatChecker())


def _path(parts) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(batch)"


def validate(batch: Any) -> None:
    """Raise :class:`BatchError` for the first error (errors sorted by path, so the message is stable)."""
    errors = sorted(_validator().iter_errors(batch), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        error = errors[0]
        field = _path(error.absolute_path)
        if error.validator == "additionalProperties":
            extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
            field = _path([*error.absolute_path, extra[0]]) if extra else field
            raise BatchError(field, "unknown field (the schema has no such property)")
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else "?"
            raise BatchError(_path([*error.absolute_path, missing]), "required field is missing")
        raise BatchError(field, error.message[:300])
    _check_count(batch)


def _check_count(batch: dict[str, Any]) -> None:
    count = sum(len(batch.get(name) or []) for name in RECORD_LISTS)
    if count > MAX_RECORDS:
        raise BatchError("(batch)", f"{count} records: at most {MAX_RECORDS} per batch")


# -- the compiled mirror of SCHEMA (msgspec) ---------------------------------------------------------------------
# Each type below is the schema's, or stricter (then a batch falls through to jsonschema, which decides): never more
# lenient. UNSET marks a field that may be absent but not null.
Id = Annotated[str, Meta(min_length=1, max_length=200)]
Time = Annotated[str, Meta(pattern=TIME_PATTERN)] | Annotated[float, Meta(ge=0)]
Percent = Annotated[float, Meta(ge=0, le=100)] | None
NonNegative = Annotated[float, Meta(ge=0)] | None
Count = Annotated[int, Meta(ge=0)] | None
Amount = float | Annotated[str, Meta(pattern=AMOUNT_PATTERN)]
Labels = Annotated[dict[str, str | float | bool | None], Meta(max_length=50)]


class _Record(Struct, forbid_unknown_fields=True):
    pass


class NodeMetric(_Record):
    timestamp: Time
    cluster_id: Id
    node_id: Id
    status: Literal["Ready", "NotReady", "Unknown"] | UnsetType = UNSET
    cpu_usage: Percent = None
    gpu_usage: Percent = None
    memory_usage: Percent = None
    gpu_memory_used_gb: NonNegative = None
    gpu_count: Count = None
    region: str | None = None


class LLMTrainingMetric(_Record):
    timestamp: Time
    run_id: Id
    model_name: Id
    step: Annotated[int, Meta(ge=0)]
    cluster_id: str | None = None
    epoch: Count = None
    training_loss: float | None = None
    validation_loss: float | None = None
    learning_rate: NonNegative = None
    gpu_memory_mb: NonNegative = None
    batch_size: Annotated[int, Meta(ge=1)] | None = None
    throughput_samples_per_sec: NonNegative = None
    tokens_per_second: NonNegative = None
    gpu_count: Count = None


class CostRecord(_Record):
    timestamp: Time
    provider: Id
    service: Id
    cost: Amount
    currency: Annotated[str, Meta(pattern="^[A-Z]{3}$")]
    period_end: Time | UnsetType = UNSET
    service_category: Literal[SERVICE_CATEGORIES] | None = None  # type: ignore[valid-type]
    charge_category: Literal[CHARGE_CATEGORIES] | None = None  # type: ignore[valid-type]
    account_id: str | None = None
    resource_id: str | None = None
    region: str | None = None
    usage_quantity: Amount | None = None
    usage_unit: str | None = None
    tags: Labels | UnsetType = UNSET


class Metric(_Record):
    timestamp: Time
    name: Id
    value: float
    unit: str | None = None
    labels: Labels | UnsetType = UNSET


class Batch(_Record):
    agent_id: Id
    batch_id: Id
    sent_at: Time | UnsetType = UNSET
    node_metrics: list[NodeMetric] | UnsetType = UNSET
    llm_training_metrics: list[LLMTrainingMetric] | UnsetType = UNSET
    cost_records: list[CostRecord] | UnsetType = UNSET
    metrics: list[Metric] | UnsetType = UNSET


_DECODER = msgspec.json.Decoder(Batch)
_PLAIN = msgspec.json.Decoder(float_hook=Decimal)  # RFC 8259 JSON (no NaN), every fraction an exact Decimal


def fast_check(body: bytes) -> bool:
    """Whether the compiled structs accept the body (True only for batches the schema accepts)."""
    try:
        _DECODER.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return False
    return True


def decode(body: bytes) -> dict[str, Any]:
    """The batch of a POST body, checked: strict JSON with exact decimals (money never passes through a float), valid
    against :data:`SCHEMA` (else :class:`BatchError` naming the field; ``field == "(body)"`` for JSON that does not
    parse). The compiled check decides most batches; the ones it refuses are decided by ``jsonschema``."""
    try:
        batch = _PLAIN.decode(body)
    except msgspec.DecodeError as exc:
        raise BatchError("(body)", f"not JSON: {exc}") from exc
    if fast_check(body):
        _check_count(batch)
    else:
        validate(batch)
    check_times(batch)
    return batch


def check_times(batch: dict[str, Any]) -> None:
    """Every time is a real instant (the pattern lets 2026-02-30 through; Unix seconds may overflow)."""
    for field in ("sent_at",):
        _time(batch.get(field), field)
    for name in RECORD_LISTS:
        for i, record in enumerate(batch.get(name) or []):
            _time(record.get("timestamp"), f"{name}[{i}].timestamp")
            if "period_end" in record:
                _time(record["period_end"], f"{name}[{i}].period_end")


def _time(value: Any, field: str) -> None:
    try:
        to_time(value)
    except (ValueError, OverflowError, OSError) as exc:
        raise BatchError(field, f"not a date-time: {exc}") from exc


def write_schema(path: Path = SCHEMA_PATH) -> None:
    path.write_text(json.dumps(SCHEMA, indent=2) + "\n")
