"""LLM training observability: ``LLMTrainingMetrics`` (the original fields) and ``LLMObservabilityHub``.

Writes: :meth:`LLMObservabilityHub.collect_llm_training_metrics` sends one ``llm_training_metrics`` record
- through the ingest server (``POST {endpoint}/api/v1/telemetry/ingest`` with the agent's API key) when an endpoint,
  an API key and an agent id are configured (arguments, else ``OPENFINOPS_ENDPOINT`` / ``OPENFINOPS_API_KEY`` /
  ``OPENFINOPS_AGENT_ID``); a failed POST raises (nothing is silently dropped);
- else straight into the warehouse with :func:`openfinops.server.store.store_batch` (one batch per call with a
  generated ``batch_id``, agent id ``python-api`` unless given), the same tables and transaction the server uses.
Both land in ``raw.telemetry_llm_training_metrics``.

Reads: :meth:`LLMObservabilityHub.get_training_summary` from ``marts.fct_llm_training_runs``; a run only in raw
(pushed, not yet folded into the marts by the transform) is summarised from raw and says so in ``source``.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from openfinops import _marts

DIRECT_AGENT_ID = "python-api"
RAW_TABLE = "raw.telemetry_llm_training_metrics"


@dataclass
class LLMTrainingMetrics:
    """One logged training step (the original fields). ``timestamp`` is Unix seconds (``time.time()``) or an ISO
    8601 string with an offset; ``gpu_memory_mb`` is per GPU, MB."""

    run_id: str
    model_name: str
    epoch: int
    step: int
    training_loss: float
    validation_loss: float | None
    learning_rate: float
    gpu_memory_mb: float
    batch_size: int
    throughput_samples_per_sec: float
    timestamp: float | str
    cluster_id: str | None = None

    def to_record(self) -> dict[str, Any]:
        """The ``llm_training_metrics`` record of the telemetry batch schema (the same field names)."""
        return {k: v for k, v in asdict(self).items() if v is not None}


class IngestError(RuntimeError):
    """The ingest server refused or could not store the batch (the message has its status and error)."""


class LLMObservabilityHub:
    """Collect LLM training metrics and summarise runs."""

    def __init__(self, warehouse_url: str | None = None, endpoint: str | None = None, api_key: str | None = None,
                 agent_id: str | None = None, timeout: float = 30.0) -> None:
        self.endpoint = (endpoint or os.environ.get("OPENFINOPS_ENDPOINT") or "").rstrip("/") or None
        self._api_key = api_key or os.environ.get("OPENFINOPS_API_KEY") or None
        self.agent_id = agent_id or os.environ.get("OPENFINOPS_AGENT_ID") or None
        self.timeout = timeout
        self._warehouse_url = warehouse_url
        if self.endpoint and not (self._api_key and self.agent_id):
            raise ValueError("an ingest endpoint needs an API key and the agent id it was issued for "
                             "(api_key=/agent_id= or OPENFINOPS_API_KEY / OPENFINOPS_AGENT_ID)")

    def __repr__(self) -> str:  # never shows the key
        target = self.endpoint or "warehouse"
        return f"LLMObservabilityHub(target={target!r}, agent_id={self.agent_id!r})"

    @property
    def warehouse_url(self) -> str:
        return _marts.resolve_url(self._warehouse_url)

    # -- write ----------------------------------------------------------------------------------------------------
    def collect_llm_training_metrics(self, metrics: LLMTrainingMetrics) -> dict[str, Any]:
        """Store one training step. Returns ``{"batch_id", "agent_id", "via": "ingest server" | "warehouse",
        "stored": True}``; raises :class:`IngestError` (server) or the database error (direct) if not stored."""
        batch = {"agent_id": self.agent_id or DIRECT_AGENT_ID,
                 "batch_id": f"llm-{metrics.run_id}-{metrics.step}-{uuid.uuid4().hex}",
                 "sent_at": time.time(), "llm_training_metrics": [metrics.to_record()]}
        if self.endpoint:
            return self._post(batch)
        from openfinops.server import schema, store

        body = json.dumps(batch, sort_keys=True).encode()
        checked = schema.decode(body)
        with _marts.connect(self.warehouse_url) as conn:
            store.ensure_tables(conn)
            store.store_batch(conn, batch["agent_id"], checked, store.body_hash(body))
        return {"batch_id": batch["batch_id"], "agent_id": batch["agent_id"], "via": "warehouse", "stored": True}

    def _post(self, batch: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(batch).encode()
        request = urllib.request.Request(
            f"{self.endpoint}/api/v1/telemetry/ingest", data=body, method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self._api_key}"})
        last: Exception | None = None
        for attempt in range(3):  # same batch_id: a retry is stored once by the server
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    answer = json.loads(response.read() or b"{}")
                return {"batch_id": batch["batch_id"], "agent_id": batch["agent_id"], "via": "ingest server",
                        "stored": True, "duplicate": answer.get("duplicate", False)}
            except urllib.error.HTTPError as exc:
                detail = exc.read()[:500].decode(errors="replace")
                if exc.code < 500 and exc.code != 429:
                    raise IngestError(f"ingest server refused the batch: HTTP {exc.code}: {detail}") from None
                last = IngestError(f"ingest server: HTTP {exc.code}: {detail}")
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                last = IngestError(f"ingest server unreachable: {type(exc).__name__}: {exc}")
            time.sleep(0.5 * 2 ** attempt)
        raise last  # type: ignore[misc]

    # -- read -----------------------------------------------------------------------------------------------------
    def get_training_summary(self, run_id: str) -> dict[str, Any]:
        """Summary of one run: ``run_id``, ``model_name``, ``total_steps`` (last step - first step logged, as the
        mart defines it), ``best_loss`` (lowest training loss), ``latest_loss`` (loss at the last step), plus
        ``first_loss``, ``first_step``, ``last_step``, ``logged_steps``, ``started_at``, ``last_logged_at``,
        ``cluster_id`` and ``source``.

        From ``marts.fct_llm_training_runs`` when the marts know the run (then also ``duration_hours``,
        ``avg_tokens_per_second``, ``peak_gpu_memory_used_gb``, ``gpu_count``, ``run_cost`` / ``cost_per_step``
        (``Decimal``) with ``currency``). Otherwise from ``raw.telemetry_llm_training_metrics`` (pushed, not yet
        transformed; the latest received record wins per step) with ``"source": "raw (not yet transformed)"``,
        ``best_validation_loss``, ``latest_validation_loss``, ``avg_throughput_samples_per_sec``,
        ``peak_gpu_memory_mb``, ``latest_learning_rate``, ``latest_epoch`` and ``run_cost`` ``None`` (the cost is
        attributed by the transform). Raises ``KeyError`` when neither has the run.
        """
        url = self.warehouse_url
        rows = _marts.query(url, """
            SELECT run_id, model_name, cluster_id, started_at, last_logged_at, duration_hours, first_step, last_step,
                   total_steps, logged_steps, first_loss, best_loss, last_loss, avg_tokens_per_second,
                   peak_gpu_memory_used_gb, gpu_count, billing_currency, run_cost, cost_per_step
            FROM marts.fct_llm_training_runs WHERE run_id = %s""", (run_id,)) \
            if _marts.relation_exists(url, "marts.fct_llm_training_runs") else []
        if rows:
            r = rows[0]
            return {"run_id": r["run_id"], "model_name": r["model_name"], "total_steps": r["total_steps"],
                    "best_loss": r["best_loss"], "latest_loss": r["last_loss"], "first_loss": r["first_loss"],
                    "first_step": r["first_step"], "last_step": r["last_step"], "logged_steps": r["logged_steps"],
                    "started_at": r["started_at"], "last_logged_at": r["last_logged_at"],
                    "duration_hours": r["duration_hours"], "cluster_id": r["cluster_id"],
                    "avg_tokens_per_second": r["avg_tokens_per_second"],
                    "peak_gpu_memory_used_gb": r["peak_gpu_memory_used_gb"], "gpu_count": r["gpu_count"],
                    "run_cost": r["run_cost"], "cost_per_step": r["cost_per_step"],
                    "currency": r["billing_currency"], "source": "marts.fct_llm_training_runs"}
        raw = self._raw_summary(url, run_id)
        if raw is None:
            raise KeyError(f"no training run {run_id!r} in marts.fct_llm_training_runs or {RAW_TABLE}")
        return raw

    @staticmethod
    def _raw_summary(url: str, run_id: str) -> dict[str, Any] | None:
        if not _marts.relation_exists(url, RAW_TABLE):
            return None
        rows = _marts.query(url, f"""
            WITH steps AS (
                SELECT DISTINCT ON (step) *
                FROM {RAW_TABLE} WHERE run_id = %s
                ORDER BY step, _received_at DESC, logged_at DESC
            )
            SELECT count(*) AS logged_steps, min(step) AS first_step, max(step) AS last_step,
                   min(logged_at) AS started_at, max(logged_at) AS last_logged_at,
                   (array_agg(model_name ORDER BY step DESC))[1] AS model_name,
                   (array_agg(cluster_id ORDER BY step DESC) FILTER (WHERE cluster_id IS NOT NULL))[1] AS cluster_id,
                   min(training_loss) AS best_loss,
                   (array_agg(training_loss ORDER BY step DESC))[1] AS latest_loss,
                   (array_agg(training_loss ORDER BY step))[1] AS first_loss,
                   min(validation_loss) AS best_validation_loss,
                   (array_agg(validation_loss ORDER BY step DESC))[1] AS latest_validation_loss,
                   (array_agg(learning_rate ORDER BY step DESC))[1] AS latest_learning_rate,
                   (array_agg(epoch ORDER BY step DESC))[1] AS latest_epoch,
                   avg(throughput_samples_per_sec) AS avg_throughput_samples_per_sec,
                   max(gpu_memory_mb) AS peak_gpu_memory_mb
            FROM steps""", (run_id,))
        r = rows[0]
        if not r["logged_steps"]:
            return None
        return {"run_id": run_id, "model_name": r["model_name"], "total_steps": r["last_step"] - r["first_step"],
                "best_loss": r["best_loss"], "latest_loss": r["latest_loss"], "first_loss": r["first_loss"],
                "first_step": r["first_step"], "last_step": r["last_step"], "logged_steps": r["logged_steps"],
                "started_at": r["started_at"], "last_logged_at": r["last_logged_at"], "cluster_id": r["cluster_id"],
                "best_validation_loss": r["best_validation_loss"],
                "latest_validation_loss": r["latest_validation_loss"],
                "latest_learning_rate": r["latest_learning_rate"], "latest_epoch": r["latest_epoch"],
                "avg_throughput_samples_per_sec": r["avg_throughput_samples_per_sec"],
                "peak_gpu_memory_mb": r["peak_gpu_memory_mb"], "run_cost": None,
                "source": "raw (not yet transformed)", "as_of": datetime.now(UTC)}
