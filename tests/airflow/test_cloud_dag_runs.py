"""Cloud sources through their real Airflow collect DAGs (dag.test): a FOCUS file source loads its billing period;
an Azure Query API source that stays throttled is retried by the collector and then fails its task with a message
naming the source, while the other source's DAG is unaffected; the client secret is never in the task output."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import psycopg
import pytest
import yaml

from openfinops.config import load_config
from tests.conftest import ROOT, SHARED_DATA
from tests.fakes.azure_cost_api import AzureCostApiFake, azure_error, make_tls_files

SAMPLE = SHARED_DATA / "focus-1.2" / "focus_1_2_cost_and_usage_aws.csv"


@pytest.fixture
def azure(tmp_path, monkeypatch):
    (tmp_path / "tls").mkdir()
    tls = make_tls_files(tmp_path / "tls")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls.ca_bundle)
    with AzureCostApiFake(tls) as fake:
        monkeypatch.setenv("AIRFLOW_CONN_AZURE_DAG", json.dumps({
            "conn_type": "azure", "login": fake.client_id, "password": fake.client_secret,
            "extra": {"tenantId": fake.tenant_id, "authority": fake.authority, "disable_instance_discovery": True}}))
        yield fake


@pytest.fixture
def cloud_dags(tmp_path, monkeypatch, empty_db, azure):
    monkeypatch.setenv("AIRFLOW_CONN_OPENFINOPS_WAREHOUSE", empty_db)
    config = tmp_path / "cloud.yaml"
    config.write_text(yaml.safe_dump({"sources": [
        {"id": "focus-aws-sample", "type": "focus_file", "options": {"paths": [str(SAMPLE)]}},
        {"id": "azure-throttled", "type": "azure_cost_query", "connection_id": "azure_dag", "lookback_days": 0,
         "options": {"scope": "subscriptions/5d1e0c2b-0000-4c00-8000-00000000abcd", "endpoint": azure.base_url,
                     "max_retries": 2, "retry_base_seconds": 0.01}},
    ]}))
    # The DAG files read OPENFINOPS_CONFIG (dag.test re-parses the dags folder to serialise the DAG it runs).
    monkeypatch.setenv("OPENFINOPS_CONFIG", str(config))
    from airflow.models.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    dags = {s.id: bag.dags[f"collect_{s.id}"] for s in load_config(config).sources}
    for dag in dags.values():
        for task in dag.tasks:
            task.retries = 0  # the collector retries the API itself; Airflow's own retry delay would only add minutes
    return dags, empty_db


def test_throttled_api_fails_its_own_task_naming_the_source_and_the_other_source_loads(airflow_db, cloud_dags,
                                                                                        azure, capfd):
    dags, url = cloud_dags
    for _ in range(20):
        azure.interruptions.append(azure_error(429, "TooManyRequests", "Too many requests, retry later.",
                                               **{"Retry-After": "0"}))
    failed = dags["azure-throttled"].test(logical_date=datetime(2026, 6, 2, tzinfo=UTC))
    output = "".join(capfd.readouterr())
    assert failed.state == "failed"
    assert len(azure.query_requests()) == 3  # first attempt + max_retries 2, then the task fails
    assert "source azure-throttled" in output and "429" in output and "TooManyRequests" in output
    assert azure.client_secret not in output

    loaded = dags["focus-aws-sample"].test(logical_date=datetime(2026, 5, 21, tzinfo=UTC))
    assert loaded.state == "success"
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT count(*), min(_batch_id) FROM raw.focus_cost_line_items").fetchone()
        azure_rows = conn.execute("SELECT count(*) FROM raw.azure_cost_query_cost_daily").fetchone()[0]
    assert rows == (1000, loaded.run_id)  # the whole May billing period, stamped with the Airflow run id
    assert azure_rows == 0
