"""The telemetry agents (agents/) against the REAL ingest server and a fresh PostgreSQL database.

Shown here: an agent registers once and reuses its key across restarts (and re-registers its own id when the key was
rotated); the documented GenericTelemetryAgent example lands in raw.telemetry_metrics digit for digit; the server
SIGKILLed while an agent pushes a stream of batches loses nothing and stores nothing twice (every batch the agent saw
acknowledged was committed; after the restart the spool delivers the rest, each batch exactly once); a batch the
server refuses (422) goes to rejected/ and later batches go on; the AWS agent runs the Cost Explorer collector
against moto and pushes cost records whose Decimal sum is the fixture's, and a re-run stores nothing new; the
command line with the original telemetry.yaml (``${ENV}``) and ``--once`` works and keeps secrets out of its
output."""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import stat
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
import requests

from agents.aws_telemetry_agent import AWSTelemetryAgent
from agents.base import TelemetryAgent
from agents.generic_telemetry_agent import GenericTelemetryAgent
from tests.fakes.moto_server import CREDENTIALS, MotoServer
from tests.servers import Server, free_port

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "agents-admin-token-9c1e"
CE_RESULTS = "/moto-api/static/ce/cost-and-usage-results"
AWS_SECRET = "agentSECRETkeyNeverLogged/K7MDENG+bPxRfiCY"


@pytest.fixture(scope="module")
def warehouse():
    from tests.conftest import create_database, drop_database

    url = create_database("ofo_agents")
    yield url
    drop_database(url)


@pytest.fixture(scope="module")
def server(warehouse):
    s = Server(warehouse_url=warehouse, admin_token=ADMIN)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def moto():
    with MotoServer() as m:
        yield m


