#!/usr/bin/env python
"""Dashboard benchmark: every chart-data request of each dashboard, as a logged-in role user, against the same SQL
run directly on PostgreSQL (the read-only role) in the same run.

    make bench-dashboards                 # against the running `make demo` (Superset :8088, demo users)
    python bench/dashboard_benchmark.py --rounds 20 --concurrency 6

One round of a dashboard = all its chart-data requests (the chart's stored query_context with the dashboard's id, as
the dashboard page sends them), issued `--concurrency` at a time like a browser (6 connections per host); the round's
wall time is what a user waits for the whole dashboard. Each round is run twice: `fresh` with force=true (the data
cache bypassed: every chart queries PostgreSQL - the first open after a transform, a refresh) and `cached` (a second
viewer within the cache window, OPENFINOPS_SUPERSET_DATA_CACHE_SECONDS, 300 s by default: Superset still checks
access and builds the query, then reads the result from its cache). The baseline round runs the SQL Superset
generated for each chart (result_type "query") with psycopg as the reader role, at the same concurrency. Printed:
p50 / p95 per dashboard (and per chart with --per-chart) and the fresh Superset / bare SQL ratio. Nothing is
asserted: figures go to bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "superset"))
from openfinops_superset.client import SupersetClient  # noqa: E402

# The demo user each dashboard is measured as (a user of a role that opens it; `team-payments` has row filters).
DASHBOARD_USER = {"overview": "cfo", "cfo": "cfo", "coo": "coo", "infrastructure": "infrastructure", "ml": "ml",
                  "team": "team-payments"}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def session_like(client: SupersetClient) -> requests.Session:
    """A new HTTP session with the client's login (requests sessions are not shared between threads)."""
    s = requests.Session()
    s.headers.update(client.session.headers)
    s.cookies.update(client.session.cookies)
    return s


class Dashboard:
    def __init__(self, client: SupersetClient, slug: str):
        self.slug = slug
        self.client = client
        dash_id = client.get(f"/api/v1/dashboard/{slug}").json()["result"]["id"]
        self.charts: dict[str, dict] = {}  # name -> query context
        self.sql: dict[str, str] = {}
        for chart in client.get(f"/api/v1/dashboard/{slug}/charts").json()["result"]:
            detail = client.get(f"/api/v1/chart/{chart['id']}").json()["result"]
            qc = json.loads(detail["query_context"])
            qc["form_data"] = {**qc.get("form_data", {}), "slice_id": chart["id"], "dashboardId": dash_id}
            qc["result_type"] = "full"
            self.charts[chart["slice_name"]] = qc
            query = client.post("/api/v1/chart/data", json={**qc, "result_type": "query"}).json()["result"][0]
            self.sql[chart["slice_name"]] = query["query"]


def superset_round(dash: Dashboard, sessions: list[requests.Session], pool: ThreadPoolExecutor,
                   force: bool) -> tuple[float, dict]:
    def one(item: tuple[int, str]) -> tuple[str, float]:
        i, name = item
        t0 = time.perf_counter()
        resp = sessions[i % len(sessions)].post(f"{dash.client.url}/api/v1/chart/data",
                                                json={**dash.charts[name], "force": force}, timeout=120)
        if resp.status_code != 200:
            raise SystemExit(f"{dash.slug}/{name}: HTTP {resp.status_code} {resp.text[:300]}")
        return name, time.perf_counter() - t0

    t0 = time.perf_counter()
    times = dict(pool.map(one, enumerate(dash.charts)))
    return time.perf_counter() - t0, times


