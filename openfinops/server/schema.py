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

Times are ISO 8601 with an offset, or Unix seconds (the original agents send ``time.time()``).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from openfinops.config import ROOT

MAX_RECORDS = 10_000  # records per batch, all lists together
SCHEMA_PATH = ROOT / "docs" / "telemetry-batch.schema.json"

_TIME = {"description": "ISO 8601 date-time with an offset, or Unix seconds",
         "anyOf": [{"type": "string", "format": "date-time"}, {"type": "number", "minimum": 0}]}
_PERCENT = {"type": ["number", "null"], "minimum": 0, "maximum": 100}
_AMOUNT = {"description": "a decimal amount: a JSON number or a string such as \"-12.50\"",
           "anyOf": [{"type": "number"}, {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}]}
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
    count = sum(len(batch.get(name) or []) for name in RECORD_LISTS)
    if count > MAX_RECORDS:
        raise BatchError("(batch)", f"{count} records: at most {MAX_RECORDS} per batch")


def write_schema(path: Path = SCHEMA_PATH) -> None:
    path.write_text(json.dumps(SCHEMA, indent=2) + "\n")
