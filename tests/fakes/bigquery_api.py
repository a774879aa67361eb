"""A fake BigQuery REST API v2 and OAuth 2.0 token endpoint on 127.0.0.1, for the real google-cloud-bigquery client.

It implements exactly the calls google-cloud-bigquery 3.47 makes for
``client.query(sql, job_config=QueryJobConfig(query_parameters=...)).result(page_size=N)`` with the default
``api_method=INSERT`` (read from ``client.py``, ``_job_helpers.query_jobs_insert`` and ``job/query.py``):

1. ``POST /bigquery/v2/projects/{project}/jobs`` (jobs.insert): the Job resource comes back ``RUNNING``;
2. ``GET /bigquery/v2/projects/{project}/jobs/{jobId}`` (jobs.get, from ``QueryJob.done()``): now ``DONE``;
3. ``GET /bigquery/v2/projects/{project}/queries/{jobId}?maxResults=N`` (jobs.getQueryResults): schema, totalRows,
   the first page of rows and a ``pageToken``; then the same call with ``pageToken`` for every further page.

Rows go out in BigQuery's JSON wire format: ``{"f": [{"v": ...}]}`` with every scalar as a string, RECORD as a nested
``{"f": [...]}``, REPEATED as ``[{"v": ...}, ...]``, NUMERIC/BIGNUMERIC as decimal strings, and TIMESTAMP as int64
microseconds when the client asks ``formatOptions.useInt64Timestamp=true`` (it always does for result pages), else
as float seconds in BigQuery's ``1.7304192E9`` notation. Errors use Google's JSON error body
(``{"error": {"code", "message", "errors": [{"reason", ...}], "status"}}``).

``POST /token`` is the OAuth 2.0 JWT-bearer grant google-auth's service-account credentials perform
(``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<RS256 JWT>``); when the test gives the public
key, the assertion's signature, audience and scope are verified. Every BigQuery call must carry a token it issued.

The fake evaluates no SQL: the test sets the result rows with :meth:`FakeBigQuery.serve` and reads back what was
asked (:attr:`FakeBigQuery.queries`: SQL text and decoded parameters), and can inject faults (:meth:`fail`).
"""

from __future__ import annotations

import base64
import json
import random
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# google-auth signs service-account assertions for this audience whatever the keyfile's token_uri (Google's token
# endpoint requires it), so the fake expects it too.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"


@dataclass(frozen=True)
class Field:
    """A result-schema field as BigQuery describes it (``type`` is the legacy name: STRING, INTEGER, NUMERIC, ...)."""

    name: str
    type: str
    mode: str = "NULLABLE"
    fields: tuple[Field, ...] = ()

    def to_api(self) -> dict:
        body: dict[str, Any] = {"name": self.name, "type": self.type, "mode": self.mode}
        if self.fields:
            body["fields"] = [f.to_api() for f in self.fields]
        return body


@dataclass
class QueryRecord:
    """One jobs.insert the fake received: the SQL text and its named parameters ({name: (type, value string)})."""

    job_id: str
    project: str
    location: str | None
    sql: str
    use_legacy_sql: bool | None
    parameters: dict[str, tuple[str, str]]


@dataclass
class Fault:
    kind: str  # token | insert | get_job | results
    status: int
    reason: str
    message: str
    times: int | None  # None: every time
    page: int | None = None  # results only: 1-based page number (1 = the call without pageToken)


@dataclass
class _Job:
    resource: dict
    schema: tuple[Field, ...]
    rows: list[dict]


