"""SaaS sources from a config file through their real collect DAG (``dag.test`` in a process of its own, with the
Airflow connection from the environment) and `openfinops transform` (sync-config + real `dbt build`) into
`marts.fct_cost_daily`, against local fakes of the vendors in their wire format. Expected figures are Decimal
sums of the fixture JSON, read here (never by the collector)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from datetime import date
from decimal import Decimal

import psycopg
import yaml

from tests.airflow.conftest import own_airflow_home
from tests.conftest import ROOT, run_cli
from tests.fakes.github_api import BAD, COPILOT, MACOS, TOKEN, GithubApi, vendor_items

RUN = """
import sys
from datetime import datetime
from airflow.models.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
run = bag.dags[sys.argv[2]].test(logical_date=datetime.fromisoformat(sys.argv[3]))
print("RESULT", run.state, run.run_id)
"""


def test_github_billing_runs_through_its_dag_and_dbt_to_fct_cost_daily(airflow_db, tmp_path, empty_db):
    items = [*vendor_items(), COPILOT, MACOS, BAD]
    with GithubApi(TOKEN, "GitHub") as api:
        api.months[(2023, 8)] = items
        config = tmp_path / "openfinops.yaml"
        config.write_text(yaml.safe_dump({"sources": [{
            "id": "github-org", "type": "github_billing", "connection_id": "github_billing", "start_date": "2023-01-01",
            "max_reject_ratio": 0.5,  # one bad item of four: loaded, the bad one kept in raw._rejects
            "options": {"organization": "GitHub", "api_url": api.url}}]}))
        env = os.environ | own_airflow_home(tmp_path / "airflow") | {
            "PYTHONPATH": str(ROOT), "OPENFINOPS_CONFIG": str(config),
            "AIRFLOW_CONN_OPENFINOPS_WAREHOUSE": empty_db, "OPENFINOPS_WAREHOUSE_URL": empty_db,
            "AIRFLOW_CONN_GITHUB_BILLING": json.dumps({"conn_type": "http", "password": TOKEN})}
        proc = subprocess.run([sys.executable, "-c", RUN, str(ROOT / "dags"), "collect_github-org",
                               "2023-08-21T00:00:00+00:00"], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=600)
    output = proc.stdout + proc.stderr
    result = next((line.split() for line in proc.stdout.splitlines() if line.startswith("RESULT")), None)
    assert result and result[1] == "success", output[-6000:]
    assert TOKEN not in output

    parsed = [json.loads(item, parse_float=Decimal) for item in items]
    good = [i for i in parsed if not isinstance(i["quantity"], str)]
    expected: dict[date, Decimal] = defaultdict(Decimal)
    for item in good:
        expected[date.fromisoformat(item["date"][:10])] += Decimal(item["netAmount"])
    with psycopg.connect(empty_db) as conn:
        raw = conn.execute("SELECT count(*), sum(net_amount), min(_batch_id) FROM raw.github_billing_usage_items"
                           ).fetchone()
        rejects = conn.execute("SELECT field FROM raw._rejects WHERE _source_id = 'github-org'").fetchall()
        dump = "".join(map(str, conn.execute("SELECT * FROM raw.github_billing_usage_items").fetchall()))
    assert raw == (len(good), sum(expected.values()), result[2])
    assert rejects == [("quantity",)] and TOKEN not in dump

    run_cli("--config", str(config), "transform", "--select", "+fct_cost_daily", "--indirect-selection", "cautious",
            "--target-path", str(tmp_path / "dbt-target"), url=empty_db)
    with psycopg.connect(empty_db) as conn:
        lines = conn.execute("""SELECT source_system, provider_name, invoice_issuer_name, service_name,
                                       service_category, billing_currency, count(*), sum(billed_cost), sum(list_cost)
                                FROM intermediate.int_focus_costs GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 4""").fetchall()
        marts = dict(conn.execute("SELECT charge_date, sum(billed_cost) FROM marts.fct_cost_daily GROUP BY 1"
                                  ).fetchall())
    assert lines == [
        ("github_billing", "GitHub", "GitHub", "GitHub Actions", "Developer Tools", "USD", 2, Decimal("50.400"),
         Decimal("62.800")),
        ("github_billing", "GitHub", "GitHub", "GitHub Copilot", "AI and Machine Learning", "USD", 1,
         Decimal("57.00"), Decimal("57.00"))]
    assert marts == dict(expected)