def rows(url: str, sql: str, *params) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def test_registers_once_and_reuses_its_key_across_restarts(server, warehouse, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    spool = tmp_path / "spool"
    first = GenericTelemetryAgent(server.url, admin_token=ADMIN, spool_dir=spool, agent_type="restart_test")
    assert first.register_agent()
    state_file = spool / "agent.json"
    state = json.loads(state_file.read_text())
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600 and state["agent_id"] == first.agent_id
    assert first.push_metrics({"queue_depth": 1})

    # a restart: a new process with the same spool reuses the key and does not register again
    second = GenericTelemetryAgent(server.url, admin_token=ADMIN, spool_dir=spool, agent_type="restart_test")
    assert second.agent_id == first.agent_id and second.register_agent()
    assert second.push_metrics({"queue_depth": 2})
    assert rows(warehouse, "SELECT count(*), count(key_rotated_at) FROM raw.telemetry_agents "
                           "WHERE agent_type = 'restart_test'") == [(1, 0)]

    # the key rotated elsewhere (401): the agent re-registers ITS id (spooled batches stay valid) and delivers
    r = requests.post(f"{server.url}/api/v1/agents/register", json={"agent_id": first.agent_id},
                      headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
    assert r.status_code == 201
    third = GenericTelemetryAgent(server.url, admin_token=ADMIN, spool_dir=spool, agent_type="restart_test")
    assert third.push_metrics({"queue_depth": 3})
    assert json.loads(state_file.read_text())["agent_id"] == first.agent_id
    assert rows(warehouse, "SELECT metric_value FROM raw.telemetry_metrics WHERE _agent_id = %s ORDER BY 1",
                first.agent_id) == [(Decimal(1),), (Decimal(2),), (Decimal(3),)]
    keys = [state["api_key"], json.loads(state_file.read_text())["api_key"], r.json()["api_key"]]
    for secret in (*keys, ADMIN):
        assert secret not in caplog.text and secret not in repr(third)


def test_the_documented_generic_agent_example(server, warehouse, tmp_path):
    registered = requests.post(f"{server.url}/api/v1/agents/register", json={"agent_type": "generic"},
                               headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10).json()
    now = datetime.now()  # naive local time, as in the documentation

    # --- the documentation's example, with this server's URL and key ---
    agent = GenericTelemetryAgent(endpoint=f"{server.url}/api/v1/metrics", api_key=registered["api_key"],
                                  spool_dir=tmp_path / "spool")

    def collect_custom_metrics():
        return {'metric1': 123.45, 'metric2': 678.90, 'timestamp': now}

    agent.register_metric_collector('custom_source', collect_custom_metrics)
    metrics = agent.collect_metrics()
    assert metrics == agent.collect_metrics(source_name='custom_source') == {'custom_source': collect_custom_metrics()}
    assert agent.push_metrics(metrics)
    assert agent.push_metrics({'gpu_utilization': 85.5, 'training_loss': 0.245, 'cost_per_hour': 3.50},
                              destination='openfinops')
    # ---
    with pytest.raises(ValueError):
        agent.push_metrics({'x': 1}, destination='prometheus')
    assert agent.agent_id == registered["agent_id"]  # found from the key alone
    stored = rows(warehouse, "SELECT metric_name, metric_value, labels, observed_at FROM raw.telemetry_metrics "
                             "WHERE _agent_id = %s ORDER BY metric_name", registered["agent_id"])
    assert [(n, v, labels) for n, v, labels, _ in stored] == [
        ("cost_per_hour", Decimal("3.5"), {"source": "default"}),
        ("gpu_utilization", Decimal("85.5"), {"source": "default"}),
        ("metric1", Decimal("123.45"), {"source": "custom_source"}),
        ("metric2", Decimal("678.9"), {"source": "custom_source"}),
        ("training_loss", Decimal("0.245"), {"source": "default"}),
    ]
    assert {at for n, _, _, at in stored if n.startswith("metric")} == {now.astimezone(UTC)}
    assert not agent.spool.pending()


def _start_server(warehouse: str, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "OPENFINOPS_WAREHOUSE_URL": warehouse, "OPENFINOPS_SERVER_ADMIN_TOKEN": ADMIN,
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "openfinops.server.cli", "--host", "127.0.0.1", "--port", str(port),
                             "--log-level", "warning"], env=env, cwd=ROOT, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            if requests.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return proc
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.1)


def test_server_killed_while_an_agent_pushes_loses_nothing_and_stores_nothing_twice(warehouse, tmp_path):
    port, log = free_port(), tmp_path / "server.log"
    proc = _start_server(warehouse, port, log)
    agent = GenericTelemetryAgent(f"http://127.0.0.1:{port}", admin_token=ADMIN, spool_dir=tmp_path / "spool",
                                  agent_type="crash_test", timeout=5)
    assert agent.register_agent()
    n, kill_at, per = 80, 25, 300  # a few hundred records per batch: the kill lands inside a request
    acked: set[str] = set()
    rng = random.Random(13)

    def kill() -> None:
        time.sleep(rng.uniform(0, 0.05))
        proc.send_signal(signal.SIGKILL)

    try:
        for i in range(n):
            if i == kill_at:
                threading.Thread(target=kill).start()
            batch = {"batch_id": f"stream-{i:03d}", "metrics": [
                {"timestamp": 1796292000 + i, "name": f"m{k}", "value": Decimal(f"{i}.{k}01")} for k in range(per)]}
            agent.spool_batch(batch)  # what push() does: spool, then flush (oldest first)
            if i == 0:
                first_body = agent.spool.find("stream-000").read_bytes()
            acked.update(agent.flush().delivered)
        proc.wait(10)
        # the server is dead: every batch it acknowledged was committed before the answer
        stored_at_crash = {b for (b,) in rows(warehouse, "SELECT batch_id FROM raw.telemetry_batches "
                                                         "WHERE agent_id = %s", agent.agent_id)}
        assert kill_at // 2 < len(acked) < n and acked <= stored_at_crash
        assert len(agent.spool.pending()) == n - len(acked)  # the rest waits on disk (some committed, unanswered)

        proc = _start_server(warehouse, port, log)
        # and the agent killed after a commit, before it deleted the file: the same body is sent again
        (agent.spool.outbox / "00000000000000000000-000000-replayed.json").write_bytes(first_body)
        deadline = time.monotonic() + 20
        while agent.spool.pending():
            assert time.monotonic() < deadline, "the spool was not delivered"
            agent.flush()
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)
    per_batch = dict(rows(warehouse, """
        SELECT b.batch_id, (SELECT count(*) FROM raw.telemetry_metrics m
                            WHERE m._agent_id = b.agent_id AND m._batch_id = b.batch_id)
        FROM raw.telemetry_batches b WHERE b.agent_id = %s""", agent.agent_id))
    assert per_batch == {f"stream-{i:03d}": per for i in range(n)}  # each batch once, none missing, none doubled
    total = rows(warehouse, "SELECT sum(metric_value) FROM raw.telemetry_metrics WHERE _agent_id = %s",
                 agent.agent_id)[0][0]
    assert total == sum(Decimal(f"{i}.{k}01") for i in range(n) for k in range(per))
    assert not list(agent.spool.rejected.iterdir())
    print(f"\n[crash] {len(acked)} of {n} acknowledged before the kill (the next one was in flight), "
          f"{len(stored_at_crash)} committed; "
          f"{n - len(stored_at_crash)} delivered from the spool after the restart")