@dataclass
class FakeBigQuery:
    """Start with ``with FakeBigQuery(...) as fake:``; ``fake.url`` is the api_endpoint, ``fake.token_uri`` the
    token endpoint for the service-account keyfile."""

    public_key_pem: bytes | None = None
    queries: list[QueryRecord] = field(default_factory=list)
    requests: list[tuple[str, str, dict]] = field(default_factory=list)  # (method, path, query params)
    issued_tokens: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._schema: tuple[Field, ...] = ()
        self._rows: list[dict] = []
        self._faults: list[Fault] = []
        self._jobs: dict[str, _Job] = {}
        self._server: ThreadingHTTPServer | None = None
        # Random faults (seeded): this share of API calls (not the token) gets 403 rateLimitExceeded, 500 / 503
        # backendError, or a dropped connection.
        self.fault_rate = 0.0
        self.faults_served: list[str] = []
        self._rng = random.Random(1)

    # -- test API -------------------------------------------------------------------------------------------------
    def serve(self, schema: list[Field] | tuple[Field, ...], rows: list[dict]) -> None:
        """The result set every following query returns (rows as {column: Python value})."""
        with self._lock:
            self._schema, self._rows = tuple(schema), list(rows)

    def fail(self, kind: str, status: int, reason: str, message: str, times: int | None = 1,
             page: int | None = None) -> None:
        """Answer the next ``times`` calls of ``kind`` (None: all of them) with a BigQuery error body."""
        with self._lock:
            self._faults.append(Fault(kind, status, reason, message, times, page))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def calls(self, kind: str) -> int:
        """How many requests of a kind arrived (including failed ones)."""
        return sum(1 for method, path, _ in self.requests if _kind(method, path) == kind)

    @property
    def url(self) -> str:
        assert self._server is not None, "fake not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def __enter__(self) -> FakeBigQuery:
        fake = self

        class Handler(_Handler):
            pass

        Handler.fake = fake
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="fake-bigquery", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- request handling (called from the handler threads) -------------------------------------------------------
    def _take_fault(self, kind: str, page: int | None = None) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.kind == kind and (fault.page is None or fault.page == page) and fault.times != 0:
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    def _issue_token(self, form: dict[str, list[str]]) -> tuple[int, dict]:
        if form.get("grant_type") != [JWT_BEARER] or not form.get("assertion"):
            return 400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type."}
        problem = self._check_assertion(form["assertion"][0])
        if problem:
            return 400, {"error": "invalid_grant", "error_description": problem}
        token = f"ya29.fake-{uuid.uuid4().hex}"
        with self._lock:
            self.issued_tokens.append(token)
        return 200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}

    def _check_assertion(self, assertion: str) -> str | None:
        try:
            header_b64, claims_b64, signature_b64 = assertion.split(".")
            claims = json.loads(_b64decode(claims_b64))
        except ValueError:
            return "Invalid JWT: malformed."
        if claims.get("aud") != GOOGLE_TOKEN_AUDIENCE:
            return f"Invalid JWT: audience {claims.get('aud')!r} is not {GOOGLE_TOKEN_AUDIENCE}."
        if not claims.get("scope"):
            return "Invalid JWT: no scope."
        if self.public_key_pem is not None:
            key = serialization.load_pem_public_key(self.public_key_pem)
            try:
                key.verify(_b64decode(signature_b64), f"{header_b64}.{claims_b64}".encode(), padding.PKCS1v15(),
                           hashes.SHA256())
            except Exception:  # cryptography raises InvalidSignature
                return "Invalid JWT Signature."
        return None

    def _authorised(self, header: str | None) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        with self._lock:
            return header.removeprefix("Bearer ") in self.issued_tokens

    def _insert_job(self, project: str, body: dict) -> dict:
        reference = dict(body.get("jobReference") or {})
        job_id = reference.get("jobId") or uuid.uuid4().hex
        reference.update(projectId=project, jobId=job_id)
        query = body.get("configuration", {}).get("query", {})
        parameters = {p["name"]: (p["parameterType"]["type"], p["parameterValue"].get("value"))
                      for p in query.get("queryParameters", [])}
        now_ms = str(int(datetime.now(UTC).timestamp() * 1000))
        resource = {
            "kind": "bigquery#job", "etag": uuid.uuid4().hex,
            "id": f"{project}:{reference.get('location', 'US')}.{job_id}",
            "selfLink": f"{self.url}/bigquery/v2/projects/{project}/jobs/{job_id}",
            "user_email": "collector@example-project.iam.gserviceaccount.com",
            "configuration": body.get("configuration", {}), "jobReference": reference,
            "statistics": {"creationTime": now_ms, "startTime": now_ms},
            "status": {"state": "RUNNING"},
        }
        with self._lock:
            self.queries.append(QueryRecord(job_id, project, reference.get("location"), query.get("query", ""),
                                            query.get("useLegacySql"), parameters))
            self._jobs[job_id] = _Job(resource, self._schema, self._rows)
        return resource

    def _get_job(self, job_id: str) -> dict | None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            resource = job.resource
            if resource["status"]["state"] != "DONE":
                resource["status"] = {"state": "DONE"}
                stats = resource["statistics"]
                stats["endTime"] = stats["startTime"]
                stats["query"] = {"totalBytesProcessed": "0", "totalBytesBilled": "0", "cacheHit": False,
                                  "statementType": "SELECT"}
                resource["configuration"]["query"]["destinationTable"] = {
                    "projectId": resource["jobReference"]["projectId"], "datasetId": "_fake_anonymous",
                    "tableId": f"anon{job_id.replace('-', '')}"}
            return resource

    def _query_results(self, job_id: str, params: dict[str, str]) -> dict | None:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            return None
        offset = int(_b64decode(params["pageToken"]).decode()) if params.get("pageToken") else 0
        limit = int(params.get("maxResults") or 0) if "maxResults" in params else len(job.rows)
        int64_ts = params.get("formatOptions.useInt64Timestamp", "").lower() == "true"
        page = job.rows[offset:offset + limit]
        body: dict[str, Any] = {
            "kind": "bigquery#getQueryResultsResponse", "etag": uuid.uuid4().hex,
            "schema": {"fields": [f.to_api() for f in job.schema]},
            "jobReference": job.resource["jobReference"], "totalRows": str(len(job.rows)),
            "totalBytesProcessed": "0", "jobComplete": True, "cacheHit": False,
        }
        if page:
            body["rows"] = [encode_row(row, job.schema, int64_ts) for row in page]
        if offset + len(page) < len(job.rows) and limit:
            body["pageToken"] = base64.urlsafe_b64encode(str(offset + len(page)).encode()).decode()
        return body


