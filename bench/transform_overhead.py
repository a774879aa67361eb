"""Transform DAG wall time against a bare ``dbt build`` of the same project on the same warehouse, in the same run.

Needs the running embedded stack (``make demo``). For each round: ``dbt build`` run directly (one process, no
Airflow), then one ``transform`` DAG run triggered through Airflow's REST API and waited for. Prints the DAG run's wall
time against the ``dbt build`` inside it (the producer task's dbt process, from its log: the target) and against the
bare build, and where the run's time went (before the producer, the producer task, the node tasks that finish after
it, what ends after the last node task).

    python bench/transform_overhead.py --rounds 2 --password-file .openfinops/credentials/airflow_passwords.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from demo_run import Api  # noqa: E402

from openfinops.warehouse import DBT_PROJECT_DIR, dbt_env, dbt_executable  # noqa: E402


def bare_dbt_build() -> float:
    env = {**os.environ, **dbt_env()}
    started = time.perf_counter()
    done = subprocess.run([dbt_executable(), "build", "--quiet", "--target-path", "/tmp/openfinops-bench-dbt-target"],
                          cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"dbt build failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return time.perf_counter() - started


def ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def task_instances(api: Api, run_id: str) -> list[dict]:
    out, offset = [], 0
    while True:
        page = api.get(f"/api/v2/dags/transform/dagRuns/{run_id}/taskInstances?limit=100&offset={offset}")
        out += page["task_instances"]
        offset += 100
        if offset >= page["total_entries"]:
            return out


def dbt_build_seconds(api: Api, run_id: str) -> float:
    """The producer's own `dbt build`: from Cosmos' "Running command" line to dbt's final "Done." line."""
    log = api.get(f"/api/v2/dags/transform/dagRuns/{run_id}/taskInstances/dbt.dbt_producer_watcher/logs/1"
                  "?full_content=true")["content"]
    started = next(ts(e["timestamp"]) for e in log if str(e.get("event", "")).startswith("Running command"))
    done = next(ts(e["timestamp"]) for e in log if "Done. PASS=" in str(e.get("event", "")))
    return (done - started).total_seconds()


def dag_run(api: Api, stamp: str) -> dict:
    run_id = f"bench_transform__{stamp}"
    api.post("/api/v2/dags/transform/dagRuns", {"dag_run_id": run_id, "logical_date": None})
    while True:
        run = api.get(f"/api/v2/dags/transform/dagRuns/{run_id}")
        if run["state"] in ("success", "failed"):
            break
        time.sleep(2)
    if run["state"] != "success":
        raise SystemExit(f"transform run {run_id} failed")
    tis = {t["task_id"]: t for t in task_instances(api, run_id)}
    start, end = ts(run["start_date"]), ts(run["end_date"])
    producer = tis["dbt.dbt_producer_watcher"]
    p_start, p_end = ts(producer["start_date"]), ts(producer["end_date"])
    dbt_build = dbt_build_seconds(api, run_id)
    nodes_end = max(ts(t["end_date"]) for k, t in tis.items() if k.startswith("dbt.") and t["end_date"])
    return {"run_id": run_id, "wall": (end - start).total_seconds(), "tasks": len(tis), "dbt_build": dbt_build,
            "before_producer": (p_start - start).total_seconds(), "producer": (p_end - p_start).total_seconds(),
            "nodes_after_producer": max(0.0, (nodes_end - p_end).total_seconds()),
            "after_dbt": max(0.0, (end - nodes_end).total_seconds())}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password-file", required=True)
    args = parser.parse_args()
    api = Api(args.user, json.load(open(args.password_file))[args.user])
    api.patch("/api/v2/dags/transform", {"is_paused": False})
    rows = []
    for i in range(args.rounds):
        bare = bare_dbt_build()
        run = dag_run(api, f"{datetime.now(UTC):%Y%m%dT%H%M%S}_{i}")
        rows.append((bare, run))
        print(f"round {i + 1}: transform DAG {run['wall']:.1f} s ({run['tasks']} tasks) | its dbt build "
              f"{run['dbt_build']:.1f} s = {run['wall'] / run['dbt_build']:.2f}x | bare dbt build {bare:.1f} s = "
              f"{run['wall'] / bare:.2f}x | before the producer {run['before_producer']:.1f} s, producer task "
              f"{run['producer']:.1f} s, node tasks after it {run['nodes_after_producer']:.1f} s, "
              f"after the last node task {run['after_dbt']:.1f} s", flush=True)
    own = statistics.median(run["wall"] / run["dbt_build"] for _, run in rows)
    bare = statistics.median(run["wall"] / bare for bare, run in rows)
    print(f"median transform DAG / its dbt build: {own:.2f}x (target <= 1.5x); / a bare dbt build: {bare:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