def test_a_refused_batch_goes_to_rejected_and_later_batches_go_on(server, warehouse, tmp_path, caplog):
    caplog.set_level(logging.ERROR, logger="agents")
    agent = TelemetryAgent(server.url, admin_token=ADMIN, spool_dir=tmp_path / "spool", agent_type="reject_test")
    cost = {"timestamp": date(2026, 11, 1), "provider": "OnPrem", "service": "GPU hosting", "cost": Decimal("12.50")}
    agent.spool_batch({"cost_records": [{**cost, "currency": "eur"}]}, "bad-1")  # currency must be ISO upper case
    agent.spool_batch({"cost_records": [{**cost, "currency": "EUR"}]}, "good-1")
    result = agent.flush()
    assert (result.rejected, result.delivered, result.pending) == (["bad-1"], ["good-1"], 0)
    assert "HTTP 422" in caplog.text and "cost_records[0].currency" in caplog.text
    [rejected] = [p for p in agent.spool.rejected.iterdir() if not p.name.endswith(".error.json")]
    error = json.loads(rejected.with_name(rejected.name[:-5] + ".error.json").read_text())
    assert error["status"] == 422 and error["answer"]["field"] == "cost_records[0].currency"
    assert json.loads(rejected.read_text())["batch_id"] == "bad-1"
    assert rows(warehouse, "SELECT _batch_id, cost, currency FROM raw.telemetry_cost_records WHERE _agent_id = %s",
                agent.agent_id) == [("good-1", Decimal("12.50"), "EUR")]
    assert agent.push({"metrics": [{"timestamp": 0, "name": "after", "value": 1}]})  # not blocked: never retried
    assert not agent.spool.pending()


# -- AWS: the Cost Explorer collector against moto ---------------------------------------------------------------------
ACCOUNTS = {"111111111111": "prod-platform", "222222222222": "sandbox"}
SERVICES = ("Amazon Elastic Compute Cloud - Compute", "Amazon Simple Storage Service", "AWS Lambda")
DAYS = ("2026-11-01", "2026-11-02", "2026-11-03")


def ce_pages() -> list[dict]:
    """GetCostAndUsage answers (LINKED_ACCOUNT x SERVICE, daily) over two pages, with a credit (negative)."""
    rng = random.Random(20261104)

    def group(account: str, service: str, negative: bool) -> dict:
        amount = f"{'-' if negative else ''}{Decimal(rng.randint(10**9, 9 * 10**11)).scaleb(-10):.10f}"
        return {"Keys": [account, service], "Metrics": {
            "UnblendedCost": {"Amount": amount, "Unit": "USD"}, "AmortizedCost": {"Amount": amount, "Unit": "USD"},
            "NetAmortizedCost": {"Amount": amount, "Unit": "USD"},
            "UsageQuantity": {"Amount": f"{rng.randint(1, 10**6)}.5", "Unit": "N/A"}}}

    results = [{"TimePeriod": {"Start": d, "End": str(date.fromisoformat(d) + timedelta(days=1))}, "Total": {},
                "Estimated": d == DAYS[-1],
                "Groups": [group(a, s, (d, s) == (DAYS[1], "AWS Lambda")) for a in ACCOUNTS for s in SERVICES]}
               for d in DAYS]
    definitions = [{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}, {"Type": "DIMENSION", "Key": "SERVICE"}]
    names = [{"Value": a, "Attributes": {"description": n}} for a, n in ACCOUNTS.items()]
    return [{"GroupDefinitions": definitions, "ResultsByTime": results[:2], "DimensionValueAttributes": names,
             "NextPageToken": "cGFnZS0y"},
            {"GroupDefinitions": definitions, "ResultsByTime": results[2:], "DimensionValueAttributes": names}]


def fixture_total(pages: list[dict]) -> tuple[Decimal, int]:
    amounts = [Decimal(g["Metrics"]["UnblendedCost"]["Amount"]) for p in pages for r in p["ResultsByTime"]
               for g in r["Groups"]]
    return sum(amounts, Decimal(0)), len(amounts)


def costs(warehouse: str, agent_id: str) -> tuple[Decimal, int]:
    return rows(warehouse, "SELECT sum(cost), count(*) FROM raw.telemetry_cost_records WHERE _agent_id = %s",
                agent_id)[0]


