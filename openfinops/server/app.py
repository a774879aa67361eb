"""The OpenFinOps server: the endpoints the original OpenFinOps agents and users know, on FastAPI, writing to the
warehouse (nothing is kept in memory: a restart loses nothing that was acknowledged).

- ``GET /api/health``: ``{"status": "healthy", "warehouse": "reachable", ...}``, or 503 ``unhealthy`` when the
  warehouse cannot be reached.
- ``POST /api/v1/agents/register`` (``Authorization: Bearer <admin token>``, the token from
  ``OPENFINOPS_SERVER_ADMIN_TOKEN``): 201 with ``agent_id`` and an ``api_key`` shown this once (stored as its
  SHA-256). Registering an existing ``agent_id`` again gives it a new key (the old one stops working).
- ``POST /api/v1/telemetry/ingest`` and ``POST /api/v1/metrics`` (``Authorization: Bearer <api key>`` or
  ``X-API-Key``): a batch (:mod:`openfinops.server.schema`), answered 200 only once it is committed; the same
  ``batch_id`` again is stored once (200, ``"duplicate": true``); another body under a used ``batch_id`` is 409.
  Errors: 401 no or unknown key, 403 the key's agent is not the batch's ``agent_id``, 413 body over
  ``max_body_bytes`` or more records than the schema allows, 422 malformed JSON or a schema violation (the answer
  names the field), 503 warehouse unreachable.
- ``GET /api/v1/agents/me`` (the agent's key): its ``agent_id`` and ``agent_type`` (an agent given only a key).
- ``GET /api/v1/schema``: the batch JSON Schema.
- ``/``, ``/dashboard/cfo``, ``/dashboard/coo``, ``/dashboard/infrastructure``: redirects to the Superset dashboards.
"""

from __future__ import annotations

import hmac
import logging
import os
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from openfinops.server import schema, store

log = logging.getLogger(__name__)
VERSION = "0.1.0"
MAX_BODY_BYTES = 8 * 1024 * 1024
DASHBOARDS = {"/": "overview", "/dashboard/cfo": "cfo", "/dashboard/coo": "coo",
              "/dashboard/infrastructure": "infrastructure"}


