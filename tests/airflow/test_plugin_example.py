"""The plug-in example (examples/openfinops-collector-example) end to end, as a user would run it: `pip install`
into a site folder (no network: setuptools from the environment), a config naming its type, the `collect_<id>` DAG
it gets with no change to DAGs, loader or registry (``dag.test`` in a process that has the plug-in on its path),
then `openfinops transform` (sync-config + real `dbt build`) to `marts.fct_cost_daily`.

The vendor is a local HTTP server answering the example API's wire format: the GCP FOCUS 1.2 sample
(../shared/data, 1000 lines of May 2026) as JSON pages of 300 objects with numbers as JSON numbers, a bearer token
checked on every request, a 429 with Retry-After before page 2, and one malformed object (-> raw._rejects).
Expected figures come from pandas reading the sample as strings and summing Decimal."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import psycopg
import pytest
import yaml

from collectors.core.focus_schema import ALL_COLUMNS, DECIMAL
from tests.airflow.conftest import own_airflow_home
from tests.conftest import ROOT, run_cli
from tests.focus_file_expected import SAMPLES, read_strings

EXAMPLE = ROOT / "examples" / "openfinops-collector-example"
TOKEN = "acme-t0ken-never-logged"
PAGE = 300
RUN = """
import sys
from datetime import datetime
from airflow.models.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
run = bag.dags[sys.argv[2]].test(logical_date=datetime.fromisoformat(sys.argv[3]))
print("RESULT", run.state, run.run_id)
"""


def to_json_object(row: pd.Series) -> str:
    """One sample row as the API would send it: money and quantities as JSON numbers (their exact digits), empty
    cells as null, everything else as strings."""
    parts = []
    for name, value in row.items():
        if value == "":
            parts.append(f"{json.dumps(name)}: null")
            continue
        column = ALL_COLUMNS.get(name)
        number = column is not None and column.kind == DECIMAL
        parts.append(f"{json.dumps(name)}: {value if number else json.dumps(value)}")
    return "{" + ", ".join(parts) + "}"


class FocusApi:
    """GET /v1/focus-cost-lines?billing_period=YYYY-MM[&page=n] -> {"data": [...], "next": url|null}."""

    def __init__(self, objects: list[str]) -> None:
        self.pages = [objects[i:i + PAGE] for i in range(0, len(objects), PAGE)]
        self.requests: list[tuple[str, int]] = []
        self.throttled = False
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                page = int(query.get("page", ["1"])[0])
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._send(401, '{"error": "invalid token"}')
                if url.path != "/v1/focus-cost-lines" or "billing_period" not in query:
                    return self._send(404, '{"error": "not found"}')
                api.requests.append((query["billing_period"][0], page))
                if page == 2 and not api.throttled:
                    api.throttled = True
                    return self._send(429, '{"error": "rate limited"}', {"Retry-After": "0"})
                pages = api.pages if query["billing_period"][0] == "2026-05" else [[]]
                data = pages[page - 1]
                following = None if page >= len(pages) else (
                    f"http://127.0.0.1:{api.port}/v1/focus-cost-lines?"
                    f"billing_period={query['billing_period'][0]}&page={page + 1}")
                self._send(200, '{"data": [' + ", ".join(data) + '], "next": ' + json.dumps(following) + "}")

            def _send(self, status: int, body: str, headers: dict | None = None) -> None:
                payload = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site(tmp_path) -> Path:
    target = tmp_path / "site"
    source = tmp_path / "src"  # a copy: building in place would leave build/ and *.egg-info in the repository
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    uv = Path(os.environ.get("OPENFINOPS_VENV_DIR", ROOT / ".venv")) / "uv" / "bin" / "uv"  # the project's installer
    proc = subprocess.run([str(uv), "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--offline",
                           "--python", sys.executable, "--target", str(target), str(source)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return target


def test_the_plugin_example_runs_from_config_through_its_dag_to_the_marts(airflow_db, site, tmp_path, empty_db):
    sample = read_strings(SAMPLES["gcp"])
    objects = [to_json_object(row) for _, row in sample.iterrows()]
    bad = json.loads(objects[400])
    bad["BilledCost"] = "12,50"  # one malformed record among the vendor's
    objects.insert(400, json.dumps(bad))
    api = FocusApi(objects)
    config = tmp_path / "openfinops.yaml"
    config.write_text(yaml.safe_dump({"sources": [{
        "id": "acme-saas", "type": "example_focus_api", "connection_id": "acme_api",
        "options": {"base_url": f"http://127.0.0.1:{api.port}"}}]}))
    env = os.environ | own_airflow_home(tmp_path / "airflow") | {
        "PYTHONPATH": f"{site}{os.pathsep}{ROOT}", "OPENFINOPS_CONFIG": str(config),
        "AIRFLOW_CONN_OPENFINOPS_WAREHOUSE": empty_db, "OPENFINOPS_WAREHOUSE_URL": empty_db,
        "AIRFLOW_CONN_ACME_API": json.dumps({"conn_type": "http", "host": "127.0.0.1", "password": TOKEN})}
    try:
        proc = subprocess.run([sys.executable, "-c", RUN, str(ROOT / "dags"), "collect_acme-saas",
                               "2026-05-21T00:00:00+00:00"], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=600)
    finally:
        api.close()
    output = proc.stdout + proc.stderr
    result = next((line.split() for line in proc.stdout.splitlines() if line.startswith("RESULT")), None)
    assert result and result[1] == "success", output[-6000:]
    assert TOKEN not in output
    # May's pages, all of them, the throttled one retried; then April (close_days: the previous month is re-pulled)
    pages = -(-len(objects) // PAGE)
    assert api.requests[:pages + 1] == [("2026-05", 1), ("2026-05", 2), *[("2026-05", p) for p in range(2, pages + 1)]]

    with psycopg.connect(empty_db) as conn:
        raw = conn.execute("""SELECT count(*), sum(billed_cost), sum(effective_cost), min(_batch_id)
                              FROM raw.focus_cost_line_items WHERE _source_id = 'acme-saas'""").fetchone()
        rejects = conn.execute("SELECT record_ref, field, reason FROM raw._rejects WHERE _source_id = 'acme-saas'"
                               ).fetchall()
        dump = "".join(str(r) for r in conn.execute("SELECT * FROM raw.focus_cost_line_items").fetchall())
    billed = sum(map(Decimal, sample["BilledCost"]), Decimal(0))
    effective = sum(map(Decimal, sample["EffectiveCost"]), Decimal(0))
    assert raw == (len(sample), billed, effective, result[2])
    assert rejects == [(f"http://127.0.0.1:{api.port}/v1/focus-cost-lines?billing_period=2026-05&page=2:101",
                        "BilledCost", "BilledCost: not a decimal number: '12,50'")]
    assert TOKEN not in dump

    run_cli("--config", str(config), "transform", "--select", "+fct_cost_daily", "--indirect-selection", "cautious",
            "--target-path", str(tmp_path / "dbt-target"), url=empty_db,
            extra_env={"PYTHONPATH": f"{site}{os.pathsep}{ROOT}"})
    day = pd.to_datetime(sample["ChargePeriodStart"], utc=True).dt.date
    expected = {d: sum(map(Decimal, g["BilledCost"]), Decimal(0)) for d, g in sample.groupby(day)}
    with psycopg.connect(empty_db) as conn:
        systems = conn.execute("SELECT DISTINCT source_id, source_system FROM intermediate.int_focus_costs").fetchall()
        marts = dict(conn.execute("SELECT charge_date, sum(billed_cost) FROM marts.fct_cost_daily GROUP BY 1"
                                  ).fetchall())
    assert systems == [("acme-saas", "focus_file")]  # the shared FOCUS table: no dbt change for the plug-in
    assert marts == expected
