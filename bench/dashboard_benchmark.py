#!/usr/bin/env python
"""Dashboard benchmark: every chart-data request of each dashboard, as a logged-in role user, against the same SQL
run directly on PostgreSQL (the read-only role) in the same run.

    make bench-dashboards                 # against the running `make demo` (Superset :8088, demo users)
    python bench/dashboard_benchmark.py --rounds 20 --concurrency 6

One round of a dashboard = all its chart-data requests (the chart's stored query_context with the dashboard's id, as
the dashboard page sends them), issued `--concurrency` at a time like a browser (6 connections per host); the round's
wall time is what a user waits for the whole dashboard. The baseline round runs the SQL Superset generated for each
chart (result_type "query") with psycopg as the reader role, at the same concurrency. Printed: p50 / p95 per chart
and per dashboard, and the Superset / bare SQL ratio. Superset's data cache is off (superset_config.py), so every
request reaches PostgreSQL. Nothing is asserted: figures go to bench/README.md.
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


def superset_round(dash: Dashboard, sessions: list[requests.Session], pool: ThreadPoolExecutor) -> tuple[float, dict]:
    def one(item: tuple[int, str]) -> tuple[str, float]:
        i, name = item
        t0 = time.perf_counter()
        resp = sessions[i % len(sessions)].post(f"{dash.client.url}/api/v1/chart/data", json=dash.charts[name],
                                                timeout=120)
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
    print(f"{'dashboard':<16}{'user':<16}{'charts':>7}{'Superset p50':>14}{'p95':>9}{'SQL p50':>10}{'p95':>9}"
          f"{'ratio p50':>11}{'slowest chart p95':>40}")
    worst = 0.0
    with ThreadPoolExecutor(args.concurrency) as pool:
        conns = [psycopg.connect(args.reader_url, autocommit=True) for _ in range(args.concurrency)]
        try:
            for slug in slugs:
                user = DASHBOARD_USER.get(slug, "analyst")
                client = SupersetClient(args.url, timeout=120).login(user, users[user]["password"])
                dash = Dashboard(client, slug)
                sessions = [session_like(client) for _ in range(args.concurrency)]
                walls, sql_walls = [], []
                per_chart: dict[str, list[float]] = {n: [] for n in dash.charts}
                sql_chart: dict[str, list[float]] = {n: [] for n in dash.charts}
                for r in range(args.warmup + args.rounds):
                    wall, times = superset_round(dash, sessions, pool)
                    swall, stimes = sql_round(dash, conns, pool)
                    if r < args.warmup:
                        continue
                    walls.append(wall)
                    sql_walls.append(swall)
                    for n, t in times.items():
                        per_chart[n].append(t)
                    for n, t in stimes.items():
                        sql_chart[n].append(t)
                slowest = max(per_chart, key=lambda n: pct(per_chart[n], 0.95))
                worst = max(worst, pct(walls, 0.95))
                print(f"{slug:<16}{user:<16}{len(dash.charts):>7}{pct(walls, .5) * 1000:>11.0f} ms"
                      f"{pct(walls, .95) * 1000:>6.0f} ms{pct(sql_walls, .5) * 1000:>7.0f} ms"
                      f"{pct(sql_walls, .95) * 1000:>6.0f} ms"
                      f"{statistics.median(walls) / statistics.median(sql_walls):>10.1f}x"
                      f"   {slowest[:24]:>24} {pct(per_chart[slowest], .95) * 1000:.0f} ms")
                if args.per_chart:
                    for n in dash.charts:
                        print(f"    {n[:48]:<50} Superset p50 {pct(per_chart[n], .5) * 1000:6.0f} ms  p95 "
                              f"{pct(per_chart[n], .95) * 1000:6.0f} ms   SQL p50 "
                              f"{pct(sql_chart[n], .5) * 1000:6.1f} ms  p95 {pct(sql_chart[n], .95) * 1000:6.1f} ms")
        finally:
            for c in conns:
                c.close()
    print(f"worst dashboard p95: {worst * 1000:.0f} ms (target < 1000 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
