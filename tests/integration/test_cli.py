"""bin/openfinops: the wrapper, config selection, and OPENFINOPS_WAREHOUSE_URL pointing at another PostgreSQL."""

import os
import subprocess

import psycopg
import yaml

from tests.conftest import ROOT


def wrapper(*args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k != "OPENFINOPS_EMBEDDED_PG"}
    env.update(env_extra or {})
    return subprocess.run([str(ROOT / "bin" / "openfinops"), *args], env=env, capture_output=True, text=True,
                          timeout=300)


def test_sources_lists_the_config():
    proc = wrapper("sources")
    assert proc.returncode == 0, proc.stderr
    assert "demo-aws" in proc.stdout and "demo-snowflake" in proc.stdout


def test_collect_goes_to_the_warehouse_url_given(empty_db):
    proc = wrapper("collect", "demo-azure", "--start", "2026-11-01", "--end", "2026-11-03",
                   env_extra={"OPENFINOPS_WAREHOUSE_URL": empty_db})
    assert proc.returncode == 0, proc.stderr
    assert "raw.focus_cost_line_items" in proc.stdout
    with psycopg.connect(empty_db) as conn:
        days = conn.execute("SELECT DISTINCT charge_period_start::date FROM raw.focus_cost_line_items "
                            "WHERE _source_id = 'demo-azure' ORDER BY 1").fetchall()
    assert [str(d) for (d,) in days] == ["2026-11-01", "2026-11-02"]


def test_config_option_and_errors_name_the_problem(tmp_path, empty_db):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"sources": [{"id": "x", "type": "nope"}]}))
    proc = wrapper("--config", str(bad), "sources", env_extra={"OPENFINOPS_WAREHOUSE_URL": empty_db})
    assert proc.returncode == 2
    assert "sources[0].type" in proc.stderr and "expected one of ['aws_cost_explorer', " in proc.stderr
    proc = wrapper("collect", "no-such-source", "--start", "2026-11-01", "--end", "2026-11-02",
                   env_extra={"OPENFINOPS_WAREHOUSE_URL": empty_db})
    assert proc.returncode == 2 and "no source with id 'no-such-source'" in proc.stderr
    proc = wrapper("collect", "demo-aws", "--start", "2026-11-01", "--end", "tomorrow",
                   env_extra={"OPENFINOPS_WAREHOUSE_URL": empty_db})
    assert proc.returncode == 2 and "expected YYYY-MM-DD" in proc.stderr
