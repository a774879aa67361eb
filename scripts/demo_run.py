"""Drive the running Airflow through its REST API: load N days for every collect DAG (one run each, window given
as params), then wait for the load cycle's one Asset-triggered transform run and report it.
Standard library only; prints progress.

    python scripts/demo_run.py --days 90
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

BASE = f"http://127.0.0.1:{os.environ.get('AIRFLOW__API__PORT', '8080')}"
FOLD_IN = "fold_in_telemetry"


class Api:
    def __init__(self, user: str, password: str) -> None:
        self.token = self._call("POST", "/auth/token", {"username": user, "password": password},
                                auth=False)["access_token"]

    def _call(self, method: str, path: str, body: dict | None = None, auth: bool = True) -> dict:
        req = urllib.request.Request(BASE + path, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json"})
        if auth:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise SystemExit(f"Airflow API {method} {path} -> HTTP {exc.code}: {exc.read()[:500]!r}") from None

    def get(self, path: str) -> dict:
        return self._call("GET", path)

    def post(self, path: str, body: dict) -> dict:
        return self._call("POST", path, body)

    def patch(self, path: str, body: dict) -> dict:
        return self._call("PATCH", path, body)


def wait_for_dags(api: Api, expected: set[str], timeout: int = 300) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        present = {d["dag_id"] for d in api.get("/api/v2/dags?limit=200")["dags"]}
        if expected <= present:
            return
        time.sleep(3)
    raise SystemExit(f"DAGs not visible in Airflow after {timeout}s: {sorted(expected - present)}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password-file", required=True)
    parser.add_argument("--timeout", type=int, default=1800)
    args = parser.parse_args()
    password = json.load(open(args.password_file))[args.user]
    api = Api(args.user, password)

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from openfinops.config import load_config

    sources = [s.id for s in load_config().sources]
    collect_dags = [f"collect_{s}" for s in sources]
    wait_for_dags(api, set(collect_dags) | {"transform", FOLD_IN})

    end = datetime.now(UTC).date()
    start = end - timedelta(days=args.days)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    print(f"loading {start} .. {end} (end exclusive) through {len(collect_dags)} collect DAGs", flush=True)
    triggered_at = datetime.now(UTC).isoformat()
    runs = {}
    # The runs are created first (a paused DAG queues them), then every DAG is unpaused: the loads, and the
    # scheduled run of the latest interval each collect DAG gets at unpause, are all in flight together, so the last
    # of them closes one load cycle and the transform runs once (openfinops/load_cycle.py). What the demo's clusters
    # pushed to the ingest server before is folded in by that transform (demo.sh left those batches to it).
    for dag_id in collect_dags:
        run = api.post(f"/api/v2/dags/{dag_id}/dagRuns", {
            "dag_run_id": f"demo_load__{start}_{end}__{stamp}", "logical_date": None,
            "conf": {"start": start.isoformat(), "end": end.isoformat()}})
        runs[dag_id] = run["dag_run_id"]
    for dag_id in ["transform", *collect_dags, FOLD_IN]:
        api.patch(f"/api/v2/dags/{dag_id}", {"is_paused": False})
    deadline = time.time() + args.timeout
    pending = dict(runs)
    while pending:
        if time.time() > deadline:
            raise SystemExit(f"collect runs not finished after {args.timeout}s: {sorted(pending)}")
        for dag_id, run_id in list(pending.items()):
            run = api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            if run["state"] == "success":
                print(f"  {dag_id}: success", flush=True)
                del pending[dag_id]
            elif run["state"] == "failed":
                raise SystemExit(f"{dag_id} run {run_id} failed: see the Airflow UI ({BASE}/dags/{dag_id})")
        time.sleep(3)

    print("waiting for the load cycle's transform (Asset-triggered: dbt build via Cosmos, then budget alerts)",
          flush=True)
    while True:
        if time.time() > deadline:
            raise SystemExit(f"transform not finished after {args.timeout}s")
        loading = [d for d in collect_dags
                   if api.get(f"/api/v2/dags/{d}/dagRuns?state=queued&state=running&limit=1")["total_entries"]]
        runs = [r for r in api.get("/api/v2/dags/transform/dagRuns?order_by=-run_after&limit=20")["dag_runs"]
                if (r.get("queued_at") or "") >= triggered_at]
        active = [r for r in runs if r["state"] in ("queued", "running")]
        if not loading and not active and runs:
            failed = [r["dag_run_id"] for r in runs if r["state"] != "success"]
            if failed:
                raise SystemExit(f"transform run(s) {failed} failed: see {BASE}/dags/transform")
            started = min(datetime.fromisoformat(r["start_date"]) for r in runs)
            ended = max(datetime.fromisoformat(r["end_date"]) for r in runs)
            names = ", ".join(r["dag_run_id"] for r in runs)
            print(f"  transform: {len(runs)} run(s) for this load cycle ({names}), "
                  f"{(ended - started).total_seconds():.0f} s", flush=True)
            if len(runs) != 1:
                raise SystemExit(f"expected exactly one transform for the load cycle, got {len(runs)}: {names}")
            return 0
        time.sleep(5)


if __name__ == "__main__":
    sys.exit(main())