def test_the_aws_agent_pushes_cost_explorer_costs_exactly(server, warehouse, moto, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    pages = ce_pages()
    moto.reset()
    assert moto.post(CE_RESULTS, {"results": pages}) == 201
    agent = AWSTelemetryAgent(openfinops_endpoint=server.url, aws_region="us-west-2", endpoint_url=moto.url,
                              aws_access_key_id=CREDENTIALS["aws_access_key_id"], aws_secret_access_key=AWS_SECRET,
                              admin_token=ADMIN, spool_dir=tmp_path / "spool",
                              now=lambda: datetime(2026, 11, 4, 6, 30, tzinfo=UTC))
    assert agent.register_agent()
    first = agent.run_once()
    assert first.ok and len(first.delivered) == 1
    expected_sum, expected_rows = fixture_total(pages)
    assert costs(warehouse, agent.agent_id) == (expected_sum, expected_rows) and expected_sum.as_tuple().exponent == -10
    by_day = rows(warehouse, """SELECT charge_period_start, charge_period_end, provider_name, currency,
                                       count(*), sum(cost), bool_or(cost < 0), bool_and((tags->>'estimated')::bool)
                                FROM raw.telemetry_cost_records WHERE _agent_id = %s GROUP BY 1, 2, 3, 4 ORDER BY 1""",
                  agent.agent_id)
    assert [(str(r[0].date()), (r[1] - r[0]).days, r[2], r[3], r[4]) for r in by_day] == [
        (d, 1, "AWS", "USD", 6) for d in DAYS]
    assert [r[6] for r in by_day] == [False, True, False] and [r[7] for r in by_day] == [False, False, True]
    accounts = rows(warehouse, "SELECT DISTINCT account_id, tags->>'account_name' FROM raw.telemetry_cost_records "
                               "WHERE _agent_id = %s", agent.agent_id)
    assert set(accounts) == set(ACCOUNTS.items())
    # the same window again (Cost Explorer unchanged): the same batch id, stored once
    again = agent.run_once()
    assert again.ok and again.delivered == first.delivered
    assert costs(warehouse, agent.agent_id) == (expected_sum, expected_rows)
    assert AWS_SECRET not in caplog.text


def test_the_command_line_once_with_the_original_config_file(server, warehouse, moto, tmp_path):
    pages = ce_pages()
    moto.reset()
    assert moto.post(CE_RESULTS, {"results": pages}) == 201
    config = tmp_path / "telemetry.yaml"
    config.write_text(f"""
aws:
  enabled: true
  access_key_id: ${{TEST_AGENT_AWS_KEY}}
  secret_access_key: ${{TEST_AGENT_AWS_SECRET}}
  region: us-west-2
  collection_interval: 300
openfinops:
  endpoint: {server.url}/api/v1/metrics
  api_key: ${{TEST_AGENT_UNSET_KEY}}
""")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENFINOPS_SERVER_ADMIN_TOKEN": ADMIN,
           "TEST_AGENT_AWS_KEY": CREDENTIALS["aws_access_key_id"], "TEST_AGENT_AWS_SECRET": AWS_SECRET,
           "AWS_ENDPOINT_URL": moto.url}
    env.pop("TEST_AGENT_UNSET_KEY", None)
    spool = tmp_path / "spool"
    command = [sys.executable, "-m", "agents.aws_telemetry_agent", "--config", str(config), "--once",
               "--spool-dir", str(spool), "--log-level", "DEBUG"]
    outputs = []
    for _ in range(2):  # the second run reuses the registration
        proc = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
        outputs.append(proc.stdout + proc.stderr)
        assert proc.returncode == 0, outputs[-1]
        assert "1 batch(es) delivered, 0 rejected, 0 waiting" in proc.stderr
    state = json.loads((spool / "agent.json").read_text())
    assert costs(warehouse, state["agent_id"]) == fixture_total(pages)
    assert rows(warehouse, "SELECT count(*), count(key_rotated_at) FROM raw.telemetry_agents WHERE agent_id = %s",
                state["agent_id"]) == [(1, 0)]
    for text in outputs:
        assert AWS_SECRET not in text and ADMIN not in text and state["api_key"] not in text
    bad = subprocess.run([sys.executable, "-m", "agents.aws_telemetry_agent", "--once"], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--openfinops-endpoint" in bad.stderr
    # the original Docker example: no arguments at all, config/telemetry.yaml of the working directory
    workdir = tmp_path / "app"
    (workdir / "config").mkdir(parents=True)
    (workdir / "config" / "telemetry.yaml").write_text(config.read_text())
    bare = subprocess.run([sys.executable, "-m", "agents.aws_telemetry_agent", "--once", "--spool-dir", str(spool)],
                          env=env, cwd=workdir, capture_output=True, text=True, timeout=60)
    assert bare.returncode == 0, bare.stderr
    assert "reading config/telemetry.yaml" in bare.stderr and "1 batch(es) delivered, 0 rejected" in bare.stderr
    assert costs(warehouse, state["agent_id"]) == fixture_total(pages)  # the same window again: stored once
