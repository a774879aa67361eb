"""The agent machinery every telemetry agent shares: registration, the on-disk spool, delivery and the run loop.

Delivery guarantees (tested in ``tests/integration/test_agents.py``):

- **Spool first.** Every batch is written to ``<spool>/outbox/`` (one JSON file per batch, written to a temporary
  file, fsynced and renamed into place) *before* it is sent, and deleted only after the server answered 2xx. A
  crash of the agent or an outage of the server loses nothing; on start and in every cycle the outbox is flushed,
  oldest batch first.
- **Stored once.** A batch's ``batch_id`` is its idempotency key and the file holds the exact body that is sent, so
  a retried POST (the answer was lost, the server was killed after its commit) is stored once by the server.
- **Never stuck.** A 4xx answer other than 401 / 408 / 429 means the batch itself is wrong (422 names the field):
  the file moves to ``<spool>/rejected/`` beside ``<name>.error.json`` with the server's answer, it is logged, and
  later batches go on. 5xx, 408, 429 and connection errors keep the batch for the next try; the loop backs off
  exponentially with jitter, capped (``Retry-After`` honoured). A 401 (the key was rotated) re-registers the same
  agent id when the admin token is at hand, else the batch waits.
- **Registered once.** ``register_agent()`` keeps the returned ``agent_id`` / ``api_key`` in ``<spool>/agent.json``
  (mode 600); a restart reuses them. The key and the admin token are never logged.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import random
import re
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as clock_time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import requests

log = logging.getLogger("agents")

INGEST_PATH = "/api/v1/telemetry/ingest"
REGISTER_PATH = "/api/v1/agents/register"
RECORD_LISTS = ("node_metrics", "llm_training_metrics", "cost_records", "metrics")
MAX_RECORDS_PER_BATCH = 5_000  # the server takes 10,000 and 8 MiB per batch: stay well inside both
STATE_FILE = "agent.json"
RETRY_STATUSES = frozenset({408, 429})
_API_SUFFIXES = ("/api/v1/telemetry/ingest", "/api/v1/metrics", "/api/v1", "/api")
_MONEY_FIELDS = ("cost", "usage_quantity")  # cost_records: sent as decimal strings
_TIME_FIELDS = ("timestamp", "period_end", "sent_at")
_RAW = "ofo-raw-" + uuid.uuid4().hex  # placeholder for a Decimal sent as a JSON number, digit for digit
_RAW_PATTERN = re.compile(f'"{_RAW}:([^"]+)"')
_SEQUENCE = itertools.count()
_COLLECTION_LOCK = threading.Lock()  # start_collection: one background thread per agent


def base_url(endpoint: str) -> str:
    """The server's base URL from what the user gave: ``http://host:8081`` or the original agents'
    ``http://host:8080/api/v1/metrics`` (or ``.../api/v1/telemetry/ingest``)."""
    url = str(endpoint or "").strip().rstrip("/")
    for suffix in _API_SUFFIXES:
        if url.endswith(suffix):
            url = url[: -len(suffix)]
            break
    if not re.match(r"^https?://[^/\s]+", url):
        raise ValueError(f"openfinops endpoint {endpoint!r}: expected the server URL, e.g. http://localhost:8081")
    return url


# -- the batch body ------------------------------------------------------------------------------------------------
def _time(value: Any) -> Any:
    if isinstance(value, datetime):  # a naive datetime (datetime.now()) is local time, as Python reads it
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return datetime.combine(value, clock_time(), UTC).isoformat()
    if isinstance(value, Decimal):
        return _number(value)
    return value  # Unix seconds, or an ISO string


def decimal_string(value: Any) -> str:
    """An amount as the schema's decimal string (``-12.50``): never through a binary float."""
    if isinstance(value, float):
        value = repr(value)
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a decimal amount: {value!r}") from None
    if not number.is_finite() or isinstance(value, bool):
        raise ValueError(f"not a finite decimal amount: {value!r}")
    return format(number, "f")


