"""The ingest server (openfinops.server) as agents meet it: a real uvicorn server on loopback, the real warehouse.

Registration needs the admin token and shows the key once (stored hashed); a batch is answered 200 only after it is
committed, a retried batch is stored once (also when the retries race), and every kind of bad request gets its status
(401 / 403 / 409 / 413 / 422 naming the field) with nothing stored. Fuzzed batches never get a 5xx and never leave a
partial batch."""

from __future__ import annotations

import itertools
import json
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import psycopg
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.servers import Server, free_port

ADMIN = "test-admin-token-5f2c"
FUZZ_IDS = itertools.count()


@pytest.fixture(scope="module")
def warehouse():
    from tests.conftest import create_database, drop_database

    url = create_database("ofo_ingest")
    yield url
    drop_database(url)


@pytest.fixture(scope="module")
def server(warehouse):
    s = Server(warehouse_url=warehouse, admin_token=ADMIN, superset_url="http://superset.test:8088",
               max_body_bytes=1024 * 1024)
    yield s
    s.stop()


def register(server, **body) -> dict:
    r = requests.post(f"{server.url}/api/v1/agents/register", json=body,
                      headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture(scope="module")
def agent(server) -> dict:
    return register(server, agent_type="gpu_node_agent", hostname="node-17", metadata={"site": "on-prem"})


def post(server, key, batch, path="/api/v1/telemetry/ingest", **kw):
    data = batch if isinstance(batch, (bytes, str)) else json.dumps(batch)
    return requests.post(f"{server.url}{path}", data=data, timeout=30,
                         headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"}, **kw)


def a_batch(agent_id: str, batch_id: str) -> dict:
    return {
        "agent_id": agent_id, "batch_id": batch_id, "sent_at": "2026-12-03T10:00:05Z",
        "node_metrics": [
            {"timestamp": "2026-12-03T10:00:00Z", "cluster_id": "gpu-onprem", "node_id": f"n{i}", "status": "Ready",
             "cpu_usage": 41.5 + i, "gpu_usage": 88.25, "memory_usage": 63, "gpu_memory_used_gb": 71.5,
             "gpu_count": 8} for i in range(3)],
        "llm_training_metrics": [
            {"timestamp": 1796292000.5, "run_id": "llm-training-001", "model_name": "gpt-custom-7b", "epoch": 5,
             "step": 1000, "training_loss": 0.245, "validation_loss": 0.289, "learning_rate": 0.0001,
             "gpu_memory_mb": 42000, "batch_size": 32, "throughput_samples_per_sec": 128.5}],
        "cost_records": [
            {"timestamp": "2026-12-02T00:00:00+00:00", "period_end": "2026-12-03T00:00:00+00:00",
             "provider": "OnPrem", "service": "GPU hosting", "cost": "1234.567890123456789", "currency": "EUR",
             "tags": {"team": "ml"}},
            {"timestamp": "2026-12-02T00:00:00Z", "provider": "OnPrem", "service": "GPU hosting",
             "cost": -12.5, "currency": "EUR"}],
        "metrics": [{"timestamp": "2026-12-03T10:00:00Z", "name": "queue_depth", "value": 17,
                     "labels": {"queue": "train"}}],
    }


def rows(url: str, sql: str, *params) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def batch_rows(url: str, agent_id: str, batch_id: str) -> dict[str, int]:
    return {t: rows(url, f"SELECT count(*) FROM raw.{t} WHERE _agent_id = %s AND _batch_id = %s",
                    agent_id, batch_id)[0][0]
            for t in ("telemetry_node_metrics", "telemetry_llm_training_metrics", "telemetry_cost_records",
                      "telemetry_metrics")}


def test_health_reports_the_warehouse(server):
    r = requests.get(f"{server.url}/api/health", timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "healthy" and r.json()["warehouse"] == "reachable"
    down = Server(warehouse_url=f"postgresql://nobody:x@127.0.0.1:{free_port()}/none", admin_token=ADMIN)
    try:
        r = requests.get(f"{down.url}/api/health", timeout=20)
        assert r.status_code == 503 and r.json()["status"] == "unhealthy"
    finally:
        down.stop()


def test_registration_needs_the_admin_token_and_stores_only_a_hash(server, warehouse):
    url = f"{server.url}/api/v1/agents/register"
    assert requests.post(url, json={}, timeout=10).status_code == 401
    assert requests.post(url, json={}, headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401
    bad = requests.post(url, json={"hostname": 7}, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
    assert bad.status_code == 422 and bad.json()["field"] == "hostname"
    first = register(server, agent_type="aws_telemetry", hostname="h1")
    assert first["agent_id"].startswith("agt_") and first["api_key"].startswith("ofo_")
    stored = rows(warehouse, "SELECT to_jsonb(a)::text FROM raw.telemetry_agents a")
    assert stored and not any(first["api_key"] in text for (text,) in stored)
    # Registering the same id again rotates its key: the old one stops working.
    again = register(server, agent_id=first["agent_id"], agent_type="aws_telemetry")
    assert again["agent_id"] == first["agent_id"] and again["api_key"] != first["api_key"]
    me = requests.get(f"{server.url}/api/v1/agents/me", headers={"Authorization": f"Bearer {again['api_key']}"},
                      timeout=10)
    assert me.json() == {"agent_id": first["agent_id"], "agent_type": "aws_telemetry"}
    assert requests.get(f"{server.url}/api/v1/agents/me", headers={"Authorization": f"Bearer {first['api_key']}"},
                        timeout=10).status_code == 401
    batch = {"agent_id": first["agent_id"], "batch_id": "b-rot"}
    assert post(server, first["api_key"], batch).status_code == 401
    assert post(server, again["api_key"], batch).status_code == 200


def test_a_batch_is_stored_exactly_with_its_original_fields(server, agent, warehouse):
    batch = a_batch(agent["agent_id"], "batch-0001")
    r = post(server, agent["api_key"], batch)
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "accepted", "agent_id": agent["agent_id"], "batch_id": "batch-0001",
                        "duplicate": False, "records": {"node_metrics": 3, "llm_training_metrics": 1,
                                                        "cost_records": 2, "metrics": 1}}
    # committed before the answer: visible from another session at once
    assert batch_rows(warehouse, agent["agent_id"], "batch-0001") == {
        "telemetry_node_metrics": 3, "telemetry_llm_training_metrics": 1, "telemetry_cost_records": 2,
        "telemetry_metrics": 1}
    costs = rows(warehouse, "SELECT cost, currency, tags FROM raw.telemetry_cost_records WHERE _batch_id = %s "
                            "ORDER BY cost", "batch-0001")
    assert costs == [(Decimal("-12.5"), "EUR", None),
                     (Decimal("1234.567890123456789"), "EUR", {"team": "ml"})]  # exact, not through a float
    llm = rows(warehouse, """SELECT logged_at, epoch, step, training_loss, validation_loss, learning_rate,
                                    gpu_memory_mb, batch_size, throughput_samples_per_sec
                             FROM raw.telemetry_llm_training_metrics WHERE _batch_id = %s""", "batch-0001")
    assert llm[0][1:] == (5, 1000, Decimal("0.245"), Decimal("0.289"), Decimal("0.0001"), Decimal(42000), 32,
                          Decimal("128.5"))
    assert llm[0][0].timestamp() == 1796292000.5
    nodes = rows(warehouse, "SELECT node_id, cpu_utilization_pct FROM raw.telemetry_node_metrics "
                            "WHERE _batch_id = %s ORDER BY node_id", "batch-0001")
    assert nodes == [("n0", Decimal("41.5")), ("n1", Decimal("42.5")), ("n2", Decimal("43.5"))]


def test_a_retried_batch_is_stored_once_even_when_the_retries_race(server, agent, warehouse):
    batch = a_batch(agent["agent_id"], "batch-race")
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: post(server, agent["api_key"], batch), range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    assert sorted(a.json()["duplicate"] for a in answers) == [False] + [True] * 7
    assert batch_rows(warehouse, agent["agent_id"], "batch-race") == {
        "telemetry_node_metrics": 3, "telemetry_llm_training_metrics": 1, "telemetry_cost_records": 2,
        "telemetry_metrics": 1}
    # The same id with another body is a client bug, not a retry.
    changed = {**batch, "metrics": []}
    r = post(server, agent["api_key"], changed)
    assert r.status_code == 409 and r.json()["field"] == "batch_id"
    # /api/v1/metrics is the same endpoint (the original generic agent's URL).
    assert post(server, agent["api_key"], batch, path="/api/v1/metrics").json()["duplicate"] is True


@pytest.mark.parametrize("case, status, field", [
    ("no key", 401, None),
    ("unknown key", 401, None),
    ("another agent's id", 403, "agent_id"),
    ("not JSON", 422, "(body)"),
    ("wrong type", 422, "node_metrics[1].cpu_usage"),
    ("missing field", 422, "cost_records[0].currency"),
    ("unknown field", 422, "metrics[0].colour"),
    ("bad time", 422, "node_metrics[0].timestamp"),
    ("too big", 413, None),
    ("too many records", 413, "(batch)"),
])
def test_bad_requests_get_their_status_and_store_nothing(case, status, field, server, agent, warehouse):
    other = register(server, agent_type="generic")
    batch_id = f"bad-{case.replace(' ', '-')}"
    batch = a_batch(agent["agent_id"], batch_id)
    key = agent["api_key"]
    body: dict | str = batch
    if case == "no key":
        key = ""
    elif case == "unknown key":
        key = "ofo_not-a-key"
    elif case == "another agent's id":
        key = other["api_key"]
    elif case == "not JSON":
        body = '{"agent_id": '
    elif case == "wrong type":
        batch["node_metrics"][1]["cpu_usage"] = "abc"
    elif case == "missing field":
        del batch["cost_records"][0]["currency"]
    elif case == "unknown field":
        batch["metrics"][0]["colour"] = "red"
    elif case == "bad time":
        batch["node_metrics"][0]["timestamp"] = "2026-12-03T10:00:00"  # no offset
    elif case == "too big":
        batch["metrics"] = [{"timestamp": 0, "name": "x" * 150, "value": 1}] * 6000  # ~1.2 MB > 1 MiB
    elif case == "too many records":
        batch["metrics"] = [{"timestamp": 0, "name": "m", "value": 1}] * 10_001
    r = post(server, key, body)
    assert r.status_code == status, r.text
    if field:
        assert r.json()["field"] == field and field in r.json()["error"]
    assert set(batch_rows(warehouse, agent["agent_id"], batch_id).values()) == {0}
    assert rows(warehouse, "SELECT count(*) FROM raw.telemetry_batches WHERE batch_id = %s", batch_id) == [(0,)]


def test_dashboard_routes_redirect_to_superset(server):
    for path, slug in (("/dashboard/cfo", "cfo"), ("/dashboard/coo", "coo"),
                       ("/dashboard/infrastructure", "infrastructure"), ("/", "overview")):
        r = requests.get(f"{server.url}{path}", allow_redirects=False, timeout=10)
        assert r.status_code == 307 and r.headers["location"] == f"http://superset.test:8088/superset/dashboard/{slug}/"


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                        max_size=3), max_leaves=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.lists(st.sampled_from(["node_metrics", "llm_training_metrics", "cost_records", "metrics", 0, 1,
                                      "timestamp", "cost", "step", "value", "tags", "batch_id", "cpu_usage"]),
                     min_size=1, max_size=3),
       value=json_values)
def test_fuzzed_batches_never_crash_the_server_or_store_part_of_a_batch(server, agent, warehouse, path, value):
    batch = a_batch(agent["agent_id"], f"fuzz-{next(FUZZ_IDS)}")
    target = batch
    for key in path[:-1]:  # walk as far as the path exists, then overwrite one value
        if isinstance(target, dict) and key in target:
            target = target[key]
        elif isinstance(target, list) and isinstance(key, int) and key < len(target):
            target = target[key]
    last = path[-1]
    if isinstance(target, dict) and isinstance(last, str):
        target[last] = value
    elif isinstance(target, list) and isinstance(last, int) and last < len(target):
        target[last] = value
    r = post(server, agent["api_key"], batch)
    assert r.status_code < 500, r.text
    stored = batch_rows(warehouse, agent["agent_id"], str(batch.get("batch_id")))
    if r.status_code == 200 and not r.json()["duplicate"]:
        assert stored == {f"telemetry_{k}": v for k, v in r.json()["records"].items()}
    elif r.status_code != 200:
        assert rows(warehouse, "SELECT count(*) FROM raw.telemetry_batches WHERE agent_id = %s AND batch_id = %s",
                    agent["agent_id"], str(batch.get("batch_id"))) == [(0,)] or r.status_code == 409


@pytest.mark.parametrize("script", ["openfinops-server", "openfinops-dashboard"])
def test_the_console_scripts_start_the_server(script, warehouse):
    """The installed commands, as the original documents them: `openfinops-dashboard --host H --port P`."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    port = free_port()
    command = Path(sys.executable).parent / script
    assert command.is_file(), f"{command}: the project is not installed (scripts/setup_venvs.sh installs it)"
    env = {**os.environ, "OPENFINOPS_WAREHOUSE_URL": warehouse}
    proc = subprocess.Popen([str(command), "--host", "127.0.0.1", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                r = requests.get(f"http://127.0.0.1:{port}/api/health", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the server did not answer within 60 s"
                time.sleep(0.2)
        assert r.status_code == 200 and r.json()["status"] == "healthy"
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    assert "Starting OpenFinOps server" in output and f"Port: {port}" in output
    assert warehouse.split("@")[0].split(":")[-1] not in output  # the warehouse password is never printed
