"""Ingest benchmark: the ingest server under concurrent agents vs a bare COPY of the same records, one run.

    make bench-ingest      (or: bin/openfinops-python bench/ingest_benchmark.py --agents 8 --batches 20)

A real server (uvicorn, ``--workers`` processes) on loopback and a fresh database. Each of ``--agents`` registered
agents POSTs ``--batches`` batches of ``--records`` node-metric records (JSON over HTTP, one connection each, as an
agent does) at the same time; every batch is validated, authenticated and committed before its 200. The baseline is a
bare binary COPY (psycopg ``write_row``) of the same records into the same table by one connection: no HTTP, no JSON,
no validation. Printed: records/s of both, their ratio (target >= 0.3x bare COPY) and the latency p50 / p99 of a
batch POST (target p99 < 250 ms). Nothing here is asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from openfinops.server import store  # noqa: E402
from openfinops.warehouse import warehouse_url  # noqa: E402

ADMIN = "bench-admin-token"


def records(agent: int, batch: int, n: int) -> list[dict]:
    start = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=batch)
    return [{"timestamp": (start + timedelta(seconds=i)).isoformat(), "cluster_id": f"bench-{agent}",
             "node_id": f"node-{i % 64:02d}", "status": "Ready", "cpu_usage": 40 + i % 50, "gpu_usage": 80.5,
             "memory_usage": 61.25, "gpu_memory_used_gb": 70, "gpu_count": 8} for i in range(n)]


def typed_value(value, pg_type: str):
    """A record value as binary COPY needs it (done before the clock starts: the baseline is COPY alone)."""
    if value is None:
        return None
    if pg_type.startswith("timestamptz"):
        return store.to_time(value)
    if pg_type.startswith("numeric"):
        return Decimal(str(value))
    return value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_database(base: str) -> str:
    name = f"ofo_bench_ingest_{os.getpid()}"
    admin = os.environ.get("OPENFINOPS_PG_ADMIN_URL") or base
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        owner = psycopg.conninfo.conninfo_to_dict(base)["user"]
        conn.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
    return base.rsplit("/", 1)[0] + "/" + name


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--batches", type=int, default=20, help="batches per agent")
    parser.add_argument("--records", type=int, default=1000, help="records per batch")
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    parser.add_argument("--warmup", type=int, default=2, help="untimed batches per agent before the timed ones")
    args = parser.parse_args()
    url = fresh_database(warehouse_url())
    with psycopg.connect(url) as conn:
        store.ensure_tables(conn)

    port = free_port()
    env = {**os.environ, "OPENFINOPS_WAREHOUSE_URL": url, "OPENFINOPS_SERVER_ADMIN_TOKEN": ADMIN}
    server = subprocess.Popen([sys.executable, "-m", "openfinops.server.cli", "--port", str(port), "--workers",
                               str(args.workers), "--log-level", "warning"], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not start")
            time.sleep(0.2)
        agents = [requests.post(f"{base}/api/v1/agents/register", json={"agent_type": "bench"}, timeout=10,
                                headers={"Authorization": f"Bearer {ADMIN}"}).json() for _ in range(args.agents)]
        bodies = [[json.dumps({"agent_id": a["agent_id"], "batch_id": f"b{b}",
                               "node_metrics": records(i, b, args.records)}).encode()
                   for b in range(-args.warmup, args.batches)] for i, a in enumerate(agents)]
        sessions = []
        for a in agents:
            sessions.append(requests.Session())
            sessions[-1].headers.update({"Authorization": f"Bearer {a['api_key']}",
                                         "Content-Type": "application/json"})

        def run_agent(i: int, part: slice) -> list[float]:
            session = sessions[i]
            latencies = []
            for body in bodies[i][part]:
                t0 = time.perf_counter()
                r = session.post(f"{base}/api/v1/telemetry/ingest", data=body, timeout=60)
                latencies.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    raise SystemExit(f"agent {i}: HTTP {r.status_code}: {r.text[:300]}")
            return latencies

        with ThreadPoolExecutor(args.agents) as pool:  # warm-up: connections opened, code paths taken; not counted
            list(pool.map(run_agent, range(args.agents), [slice(0, args.warmup)] * args.agents))
            t0 = time.perf_counter()
            timed = pool.map(run_agent, range(args.agents), [slice(args.warmup, None)] * args.agents)
            latencies = [x for agent_latencies in timed for x in agent_latencies]
            server_seconds = time.perf_counter() - t0
    finally:
        server.terminate()
        server.wait(30)

    total = args.agents * args.batches * args.records
    with psycopg.connect(url) as conn:
        stored = conn.execute("SELECT count(*) FROM raw.telemetry_node_metrics").fetchone()[0]
        expected = total + args.agents * args.warmup * args.records
        assert stored == expected, f"stored {stored} of {expected} records"
        # the baseline: the same records, typed, in one binary COPY (no HTTP, JSON or validation)
        table, columns = store.TABLES["node_metrics"]
        names = [c for c, _, _ in columns] + ["_agent_id", "_batch_id", "_record_index", "_received_at"]
        typed = [[typed_value(r.get(f), pg) for _, pg, f in columns] + [a["agent_id"], "copy", k, datetime.now(UTC)]
                 for i, a in enumerate(agents) for b in range(args.batches)
                 for k, r in enumerate(records(i, b, args.records))]
        conn.execute(f"TRUNCATE raw.{table}")
        conn.commit()
        t0 = time.perf_counter()
        with conn.cursor().copy(f"COPY raw.{table} ({', '.join(names)}) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types([pg.split()[0] for _, pg, _ in columns] + ["text", "text", "integer", "timestamptz"])
            for row in typed:
                copy.write_row(row)
        conn.commit()
        copy_seconds = time.perf_counter() - t0

    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"{args.agents} agents x {args.batches} batches x {args.records} node records = {total:,} records, "
          f"server workers {args.workers}")
    print(f"  ingest server : {total / server_seconds:>10,.0f} records/s ({server_seconds:.2f} s)")
    print(f"  bare COPY     : {total / copy_seconds:>10,.0f} records/s ({copy_seconds:.2f} s)")
    print(f"  ratio server / bare COPY: {copy_seconds / server_seconds:.2f}x (target >= 0.3x)")
    print(f"  batch POST latency: p50 {statistics.median(latencies) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms "
          f"(target p99 < 250 ms)")
    with psycopg.connect(os.environ.get("OPENFINOPS_PG_ADMIN_URL") or url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


if __name__ == "__main__":
    main()