def _number(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return f"{_RAW}:{value}"


def _scalar(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _number(value)
    if isinstance(value, (datetime, date)):
        return _time(value)
    return value


def _record(kind: str, record: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        if value is None and key not in ("timestamp",):
            out[key] = None
        elif key in _TIME_FIELDS:
            out[key] = _time(value)
        elif kind == "cost_records" and key in _MONEY_FIELDS:
            out[key] = decimal_string(value)
        elif key in ("tags", "labels") and isinstance(value, Mapping):
            out[key] = {str(k): _scalar(v) for k, v in value.items()}
        else:
            out[key] = _scalar(value)
    return out


def normalize(batch: Mapping[str, Any]) -> dict[str, Any]:
    """The batch with times as ISO strings (UTC), money as decimal strings, other Decimals kept exact."""
    out = {k: (_time(v) if k in _TIME_FIELDS else v) for k, v in batch.items() if k not in RECORD_LISTS}
    for kind in RECORD_LISTS:
        records = batch.get(kind)
        if records:
            out[kind] = [_record(kind, r) for r in records]
    return out


def encode(normalized: Mapping[str, Any]) -> bytes:
    """Canonical JSON (sorted keys): the same batch always gives the same bytes."""
    text = json.dumps(normalized, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                      default=_json_default)
    return _RAW_PATTERN.sub(lambda m: m.group(1), text).encode()


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _number(value)
    if isinstance(value, (datetime, date)):
        return _time(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def decode(body: bytes) -> dict[str, Any]:
    return json.loads(body, parse_float=Decimal)


def record_count(batch: Mapping[str, Any]) -> int:
    return sum(len(batch.get(kind) or []) for kind in RECORD_LISTS)


def content_id(prefix: str, batch: Mapping[str, Any]) -> str:
    """A batch id derived from the records (the same records give the same id, so a re-pull that found nothing new
    is stored once by the server)."""
    digest = hashlib.sha256(encode(normalize({k: batch.get(k) for k in RECORD_LISTS}))).hexdigest()[:24]
    return f"{prefix[:160]}-{digest}"


# -- files ---------------------------------------------------------------------------------------------------------
def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write to a temporary file in the same folder, fsync, rename over ``path``, fsync the folder."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """``outbox/`` (batches waiting for a 2xx, oldest first by file name) and ``rejected/`` (refused by the server,
    each beside its ``.error.json``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.outbox = self.root / "outbox"
        self.rejected = self.root / "rejected"
        for folder in (self.root, self.outbox, self.rejected):
            folder.mkdir(parents=True, exist_ok=True)
            os.chmod(folder, 0o700)
        for stale in self.outbox.glob(".*.tmp"):  # a crash inside atomic_write: that batch was never spooled
            stale.unlink(missing_ok=True)

    @staticmethod
    def _stem(batch_id: str) -> str:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", batch_id)[:100]
        return f"{safe}-{hashlib.sha256(batch_id.encode()).hexdigest()[:8]}"

    def find(self, batch_id: str) -> Path | None:
        return next(iter(self.outbox.glob(f"*-{self._stem(batch_id)}.json")), None)

    def add(self, batch_id: str, body: bytes) -> Path:
        existing = self.find(batch_id)
        if existing:
            return existing
        path = self.outbox / f"{time.time_ns():020d}-{next(_SEQUENCE) % 1_000_000:06d}-{self._stem(batch_id)}.json"
        atomic_write(path, body)
        return path

    def pending(self) -> list[Path]:
        return sorted(p for p in self.outbox.glob("*.json") if not p.name.startswith("."))

    def reject(self, path: Path, error: Mapping[str, Any]) -> Path:
        target = self.rejected / path.name
        atomic_write(target.with_name(target.name[:-5] + ".error.json"),
                     json.dumps(error, indent=2, default=str).encode())
        os.replace(path, target)
        _fsync_dir(self.rejected)
        _fsync_dir(self.outbox)
        return target


@dataclass
class CycleResult:
    delivered: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    pending: int = 0
    collected: bool = True
    retry_after: float = 0.0

    def add(self, other: CycleResult) -> None:
        self.delivered += other.delivered
        self.rejected += other.rejected
        self.pending = other.pending
        self.retry_after = max(self.retry_after, other.retry_after)

    @property
    def ok(self) -> bool:
        return self.collected and not self.pending and not self.rejected

    def summary(self) -> str:
        return (f"{len(self.delivered)} batch(es) delivered, {len(self.rejected)} rejected, {self.pending} waiting "
                f"in the spool" + ("" if self.collected else "; collection failed (see the log)"))


class TelemetryAgent:
    """Base of every agent. Subclasses implement :meth:`collect` (batches to push each cycle); :meth:`push` and
    :meth:`push_metrics` send ad-hoc batches.

    ``openfinops_endpoint``: the server's URL (``/api/v1/metrics`` accepted too); None (the original guide's
    constructors): the agent only reads: its ``collect_*`` methods return what they read, nothing is spooled, pushed
    or registered (:attr:`offline`). ``admin_token``: for registration
    (default: env ``OPENFINOPS_SERVER_ADMIN_TOKEN``). ``api_key`` (+ ``agent_id``): a key registered elsewhere
    instead. ``spool_dir``: the outbox and the agent's state (default: env ``OPENFINOPS_AGENT_SPOOL_DIR``, else
    ``~/.openfinops/agents/<agent_type>``)."""

    agent_type = "generic"

    def __init__(self, openfinops_endpoint: str | None, *, agent_type: str | None = None,
                 admin_token: str | None = None,
                 api_key: str | None = None, agent_id: str | None = None, spool_dir: str | os.PathLike | None = None,
                 hostname: str | None = None, metadata: Mapping[str, Any] | None = None, timeout: float = 30.0,
                 base_backoff_seconds: float = 5.0, max_backoff_seconds: float = 300.0,
                 session: requests.Session | None = None) -> None:
        self.endpoint = base_url(openfinops_endpoint) if openfinops_endpoint else None
        self.agent_type = agent_type or self.agent_type
        self._admin_token = admin_token
        self.agent_id = agent_id or None
        self._api_key = api_key or None
        self._key_from_state = False
        self.hostname = hostname or socket.gethostname()
        self.metadata = dict(metadata or {})
        self.timeout = timeout
        self.base_backoff = base_backoff_seconds
        self.max_backoff = max_backoff_seconds
        self.session = session or requests.Session()
        self._stop = threading.Event()
        if self.offline:
            self.spool, self.state_path = None, None
            return
        root = spool_dir or os.environ.get("OPENFINOPS_AGENT_SPOOL_DIR") or (
            Path.home() / ".openfinops" / "agents" / self.agent_type)
        self.spool = Spool(Path(root))
        self.state_path = self.spool.root / STATE_FILE
        if not self._api_key:
            self._load_state()

    @property
    def offline(self) -> bool:
        """No server: nothing is spooled, pushed or registered."""
        return self.endpoint is None

    def __repr__(self) -> str:  # never the key
        return f"{type(self).__name__}(endpoint={self.endpoint!r}, agent_id={self.agent_id!r})"

    # -- identity ------------------------------------------------------------------------------------------------
    @property
    def admin_token(self) -> str | None:
        return self._admin_token or os.environ.get("OPENFINOPS_SERVER_ADMIN_TOKEN") or None

    def _load_state(self) -> None:
        try:
            state = json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("agent state %s unreadable (%s): registering again", self.state_path, type(exc).__name__)
            return
        if state.get("endpoint") != self.endpoint or (self.agent_id and state.get("agent_id") != self.agent_id):
            log.warning("agent state %s is for %s (agent %s): registering with %s", self.state_path,
                        state.get("endpoint"), state.get("agent_id"), self.endpoint)
            return
        self.agent_id, self._api_key, self._key_from_state = state["agent_id"], state["api_key"], True

    def _save_state(self) -> None:
        state = {"endpoint": self.endpoint, "agent_id": self.agent_id, "api_key": self._api_key,
                 "agent_type": self.agent_type, "registered_at": datetime.now(UTC).isoformat()}
        atomic_write(self.state_path, json.dumps(state, indent=2).encode(), 0o600)

    def register_agent(self) -> bool:
        """True once the agent has a key: the one given, the one in its state file, or a new one from
        ``POST /api/v1/agents/register`` (kept in the state file, mode 600). False (logged) when that fails."""
        if self.offline:
            return False
        if self._api_key:
            return bool(self.agent_id) or self._discover_agent_id()
        return self._register()

    def _register(self) -> bool:
        token = self.admin_token
        if not token:
            log.error("cannot register with %s: no admin token (set OPENFINOPS_SERVER_ADMIN_TOKEN) and no API key",
                      self.endpoint)
            return False
        body = {"agent_type": self.agent_type, "hostname": self.hostname, "metadata": self.metadata}
        if self.agent_id:  # the same id again: the server rotates its key, spooled batches stay valid
            body["agent_id"] = self.agent_id
        try:
            answer = self.session.post(self.endpoint + REGISTER_PATH, data=encode(body), timeout=self.timeout,
                                       headers={"Authorization": f"Bearer {token}",
                                                "Content-Type": "application/json"})
        except requests.RequestException as exc:
            log.warning("registration with %s failed: %s", self.endpoint, type(exc).__name__)
            return False
        if answer.status_code != 201:
            log.error("registration with %s refused: HTTP %s %s", self.endpoint, answer.status_code,
                      _error_text(answer))
            return False
        data = answer.json()
        self.agent_id, self._api_key, self._key_from_state = data["agent_id"], data["api_key"], True
        self._save_state()
        log.info("registered with %s as agent %s (%s); key kept in %s", self.endpoint, self.agent_id,
                 self.agent_type, self.state_path)
        return True

    def _discover_agent_id(self) -> bool:
        """An API key given without its agent id: ``GET /api/v1/agents/me`` names the key's agent."""
        try:
            answer = requests.get(f"{self.endpoint}/api/v1/agents/me", timeout=self.timeout,
                                  headers={"Authorization": f"Bearer {self._api_key}"})
        except requests.RequestException as exc:
            log.warning("could not reach %s to identify the API key's agent: %s", self.endpoint, type(exc).__name__)
            return False
        if answer.status_code == 200:
            self.agent_id = answer.json()["agent_id"]
            return True
        log.error("the API key was refused by %s: HTTP %s %s", self.endpoint, answer.status_code,
                  _error_text(answer))
        return False

    # -- spooling and delivery -------------------------------------------------------------------------------------
    def spool_batch(self, batch: Mapping[str, Any], batch_id: str | None = None) -> list[str]:
        """Write the batch to the outbox (split into batches of at most MAX_RECORDS_PER_BATCH records); returns the
        batch ids. ``batch_id`` (or the batch's own) is the idempotency key; default a new random one. Offline:
        nothing (no ids)."""
        if self.offline:
            return []
        batch_id = batch_id or batch.get("batch_id") or f"{self.agent_type}-{uuid.uuid4().hex}"
        header = {k: v for k, v in batch.items() if k not in (*RECORD_LISTS, "batch_id", "agent_id")}
        records = [(kind, r) for kind in RECORD_LISTS for r in batch.get(kind) or []]
        chunks = [records[i:i + MAX_RECORDS_PER_BATCH] for i in range(0, len(records), MAX_RECORDS_PER_BATCH)]
        ids = []
        for n, chunk in enumerate(chunks or [[]]):
            part: dict[str, Any] = dict(header)
            for kind, record in chunk:
                part.setdefault(kind, []).append(record)
            part_id = batch_id if len(chunks) <= 1 else f"{batch_id}-{n + 1}of{len(chunks)}"
            part["batch_id"] = part_id
            if self.agent_id:
                part["agent_id"] = self.agent_id
            self.spool.add(part_id, encode(normalize(part)))
            ids.append(part_id)
        return ids

    def push(self, batch: Mapping[str, Any]) -> bool:
        """Spool the batch, then flush the outbox (older batches first). True when this batch was acknowledged;
        False means it waits in the spool (or was rejected: see the log and ``rejected/``), or the agent is offline."""
        if self.offline:
            return False
        ids = self.spool_batch({"sent_at": datetime.now(UTC), **batch})
        result = self.flush()
        return all(i in result.delivered for i in ids)

    def push_metrics(self, metrics: Mapping[str, Any] | Iterable[Mapping[str, Any]],
                     destination: str = "openfinops", *, source: str | None = None) -> bool:
        """Push metrics: a dict of name -> number (``timestamp`` may be a datetime or Unix seconds; labels
        ``{"source": source}``), a dict of source -> such a dict (what ``collect_metrics()`` returns), or a list of
        metric records (``name``, ``value``, ``timestamp``, ``unit``, ``labels``)."""
        if destination != "openfinops":
            raise ValueError(f"destination {destination!r}: this agent pushes to 'openfinops' only")
        return self.push({"metrics": metric_records(metrics, source=source)})

    def flush(self) -> CycleResult:
        """Send the outbox, oldest first, until it is empty or the server cannot take a batch now."""
        result = CycleResult()
        if self.offline:
            return result
        pending = self.spool.pending()
        if pending and not self.register_agent():
            result.pending = len(pending)
            return result
        for n, path in enumerate(pending):
            outcome, batch_id, retry_after = self._send(path)
            if outcome == "delivered":
                result.delivered.append(batch_id)
            elif outcome == "rejected":
                result.rejected.append(batch_id)
            else:
                result.pending = len(pending) - n
                result.retry_after = retry_after
                break
        return result

    def _post(self, body: bytes) -> requests.Response:
        return self.session.post(self.endpoint + INGEST_PATH, data=body, timeout=self.timeout,
                                 headers={"Authorization": f"Bearer {self._api_key}",
                                          "Content-Type": "application/json"})

    def _send(self, path: Path) -> tuple[str, str, float]:
        body = path.read_bytes()
        batch = decode(body)
        batch_id = str(batch.get("batch_id"))
        if batch.get("agent_id") is None:  # spooled before the agent knew its id: seal it now, once
            batch["agent_id"] = self.agent_id
            body = encode(batch)
            atomic_write(path, body)
        for attempt in (1, 2):
            try:
                answer = self._post(body)
            except requests.RequestException as exc:
                log.warning("batch %s not delivered (%s): kept in the spool", batch_id, type(exc).__name__)
                return "retry", batch_id, 0.0
            status = answer.status_code
            if 200 <= status < 300:
                path.unlink(missing_ok=True)
                _fsync_dir(path.parent)
                log.debug("batch %s delivered%s", batch_id, " (already stored)" if _duplicate(answer) else "")
                return "delivered", batch_id, 0.0
            if status == 401 and attempt == 1 and self._key_from_state and self._register():
                continue  # the key was rotated elsewhere: a new key for the same agent id, then the same body
            if status == 401 or status in RETRY_STATUSES or status >= 500:
                log.warning("batch %s not delivered: HTTP %s %s; kept in the spool", batch_id, status,
                            _error_text(answer))
                return "retry", batch_id, _retry_after(answer)
            error = {"status": status, "answer": _error_body(answer), "batch_id": batch_id,
                     "rejected_at": datetime.now(UTC).isoformat(), "endpoint": self.endpoint}
            target = self.spool.reject(path, error)
            log.error("batch %s rejected by the server: HTTP %s %s; moved to %s", batch_id, status,
                      _error_text(answer), target)
            return "rejected", batch_id, 0.0
        return "retry", batch_id, 0.0  # pragma: no cover

    # -- the cycle -----------------------------------------------------------------------------------------------
    def collect(self) -> Iterable[tuple[str | None, Mapping[str, Any]]]:
        """This cycle's batches as (batch_id or None, batch). Default: none (an agent that only pushes)."""
        return ()

    def collect_and_spool(self) -> bool:
        """Run :meth:`collect` and spool what it gives; False (logged) if it failed."""
        try:
            for batch_id, batch in self.collect():
                if record_count(batch):
                    self.spool_batch(batch, batch_id)
        except Exception as exc:  # a vendor outage must not kill the agent: logged, retried with back-off
            log.error("%s: collection failed: %s: %s", self.agent_type, type(exc).__name__, str(exc)[:500])
            return False
        return True

    def run_once(self) -> CycleResult:
        """One cycle: flush what is spooled, collect, spool, flush."""
        result = self.flush()
        collected = self.collect_and_spool()
        result.add(self.flush())
        result.collected = collected
        log.info("%s: %s", self.agent_type, result.summary())
        return result

    def backoff(self, failures: int, retry_after: float = 0.0) -> float:
        """Exponential with jitter, capped: base * 2^(failures-1) scaled by a random 0.5-1, at most the cap (and
        at least the server's Retry-After)."""
        delay = min(self.max_backoff, self.base_backoff * 2 ** max(0, failures - 1))
        return max(delay * random.uniform(0.5, 1.0), min(retry_after, self.max_backoff))

    def run_continuous(self, interval_seconds: float = 300, *, max_cycles: int | None = None) -> None:
        """Collect every ``interval_seconds`` and deliver; while the server or the vendor fails, retry with
        back-off. Returns after ``max_cycles`` collections or :meth:`stop`; Ctrl-C stops it cleanly."""
        self.register_agent()
        next_collect = time.monotonic()
        collect_failures = send_failures = cycles = 0
        try:
            while not self._stop.is_set():
                if time.monotonic() >= next_collect:
                    ok = self.collect_and_spool()
                    cycles += 1
                    collect_failures = 0 if ok else collect_failures + 1
                    next_collect = time.monotonic() + (
                        interval_seconds if ok else min(interval_seconds, self.backoff(collect_failures)))
                result = self.flush()
                if result.delivered or result.rejected:
                    log.info("%s: %s", self.agent_type, result.summary())
                if max_cycles is not None and cycles >= max_cycles and not result.pending:
                    return
                wait = next_collect - time.monotonic()
                if result.pending:
                    send_failures += 1
                    wait = min(wait, self.backoff(send_failures, result.retry_after))
                else:
                    send_failures = 0
                self._stop.wait(max(0.0, wait))
        except KeyboardInterrupt:
            if self.offline:
                log.info("%s: stopped", self.agent_type)
            else:
                log.info("%s: stopped; %d batch(es) wait in %s", self.agent_type, len(self.spool.pending()),
                         self.spool.outbox)

    def stop(self) -> None:
        self._stop.set()

    def start_collection(self, interval_seconds: float = 300) -> threading.Thread:
        """:meth:`run_continuous` (collect every ``interval_seconds``, deliver, back off while failing) in a background
        daemon thread; returns the thread. Idempotent: while a collection thread runs, another call returns it (with
        its interval unchanged). :meth:`stop_collection` ends it."""
        if not interval_seconds > 0:
            raise ValueError(f"interval_seconds: expected a number > 0, got {interval_seconds!r}")
        with _COLLECTION_LOCK:
            running = getattr(self, "_collection_thread", None)
            if running is not None and running.is_alive():
                return running
            self._stop.clear()
            thread = threading.Thread(target=self._collection_loop, args=(interval_seconds,), daemon=True,
                                      name=f"openfinops-{self.agent_type}-collection")
            self._collection_thread = thread
            thread.start()
        log.info("%s: collecting every %g s in the background", self.agent_type, interval_seconds)
        return thread

    def _collection_loop(self, interval_seconds: float) -> None:
        try:
            self.run_continuous(interval_seconds)
        except Exception as exc:  # e.g. the spool's disk failing: logged, never silent
            log.error("%s: background collection stopped: %s: %s", self.agent_type, type(exc).__name__,
                      str(exc)[:500])

    def stop_collection(self, timeout: float | None = 30.0) -> bool:
        """Stop the background collection: the loop's wait ends at once; a collection or delivery under way finishes
        first (its HTTP calls are bounded by their timeouts). Waits up to ``timeout`` seconds (None: as long as it
        takes); True when no collection thread runs any more."""
        self._stop.set()
        thread = getattr(self, "_collection_thread", None)
        if thread is None:
            return True
        if thread is not threading.current_thread():
            thread.join(timeout)
        return not thread.is_alive()


def metric_records(metrics: Any, *, source: str | None = None) -> list[dict[str, Any]]:
    """Metric records from what ``push_metrics`` accepts (see there). Non-numeric values are skipped (logged)."""
    if isinstance(metrics, Mapping):
        if metrics and all(isinstance(v, Mapping) for k, v in metrics.items() if k != "timestamp"):
            return [r for name, values in metrics.items() if name != "timestamp"
                    for r in metric_records(values, source=str(name))]
        when = metrics.get("timestamp", None)
        when = datetime.now(UTC) if when is None else when
        out = []
        for name, value in metrics.items():
            if name == "timestamp":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)) or not _finite(value):
                log.warning("metric %r: %r is not a finite number; skipped", name, value)
                continue
            out.append({"timestamp": when, "name": str(name), "value": value,
                        "labels": {"source": source or "default"}})
        return out
    return [dict(r) for r in metrics]


def _finite(value: int | float | Decimal) -> bool:
    return value.is_finite() if isinstance(value, Decimal) else value == value and abs(value) != float("inf")


def _retry_after(answer: requests.Response) -> float:
    try:
        return max(0.0, float(answer.headers.get("Retry-After", 0)))
    except ValueError:
        return 0.0


def _duplicate(answer: requests.Response) -> bool:
    try:
        return bool(answer.json().get("duplicate"))
    except ValueError:
        return False


def _error_body(answer: requests.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return answer.text[:2000]


def _error_text(answer: requests.Response) -> str:
    body = _error_body(answer)
    if isinstance(body, dict):
        return str(body.get("error") or body.get("detail") or body)[:500]
    return str(body)[:500]
