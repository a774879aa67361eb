"""A local Databricks workspace for the SQL Statement Execution API, in its wire format:

- ``POST /api/2.0/sql/statements`` (bearer token, ``warehouse_id``, named ``parameters``, ``wait_timeout``,
  ``format`` JSON_ARRAY, ``disposition`` INLINE or EXTERNAL_LINKS) -> a ``StatementResponse``: ``status.state``,
  ``manifest`` (schema columns with type names, chunks, total_row_count, truncated) and the first ``result`` chunk;
  ``pending`` answers PENDING first, so the client must poll ``GET /api/2.0/sql/statements/{id}``; ``throttled``
  answers 429 TOO_MANY_REQUESTS with ``Retry-After`` first;
- ``GET /api/2.0/sql/statements/{id}/result/chunks/{n}`` -> the chunk (``data_array`` or ``external_links``, with
  ``next_chunk_index`` / ``next_chunk_internal_link``);
- EXTERNAL_LINKS chunks are served at a presigned-style URL (a signature in the query string) that refuses a
  request carrying an ``Authorization`` header, as cloud storage does.

It holds ``system.billing.usage``, ``system.billing.list_prices``, ``system.lakeflow.job_run_timeline`` and
``system.lakeflow.jobs`` as rows (structs and maps as dicts), answers a
statement by the table it reads, applies the two window predicates the collector documents, evaluates the SELECT
list (``to_json(col) AS col`` and bare columns) and the ORDER BY, and formats every non-null value as JSON_ARRAY
does: a string (timestamps ``2023-01-09T10:00:00.000Z``, decimals as written, dates ``YYYY-MM-DD``). Column
schemas are those of ``../shared/data/vendor-api/databricks-system-billing.md``.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import ThreadingHTTPServer
from urllib.parse import urlsplit

from tests.fakes.json_http import JsonHandler

TOKEN = "dapi0123456789abcdeftestneverlogged"
WAREHOUSE = "abcdef1234567890"
TYPES = {  # the docs' types, as the manifest names them
    "usage": {"record_id": "STRING", "account_id": "STRING", "workspace_id": "STRING", "sku_name": "STRING",
              "cloud": "STRING", "usage_start_time": "TIMESTAMP", "usage_end_time": "TIMESTAMP",
              "usage_date": "DATE", "custom_tags": "MAP", "usage_unit": "STRING", "usage_quantity": "DECIMAL",
              "usage_metadata": "STRUCT", "identity_metadata": "STRUCT", "record_type": "STRING",
              "ingestion_date": "DATE", "billing_origin_product": "STRING", "product_features": "STRUCT",
              "usage_type": "STRING"},
    "job_run_timeline": {"account_id": "STRING", "workspace_id": "STRING", "job_id": "STRING", "run_id": "STRING",
                         "period_start_time": "TIMESTAMP", "period_end_time": "TIMESTAMP", "trigger_type": "STRING",
                         "run_type": "STRING", "run_name": "STRING", "result_state": "STRING",
                         "termination_code": "STRING"},
    "jobs": {"account_id": "STRING", "workspace_id": "STRING", "job_id": "STRING", "name": "STRING",
             "creator_id": "STRING", "run_as": "STRING", "tags": "MAP", "change_time": "TIMESTAMP",
             "delete_time": "TIMESTAMP"},
    "list_prices": {"price_start_time": "TIMESTAMP", "price_end_time": "TIMESTAMP", "account_id": "STRING",
                    "sku_name": "STRING", "cloud": "STRING", "currency_code": "STRING", "usage_unit": "STRING",
                    "pricing": "STRUCT"},
}


def _format(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _parse_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class DatabricksApi:
    def __init__(self, chunk_rows: int = 1000) -> None:
        self.usage: list[dict] = []
        self.list_prices: list[dict] = []
        self.job_run_timeline: list[dict] = []
        self.jobs: list[dict] = []
        self.chunk_rows = chunk_rows
        self.pending = 0  # answer this many statements PENDING first (the client polls)
        self.fail_next = None  # (error_code, message): the next statement FAILS
        self.throttled = 0  # answer this many statement submissions 429 TOO_MANY_REQUESTS (with Retry-After) first
        self.statements: dict[str, dict] = {}
        self.requests: list[str] = []
        self.link_auth_headers = 0  # presigned downloads that (wrongly) carried an Authorization header
        api = self

        class Handler(JsonHandler):
            def _authorised(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self._send(401, {"error_code": "UNAUTHENTICATED", "message": "Invalid access token."})
                    return False
                return True

            def do_POST(self) -> None:
                api.requests.append(f"POST {self.path}")
                if not self._authorised():
                    return
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                if urlsplit(self.path).path != "/api/2.0/sql/statements":
                    return self._send(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": "No API found"})
                if api.throttled:
                    api.throttled -= 1
                    return self._send(429, {"error_code": "TOO_MANY_REQUESTS",
                                            "message": "Too many requests. Please wait a moment and try again."},
                                      {"Retry-After": "1"})
                if body.get("warehouse_id") != WAREHOUSE:
                    return self._send(404, {"error_code": "RESOURCE_DOES_NOT_EXIST",
                                            "message": f"Warehouse {body.get('warehouse_id')} does not exist"})
                self._send(200, api.execute(body))

            def do_GET(self) -> None:
                api.requests.append(f"GET {urlsplit(self.path).path}")
                path = urlsplit(self.path).path
                presigned = re.fullmatch(r"/presigned/([^/]+)/(\d+)", path)
                if presigned:
                    if "Authorization" in self.headers:
                        api.link_auth_headers += 1
                        return self._send(400, "<Error><Code>InvalidArgument</Code><Message>Only one auth "
                                               "mechanism allowed</Message></Error>", content_type="application/xml")
                    statement = api.statements[presigned.group(1)]
                    return self._send(200, statement["chunks"][int(presigned.group(2))])
                if not self._authorised():
                    return
                chunk = re.fullmatch(r"/api/2\.0/sql/statements/([^/]+)/result/chunks/(\d+)", path)
                if chunk:
                    return self._send(200, api.chunk(chunk.group(1), int(chunk.group(2))))
                statement = re.fullmatch(r"/api/2\.0/sql/statements/([^/]+)", path)
                if statement:
                    return self._send(200, api.response(statement.group(1)))
                self._send(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": "No API found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host, self.port = self.server.server_address[:2]
        self.url = f"http://{self.host}:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def connection(self) -> dict:
        """The Airflow connection (type databricks) for this workspace: plain HTTP on a local port, PAT as password."""
        return {"conn_type": "databricks", "host": self.host, "port": self.port, "schema": "http",
                "password": TOKEN}

    # -- statements ------------------------------------------------------------------------------------------
    def execute(self, body: dict) -> dict:
        sid = str(uuid.uuid4())
        text = body["statement"]
        table = re.search(r"FROM system\.(?:billing|lakeflow)\.(\w+)", text).group(1)
        params = {p["name"]: _parse_timestamp(p["value"]) for p in body.get("parameters") or []}
        start, end = params["window_start"], params["window_end"]
        if table == "usage":
            rows = [r for r in self.usage if start <= r["usage_start_time"] < end]
        elif table == "job_run_timeline":
            rows = [r for r in self.job_run_timeline if start <= r["period_start_time"] < end]
        elif table == "jobs":
            rows = [r for r in self.jobs if start <= r["change_time"] < end]
        else:
            rows = [r for r in self.list_prices
                    if r["price_start_time"] < end and (r["price_end_time"] is None or r["price_end_time"] > start)]
        order = re.search(r"ORDER BY (.*)$", text, re.S)
        if order:
            keys = [k.strip() for k in order.group(1).split(",")]
            rows = sorted(rows, key=lambda r: [(r[k] is not None, r[k] if r[k] is not None else 0) for k in keys])
        select = re.search(r"SELECT(.*?)FROM", text, re.S).group(1)
        columns = []
        for item in (part.strip() for part in select.split(",") if part.strip()):
            to_json = re.fullmatch(r"to_json\((\w+)\) AS (\w+)", item)
            columns.append((to_json.group(1), to_json.group(2), True) if to_json else (item, item, False))
        data = [[(json.dumps(r[src], default=str) if r[src] is not None else None) if as_json else _format(r[src])
                 for src, _, as_json in columns] for r in rows]
        chunks = [data[i:i + self.chunk_rows] for i in range(0, len(data), self.chunk_rows)] or [[]]
        state = "SUCCEEDED"
        error = None
        if self.fail_next:
            state, error = "FAILED", {"error_code": self.fail_next[0], "message": self.fail_next[1]}
            self.fail_next = None
        self.statements[sid] = {
            "disposition": body.get("disposition", "INLINE"), "chunks": chunks, "state": state, "error": error,
            "polls_left": 1 if self.pending else 0,
            "schema": {"column_count": len(columns), "columns": [
                {"name": name, "position": i, "type_name": TYPES[table].get(src, "STRING"),
                 "type_text": TYPES[table].get(src, "STRING")} for i, (src, name, _) in enumerate(columns)]},
            "total": len(data)}
        if self.pending:
            self.pending -= 1
            return {"statement_id": sid, "status": {"state": "PENDING"}}
        return self.response(sid)

    def response(self, sid: str) -> dict:
        statement = self.statements[sid]
        if statement["polls_left"]:
            statement["polls_left"] -= 1
            return {"statement_id": sid, "status": {"state": "RUNNING"}}
        if statement["state"] != "SUCCEEDED":
            return {"statement_id": sid, "status": {"state": statement["state"], "error": statement["error"]}}
        chunks = statement["chunks"]
        offsets = [sum(len(c) for c in chunks[:i]) for i in range(len(chunks))]
        return {
            "statement_id": sid,
            "status": {"state": "SUCCEEDED"},
            "manifest": {"format": "JSON_ARRAY", "schema": statement["schema"], "total_chunk_count": len(chunks),
                         "chunks": [{"chunk_index": i, "row_offset": offsets[i], "row_count": len(c)}
                                    for i, c in enumerate(chunks)],
                         "total_row_count": statement["total"], "truncated": False},
            "result": self.chunk(sid, 0),
        }

    def chunk(self, sid: str, index: int) -> dict:
        statement = self.statements[sid]
        chunks = statement["chunks"]
        out: dict = {"chunk_index": index, "row_offset": sum(len(c) for c in chunks[:index]),
                     "row_count": len(chunks[index])}
        if index + 1 < len(chunks):
            out["next_chunk_index"] = index + 1
            out["next_chunk_internal_link"] = f"/api/2.0/sql/statements/{sid}/result/chunks/{index + 1}"
        if statement["disposition"] == "EXTERNAL_LINKS":
            link = {**out, "external_link": f"{self.url}/presigned/{sid}/{index}?X-Amz-Signature=presignedsecret",
                    "expiration": "2099-01-01T00:00:00.000Z"}
            return {"external_links": [link]}
        return {**out, "data_array": chunks[index]}

    def __enter__(self) -> DatabricksApi:
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- fixture data: the documented example row and prices, and what a month of a workspace looks like ---------------
ACCOUNT = "23e22ba4-87b9-4cc2-9770-d10b894b7118"  # the docs' example account
WORKSPACE = "1234567890123456"  # the docs' example workspace
PRICE_CHANGE = datetime(2026, 10, 15, tzinfo=UTC)


def ts(day: int, hour: int, month: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def list_prices() -> list[dict]:
    """STANDARD_ALL_PURPOSE_COMPUTE with the docs' example pricing struct (default 0.10, promotional and effective
    list 0.07) until Oct 15 2026, then 0.12 with no promotion; PREMIUM_JOBS_COMPUTE 0.15; an AZURE price of the
    same SKU (another cloud: must not be picked for AWS usage)."""
    def row(sku, start, end, pricing, cloud="AWS"):
        return {"price_start_time": start, "price_end_time": end, "account_id": ACCOUNT, "sku_name": sku,
                "cloud": cloud, "currency_code": "USD", "usage_unit": "DBU", "pricing": pricing}

    return [
        row("STANDARD_ALL_PURPOSE_COMPUTE", datetime(2023, 1, 1, 9, 59, 59, 999000, tzinfo=UTC), PRICE_CHANGE,
            {"default": "0.10", "promotional": {"default": "0.07"}, "effective_list": {"default": "0.07"}}),
        row("STANDARD_ALL_PURPOSE_COMPUTE", PRICE_CHANGE, None,
            {"default": "0.12", "effective_list": {"default": "0.12"}}),
        row("STANDARD_ALL_PURPOSE_COMPUTE", datetime(2023, 1, 1, tzinfo=UTC), None,
            {"default": "0.55", "effective_list": {"default": "0.55"}}, cloud="AZURE"),
        row("PREMIUM_JOBS_COMPUTE", datetime(2024, 6, 1, tzinfo=UTC), None,
            {"default": "0.15", "effective_list": {"default": "0.15"}}),
    ]


def usage_rows() -> list[dict]:
    """Oct 13-16 2026: all-purpose and job compute each day (the docs' example quantity 259.2958 among them), a
    retraction and its restatement of Oct 14's job usage, a record of another day outside every test window."""
    def row(rid, sku, start, quantity, product, record_type="ORIGINAL", cluster=None, job=None, tags=None, run=None):
        return {"record_id": rid, "account_id": ACCOUNT, "workspace_id": WORKSPACE, "sku_name": sku, "cloud": "AWS",
                "usage_start_time": start, "usage_end_time": start + timedelta(hours=1),
                "usage_date": start.date(), "custom_tags": tags if tags is not None else {"env": "production"},
                "usage_unit": "DBU", "usage_quantity": Decimal(quantity),
                "usage_metadata": {"cluster_id": cluster, "instance_pool_id": None, "notebook_id": None,
                                   "job_id": job, "job_run_id": run, "node_type": None},
                "identity_metadata": {"run_as": "example@email.com", "created_by": None},
                "record_type": record_type, "ingestion_date": start.date(), "billing_origin_product": product,
                "product_features": {"is_serverless": False, "is_photon": False}, "usage_type": "COMPUTE_TIME"}

    return [
        row("11e22ba4-87b9-4cc2-9770-d10b894b7118", "STANDARD_ALL_PURPOSE_COMPUTE", ts(13, 10), "259.2958",
            "ALL_PURPOSE", cluster="0923-164208-meows279", tags={"env": "production", "team": "Data"}),
        row("rec-0001", "PREMIUM_JOBS_COMPUTE", ts(13, 2), "41.5000", "JOBS", job="1001", cluster="job-1001-run-1",
            run="run-1"),
        row("rec-0002", "STANDARD_ALL_PURPOSE_COMPUTE", ts(14, 23), "12.2500", "ALL_PURPOSE",
            cluster="0923-164208-meows279"),
        row("rec-0003", "PREMIUM_JOBS_COMPUTE", ts(14, 3), "80.0000", "JOBS", job="1001", run="run-2"),
        row("rec-0003-r", "PREMIUM_JOBS_COMPUTE", ts(14, 3), "-80.0000", "JOBS", "RETRACTION", job="1001",
            run="run-2"),
        row("rec-0003-s", "PREMIUM_JOBS_COMPUTE", ts(14, 3), "64.0000", "JOBS", "RESTATEMENT", job="1001",
            run="run-2"),
        row("rec-0004", "STANDARD_ALL_PURPOSE_COMPUTE", ts(15, 0), "100.0000", "ALL_PURPOSE",
            cluster="0923-164208-meows279", tags={}),
        row("rec-0005", "PREMIUM_JOBS_COMPUTE", ts(16, 5), "33.3333", "JOBS", job="1002", run="run-3"),
        row("rec-0099", "PREMIUM_JOBS_COMPUTE", ts(20, 5), "7.0000", "JOBS", job="1002", run="run-4"),
    ]


def unit_price(sku: str, cloud: str, at: datetime) -> Decimal:
    """The effective list price valid at ``at``, looked up in the fixture (for expected figures)."""
    for price in list_prices():
        if (price["sku_name"], price["cloud"]) == (sku, cloud) and price["price_start_time"] <= at and (
                price["price_end_time"] is None or at < price["price_end_time"]):
            return Decimal(price["pricing"]["effective_list"]["default"])
    raise LookupError((sku, cloud, at))


def job_runs() -> tuple[list[dict], list[dict]]:
    """(job_run_timeline, jobs) for Oct 13-16 2026, in the documented shape: job 1001 "nightly-etl" ran on the 13th
    (succeeded) and on the 14th (failed, then repaired: two attempts, two final rows), job 1002 ran for 2.5 hours
    on the 16th (three hourly slices, the state only on the last) and timed out; job 1001 was renamed on the
    15th."""
    def slice_(job, run, start, end, state=None, code=None, name="scheduled run"):
        return {"account_id": ACCOUNT, "workspace_id": WORKSPACE, "job_id": job, "run_id": run,
                "period_start_time": start, "period_end_time": end, "trigger_type": "CRON", "run_type": "JOB_RUN",
                "run_name": name, "result_state": state, "termination_code": code}

    timeline = [
        slice_("1001", "run-1", ts(13, 2), ts(13, 2) + timedelta(minutes=40), "SUCCEEDED", "SUCCESS"),
        slice_("1001", "run-2", ts(14, 3), ts(14, 3) + timedelta(minutes=25), "FAILED", "RUN_EXECUTION_ERROR"),
        slice_("1001", "run-2", ts(14, 5), ts(14, 5) + timedelta(minutes=35), "SUCCEEDED", "SUCCESS"),
        slice_("1002", "run-3", ts(16, 5), ts(16, 6)),
        slice_("1002", "run-3", ts(16, 6), ts(16, 7)),
        slice_("1002", "run-3", ts(16, 7), ts(16, 7) + timedelta(minutes=30), "TIMED_OUT", "RUN_EXECUTION_ERROR"),
    ]

    def job(job_id, name, changed):
        return {"account_id": ACCOUNT, "workspace_id": WORKSPACE, "job_id": job_id, "name": name,
                "creator_id": "123", "run_as": "etl@example.com", "tags": {"team": "data"}, "change_time": changed,
                "delete_time": None}

    jobs = [job("1001", "nightly-etl", ts(13, 0)), job("1002", "weekly-report", ts(13, 0)),
            job("1001", "nightly-etl-v2", ts(15, 12))]
    return timeline, jobs