def sql_round(dash: Dashboard, conns: list[psycopg.Connection], pool: ThreadPoolExecutor) -> tuple[float, dict]:
    def one(item: tuple[int, str]) -> tuple[str, float]:
        i, name = item
        t0 = time.perf_counter()
        conns[i % len(conns)].execute(dash.sql[name]).fetchall()
        return name, time.perf_counter() - t0

    t0 = time.perf_counter()
    times = dict(pool.map(one, enumerate(dash.sql)))
    return time.perf_counter() - t0, times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default=os.environ.get("SUPERSET_URL", "http://127.0.0.1:8088"))
    ap.add_argument("--users-file", default=os.path.join(os.environ.get("OPENFINOPS_CREDENTIALS_DIR",
                                                                        ROOT / ".openfinops" / "credentials"),
                                                         "superset_users.json"))
    ap.add_argument("--reader-url", default=os.environ.get("OPENFINOPS_READER_URL"))
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=6)
    ap.add_argument("--per-chart", action="store_true", help="also print p50/p95 of every chart")
    args = ap.parse_args()
    if not args.reader_url:
        raise SystemExit("set OPENFINOPS_READER_URL (eval \"$(bash scripts/pg.sh env)\") for the SQL baseline")
    users = json.loads(Path(args.users_file).read_text())["users"]
    slugs = [p.stem for p in sorted((ROOT / "superset" / "bundle" / "dashboards").glob("*.yaml"))]

    print(f"dashboard benchmark: {args.url}, {args.rounds} rounds (+{args.warmup} warm-up), "
          f"{args.concurrency} requests at a time; baseline = the same SQL on PostgreSQL as the reader role")
    print(f"{'dashboard':<16}{'user':<15}{'charts':>6}{'fresh p50':>11}{'p95':>8}{'cached p50':>12}{'p95':>8}"
          f"{'SQL p50':>9}{'p95':>7}{'fresh/SQL':>10}   slowest chart (fresh p95)")
    worst = {"fresh": 0.0, "cached": 0.0}
    with ThreadPoolExecutor(args.concurrency) as pool:
        conns = [psycopg.connect(args.reader_url, autocommit=True) for _ in range(args.concurrency)]
        try:
            for slug in slugs:
                user = DASHBOARD_USER.get(slug, "analyst")
                client = SupersetClient(args.url, timeout=120).login(user, users[user]["password"])
                dash = Dashboard(client, slug)
                sessions = [session_like(client) for _ in range(args.concurrency)]
                walls: dict[str, list[float]] = {"fresh": [], "cached": [], "sql": []}
                per_chart: dict[str, dict[str, list[float]]] = {k: {n: [] for n in dash.charts} for k in walls}
                for r in range(args.warmup + args.rounds):
                    measured = {"fresh": superset_round(dash, sessions, pool, force=True),
                                "cached": superset_round(dash, sessions, pool, force=False),
                                "sql": sql_round(dash, conns, pool)}
                    if r < args.warmup:
                        continue
                    for kind, (wall, times) in measured.items():
                        walls[kind].append(wall)
                        for n, t in times.items():
                            per_chart[kind][n].append(t)
                slowest = max(dash.charts, key=lambda n: pct(per_chart["fresh"][n], 0.95))
                worst = {k: max(v, pct(walls[k], 0.95)) for k, v in worst.items()}
                ms = {k: (pct(v, .5) * 1000, pct(v, .95) * 1000) for k, v in walls.items()}
                print(f"{slug:<16}{user:<15}{len(dash.charts):>6}{ms['fresh'][0]:>8.0f} ms{ms['fresh'][1]:>5.0f} ms"
                      f"{ms['cached'][0]:>9.0f} ms{ms['cached'][1]:>5.0f} ms{ms['sql'][0]:>6.0f} ms"
                      f"{ms['sql'][1]:>4.0f} ms"
                      f"{statistics.median(walls['fresh']) / statistics.median(walls['sql']):>9.1f}x"
                      f"   {slowest[:26]} {pct(per_chart['fresh'][slowest], .95) * 1000:.0f} ms")
                if args.per_chart:
                    for n in dash.charts:
                        f, c, q = (per_chart[k][n] for k in ("fresh", "cached", "sql"))
                        print(f"    {n[:48]:<50} fresh p50 {pct(f, .5) * 1000:5.0f} ms p95 {pct(f, .95) * 1000:5.0f} ms"
                              f"   cached p50 {pct(c, .5) * 1000:5.0f} ms   SQL p50 {pct(q, .5) * 1000:6.1f} ms")
        finally:
            for c in conns:
                c.close()
    print(f"worst dashboard p95: fresh {worst['fresh'] * 1000:.0f} ms, cached {worst['cached'] * 1000:.0f} ms "
          "(target < 1000 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