def _error(status: int, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": detail, **extra}, status_code=status)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization") or ""
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.headers.get("x-api-key") or None


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None once it exceeds ``limit`` (never reads more than limit + one chunk)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def create_app(warehouse_url: str | None = None, admin_token: str | None = None,
               superset_url: str | None = None, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """The ASGI app. Settings default to the environment: ``OPENFINOPS_WAREHOUSE_URL``,
    ``OPENFINOPS_SERVER_ADMIN_TOKEN`` (registration is refused without it), ``OPENFINOPS_SUPERSET_URL``
    (default http://127.0.0.1:8088)."""
    url = warehouse_url or os.environ.get("OPENFINOPS_WAREHOUSE_URL")
    if not url:
        raise RuntimeError("OPENFINOPS_WAREHOUSE_URL is not set: the server writes pushed telemetry to the warehouse")
    admin = admin_token if admin_token is not None else os.environ.get("OPENFINOPS_SERVER_ADMIN_TOKEN")
    superset = (superset_url or os.environ.get("OPENFINOPS_SUPERSET_URL") or "http://127.0.0.1:8088").rstrip("/")
    pool = store.Pool(url)
    ready = {"tables": False}

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        pool.close()

    app = FastAPI(title="OpenFinOps server", version=VERSION, docs_url="/api/docs", redoc_url=None,
                  openapi_url="/api/openapi.json", lifespan=lifespan)

    def with_tables(fn, *args):
        with pool.connection() as conn:
            if not ready["tables"]:
                store.ensure_tables(conn)
                ready["tables"] = True
            return fn(conn, *args)

    @app.get("/api/health")
    async def health() -> JSONResponse:
        def probe(conn):
            conn.execute("SELECT 1")
            conn.commit()

        try:
            await run_in_threadpool(with_tables, probe)
        except Exception as exc:
            log.warning("health: warehouse unreachable: %s", type(exc).__name__)
            return JSONResponse({"status": "unhealthy", "warehouse": "unreachable", "version": VERSION},
                                status_code=503)
        return JSONResponse({"status": "healthy", "warehouse": "reachable", "version": VERSION})

    @app.get("/api/v1/schema")
    async def batch_schema() -> JSONResponse:
        return JSONResponse(schema.SCHEMA)

    @app.post("/api/v1/agents/register")
    async def register(request: Request) -> JSONResponse:
        token = _bearer(request)
        if not admin:
            return _error(403, "registration is disabled: OPENFINOPS_SERVER_ADMIN_TOKEN is not set on the server")
        if not token or not hmac.compare_digest(token, admin):
            return _error(401, "registration needs the admin token (Authorization: Bearer <token>)")
        body = await _read_body(request, 64 * 1024)
        if body is None:
            return _error(413, "registration body over 64 KiB")
        try:
            payload = store.parse_batch(body or b"{}")
        except ValueError as exc:
            return _error(422, f"(body): not JSON: {exc}", field="(body)")
        if not isinstance(payload, dict):
            return _error(422, "(body): expected a JSON object", field="(body)")
        agent_type = payload.get("agent_type") or "generic"
        for field in ("agent_type", "hostname", "agent_id"):
            if payload.get(field) is not None and not (isinstance(payload[field], str) and 0 < len(
                    payload[field]) <= 200):
                return _error(422, f"{field}: expected a string of 1-200 characters", field=field)
        if payload.get("metadata") is not None and not isinstance(payload["metadata"], dict):
            return _error(422, "metadata: expected an object", field="metadata")
        try:
            agent_id, key = await run_in_threadpool(
                with_tables, store.register, agent_type, payload.get("hostname"), payload.get("metadata"),
                payload.get("agent_id"))
        except Exception as exc:
            log.error("register: warehouse error: %s", type(exc).__name__)
            return _error(503, "warehouse unavailable")
        return JSONResponse({"agent_id": agent_id, "api_key": key, "agent_type": agent_type,
                             "note": "the api_key is shown once; it is stored only as a hash"}, status_code=201)

    async def authenticated(request: Request, endpoint: str) -> store.Agent | JSONResponse:
        """The agent of the request's API key, or the error answer (401 no / unknown key, 503 warehouse down)."""
        key = _bearer(request)
        if not key:
            return _error(401, "missing API key (Authorization: Bearer <api key> or X-API-Key)")
        try:
            agent = await run_in_threadpool(with_tables, store.agent_for_key, key)
        except Exception as exc:
            log.error("%s: warehouse error: %s", endpoint, type(exc).__name__)
            return _error(503, "warehouse unavailable")
        return agent if agent is not None else _error(401, "unknown API key")

    @app.get("/api/v1/agents/me")
    async def whoami(request: Request) -> JSONResponse:
        agent = await authenticated(request, "whoami")
        if isinstance(agent, JSONResponse):
            return agent
        return JSONResponse({"agent_id": agent.agent_id, "agent_type": agent.agent_type})

    async def ingest(request: Request) -> JSONResponse:
        agent = await authenticated(request, "ingest")
        if isinstance(agent, JSONResponse):
            return agent
        body = await _read_body(request, max_body_bytes)
        if body is None:
            return _error(413, f"body over {max_body_bytes} bytes: split the batch")
        try:
            batch = schema.decode(body)
        except schema.BatchError as exc:
            status = 413 if exc.field == "(batch)" and "at most" in exc.message else 422
            return _error(status, str(exc), field=exc.field)
        if batch["agent_id"] != agent.agent_id:
            return _error(403, f"agent_id: this API key belongs to agent {agent.agent_id!r}, not "
                               f"{batch['agent_id']!r}", field="agent_id")
        try:
            stored, counts = await run_in_threadpool(with_tables, store.store_batch, agent.agent_id, batch,
                                                     store.body_hash(body))
        except store.ConflictingRetry:
            return _error(409, f"batch_id: {batch['batch_id']!r} was already used for a different batch",
                          field="batch_id")
        except Exception as exc:
            log.error("ingest: batch %s of %s not stored: %s", batch["batch_id"], agent.agent_id,
                      type(exc).__name__)
            return _error(503, "warehouse unavailable: the batch was not stored, retry it")
        return JSONResponse({"status": "accepted", "agent_id": agent.agent_id, "batch_id": batch["batch_id"],
                             "duplicate": not stored, "records": counts})

    app.add_api_route("/api/v1/telemetry/ingest", ingest, methods=["POST"])
    app.add_api_route("/api/v1/metrics", ingest, methods=["POST"])

    for path, slug in DASHBOARDS.items():
        app.add_api_route(path, _redirect_to(f"{superset}/superset/dashboard/{slug}/"), methods=["GET"],
                          include_in_schema=False)
    return app


def _redirect_to(target: str):
    async def redirect() -> RedirectResponse:
        return RedirectResponse(target, status_code=307)

    return redirect