class _Handler(BaseHTTPRequestHandler):
    fake: FakeBigQuery
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read :attr:`FakeBigQuery.requests` instead (and nothing here may print a token)."""

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(split.query).items()}
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        fake = self.fake
        with fake._lock:
            fake.requests.append((method, split.path, params))
        kind = _kind(method, split.path)
        if kind is None:
            return self._error(404, "notFound", f"Not found: {method} {split.path}")
        page = None
        if kind == "results":
            page = 1 if not params.get("pageToken") else 1 + _page_of(params)
        fault = fake._take_fault(kind, page)
        if fault is None and kind != "token" and fake.fault_rate:
            with fake._lock:
                injected = (fake._rng.choice(["403", "500", "503", "drop"])
                            if fake._rng.random() < fake.fault_rate else None)
                if injected:
                    fake.faults_served.append(f"{kind} {injected}")
            if injected == "drop":
                self.close_connection = True
                return None
            if injected:
                return self._error(int(injected), "rateLimitExceeded" if injected == "403" else "backendError",
                                   "injected fault")
        if fault:
            if kind == "token":
                return self._send(fault.status, {"error": fault.reason, "error_description": fault.message})
            return self._error(fault.status, fault.reason, fault.message)
        if kind == "token":
            return self._send(*fake._issue_token(parse_qs(body.decode())))
        if not fake._authorised(self.headers.get("Authorization")):
            return self._error(401, "unauthorized", "Request is missing required authentication credential. "
                                                    "Expected OAuth 2 access token.")
        parts = split.path.split("/")  # ['', 'bigquery', 'v2', 'projects', p, 'jobs'|'queries', id?]
        project = parts[4]
        if kind == "insert":
            return self._send(200, fake._insert_job(project, json.loads(body or b"{}")))
        job_id = parts[6]
        resource = fake._get_job(job_id) if kind == "get_job" else fake._query_results(job_id, params)
        if resource is None:
            return self._error(404, "notFound", f"Not found: Job {project}:{job_id}")
        return self._send(200, resource)

    def _error(self, status: int, reason: str, message: str) -> None:
        domain = "usageLimits" if reason in ("rateLimitExceeded", "quotaExceeded") else "global"
        self._send(status, {"error": {"code": status, "message": message,
                                      "errors": [{"message": message, "domain": domain, "reason": reason}],
                                      "status": STATUS_NAMES.get(status, "UNKNOWN")}})

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _kind(method: str, path: str) -> str | None:
    parts = path.split("/")
    if method == "POST" and path == "/token":
        return "token"
    if len(parts) < 6 or parts[1:4] != ["bigquery", "v2", "projects"]:
        return None
    if method == "POST" and len(parts) == 6 and parts[5] == "jobs":
        return "insert"
    if method == "GET" and len(parts) == 7 and parts[5] == "jobs":
        return "get_job"
    if method == "GET" and len(parts) == 7 and parts[5] == "queries":
        return "results"
    return None


def _page_of(params: dict[str, str]) -> int:
    """Page number (0-based) a pageToken points at, given the page size of the request."""
    offset = int(_b64decode(params["pageToken"]).decode())
    size = int(params.get("maxResults") or 1) or 1
    return offset // size


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- wire encoding ---------------------------------------------------------------------------------------------------
def encode_row(row: dict, schema: tuple[Field, ...], int64_timestamp: bool) -> dict:
    return {"f": [{"v": encode_value(row.get(f.name), f, int64_timestamp)} for f in schema]}


def encode_value(value: Any, f: Field, int64_timestamp: bool) -> Any:
    if value is None:
        return [] if f.mode == "REPEATED" else None
    if f.mode == "REPEATED":
        item_field = Field(f.name, f.type, "NULLABLE", f.fields)
        return [{"v": encode_value(item, item_field, int64_timestamp)} for item in value]
    kind = f.type.upper()
    if kind in ("RECORD", "STRUCT"):
        return encode_row(value, f.fields, int64_timestamp)
    if kind == "TIMESTAMP":
        micros = _micros(value)
        return str(micros) if int64_timestamp else _java_double(micros / 1_000_000)
    if kind in ("NUMERIC", "BIGNUMERIC"):
        return format(Decimal(value).normalize(), "f")
    if kind in ("BOOLEAN", "BOOL"):
        return "true" if value else "false"
    if kind in ("INTEGER", "INT64"):
        return str(int(value))
    if kind in ("FLOAT", "FLOAT64"):
        return repr(float(value))
    if kind == "DATE":
        return value.isoformat() if isinstance(value, date) else str(value)
    return str(value)


def _micros(value: datetime) -> int:
    if value.tzinfo is None:
        raise ValueError(f"fake BigQuery: TIMESTAMP values must be timezone-aware, got {value!r}")
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _java_double(x: float) -> str:
    """BigQuery's float-seconds notation for TIMESTAMP without useInt64Timestamp, e.g. ``1.7304192E9``."""
    mantissa, exponent = f"{x:.15E}".split("E")
    mantissa = mantissa.rstrip("0")
    if mantissa.endswith("."):
        mantissa += "0"
    return f"{mantissa}E{int(exponent)}"
