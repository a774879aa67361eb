"""SaaS and data-platform sources from one config file through their real collect DAGs (``dag.test`` in a process
of its own, with the Airflow connections from the environment) and one `openfinops transform` (sync-config + real
`dbt build`) into `marts.fct_cost_daily`, against local fakes of the vendors in their wire format. Expected figures
are Decimal sums of the fixtures, computed here (never by the collectors or dbt)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
import yaml

from tests.airflow.conftest import own_airflow_home
from tests.conftest import ROOT, create_database, drop_database, run_cli
from tests.fakes.databricks_api import TOKEN as DATABRICKS_TOKEN
from tests.fakes.databricks_api import WAREHOUSE, DatabricksApi, job_runs, list_prices, unit_price, usage_rows
from tests.fakes.datadog_api import API_KEY as DD_API_KEY
from tests.fakes.datadog_api import APP_KEY as DD_APP_KEY
from tests.fakes.datadog_api import NOVEMBER_ESTIMATE, OCTOBER, DatadogApi, standard_api
from tests.fakes.github_api import BAD, COPILOT, MACOS, TOKEN, GithubApi, vendor_items
from tests.fakes.mongodb_atlas_api import ORG, PRIVATE_KEY, PUBLIC_KEY, AtlasApi, october_invoices
from tests.fakes.redis_cloud_api import API_KEY, SECRET_KEY, RedisCloudApi, vendor_subscriptions
from tests.fakes.snowflake_api import PASSWORD as SF_PASSWORD
from tests.fakes.snowflake_api import TIB, SnowflakeApi, metering_daily, queries, storage_days, warehouse_hours

RUN = """
import sys
from datetime import datetime
from airflow.models.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
for dag_id, logical_date in zip(sys.argv[2::2], sys.argv[3::2]):
    run = bag.dags[dag_id].test(logical_date=datetime.fromisoformat(logical_date))
    print("RESULT", dag_id, run.state, run.run_id)
"""
GITHUB_ITEMS = [*vendor_items(), COPILOT, MACOS, BAD]
DATABRICKS_BAD = dict(usage_rows()[1], record_id="rec-bad", usage_quantity="12,5")


@pytest.fixture(scope="module")
def saas(airflow_db, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("saas")
    url = create_database("ofo_saas")
    with GithubApi(TOKEN, "GitHub") as github, RedisCloudApi(vendor_subscriptions()) as redis, \
            standard_api(DatadogApi()) as datadog, DatabricksApi(chunk_rows=4) as databricks, \
            AtlasApi(october_invoices()) as atlas, SnowflakeApi() as snowflake:
        github.months[(2023, 8)] = GITHUB_ITEMS
        databricks.usage, databricks.list_prices = [*usage_rows(), DATABRICKS_BAD], list_prices()
        databricks.job_run_timeline, databricks.jobs = job_runs()
        snowflake.insert("metering_daily_history", metering_daily())
        snowflake.insert("warehouse_metering_history", warehouse_hours())
        snowflake.insert("query_history", queries())
        snowflake.insert("storage_usage", storage_days())
        config = tmp / "openfinops.yaml"
        config.write_text(yaml.safe_dump({"sources": [
            {"id": "github-org", "type": "github_billing", "connection_id": "github_billing",
             "start_date": "2023-01-01", "max_reject_ratio": 0.5,  # one bad item of four: kept in raw._rejects
             "options": {"organization": "GitHub", "api_url": github.url}},
            {"id": "redis-prod", "type": "redis_cloud", "connection_id": "redis_cloud", "max_reject_ratio": 0.5,
             "options": {"api_url": redis.url}},
            {"id": "datadog-parent", "type": "datadog_cost", "connection_id": "datadog_billing",
             "max_reject_ratio": 0.5, "options": {"api_url": datadog.url}},
            {"id": "databricks-acme", "type": "databricks_billing", "connection_id": "databricks_billing",
             "max_reject_ratio": 0.5, "options": {"warehouse_id": WAREHOUSE}},
            {"id": "atlas-acme", "type": "mongodb_atlas", "connection_id": "mongodb_atlas", "max_reject_ratio": 0.5,
             "options": {"org_id": ORG, "api_url": atlas.url}},
            {"id": "snowflake-prod", "type": "snowflake_billing", "connection_id": "snowflake_billing",
             "options": {"edition": "enterprise", "account_name": "ACME_PROD", "organization_name": "ACME"}},
        ], "budgets": [
            {"id": "data-platforms", "name": "Data platforms, monthly", "amount": 500, "currency": "USD",
             "period": "monthly", "scope": {"providers": ["Databricks", "Snowflake", "MongoDB"]}},
        ]}))
        env = os.environ | own_airflow_home(tmp / "airflow") | {
            "PYTHONPATH": str(ROOT), "OPENFINOPS_CONFIG": str(config),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "DEBUG",  # the secrets must not appear even at DEBUG
            "AIRFLOW_CONN_OPENFINOPS_WAREHOUSE": url, "OPENFINOPS_WAREHOUSE_URL": url,
            "AIRFLOW_CONN_GITHUB_BILLING": json.dumps({"conn_type": "http", "password": TOKEN}),
            "AIRFLOW_CONN_REDIS_CLOUD": json.dumps({"conn_type": "http", "login": API_KEY, "password": SECRET_KEY}),
            "AIRFLOW_CONN_DATADOG_BILLING": json.dumps({"conn_type": "http", "login": DD_API_KEY,
                                                        "password": DD_APP_KEY}),
            "AIRFLOW_CONN_DATABRICKS_BILLING": json.dumps(databricks.connection()),
            "AIRFLOW_CONN_MONGODB_ATLAS": json.dumps({"conn_type": "http", "login": PUBLIC_KEY,
                                                     "password": PRIVATE_KEY}),
            "AIRFLOW_CONN_SNOWFLAKE_BILLING": json.dumps(snowflake.connection())}
        proc = subprocess.run([sys.executable, "-c", RUN, str(ROOT / "dags"),
                               "collect_github-org", "2023-08-21T00:00:00+00:00",
                               "collect_redis-prod", "2026-11-03T00:00:00+00:00",
                               "collect_datadog-parent", "2026-11-03T00:00:00+00:00",
                               "collect_databricks-acme", "2026-10-17T00:00:00+00:00",
                               "collect_atlas-acme", "2026-10-20T00:00:00+00:00",
                               "collect_snowflake-prod", "2026-10-17T00:00:00+00:00"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    output = proc.stdout + proc.stderr
    results = {line.split()[1]: line.split()[2:] for line in proc.stdout.splitlines() if line.startswith("RESULT")}
    assert {dag: r[0] for dag, r in results.items()} == {
        "collect_github-org": "success", "collect_redis-prod": "success", "collect_datadog-parent": "success",
        "collect_databricks-acme": "success", "collect_atlas-acme": "success",
        "collect_snowflake-prod": "success"}, output[-6000:]
    run_cli("--config", str(config), "transform", "--select", "+fct_cost_daily", "+fct_snowflake_query_attribution",
            "+fct_budget_status", "+fct_databricks_job_runs",
            "--indirect-selection", "cautious",
            "--target-path", str(tmp / "dbt-target"), url=url)
    yield {"url": url, "output": output, "runs": {dag: r[1] for dag, r in results.items()}}
    drop_database(url)


def databricks_expected() -> dict[date, Decimal]:
    """Oct 13-16 (the run of Oct 17 with its 3-day look-back): quantity x the fixture's price valid at the start."""
    start, end = datetime(2026, 10, 13, tzinfo=UTC), datetime(2026, 10, 17, tzinfo=UTC)
    expected: dict[date, Decimal] = defaultdict(Decimal)
    for row in usage_rows():
        if start <= row["usage_start_time"] < end:
            expected[row["usage_date"]] += row["usage_quantity"] * unit_price(row["sku_name"], "AWS",
                                                                              row["usage_start_time"])
    return dict(expected)


def atlas_expected() -> dict[date, Decimal]:
    """October's closed invoice, every well-formed line: (totalPriceCents - discountCents) / 100 per day."""
    invoice = next(i for i in october_invoices() if i["statusName"] == "CLOSED")
    expected: dict[date, Decimal] = defaultdict(Decimal)
    for item in invoice["lineItems"]:
        if isinstance(item["quantity"], str):
            continue  # the malformed one
        cents = Decimal(item["totalPriceCents"]) - Decimal(item.get("discountCents", 0))
        expected[date.fromisoformat(item["startDate"][:10])] += cents / 100
    return dict(expected)


def snowflake_expected() -> dict[date, Decimal]:
    """Oct 14-16 (the run of Oct 17 with its 2-day look-back): credits billed x $3.00 (Enterprise, seed file), plus
    storage: tables + stages + fail-safe bytes / 1024^4 x $40 a TB-month (on demand, seed file) / 31 days. Rounded
    to 1e-12 (the warehouse divides to its own precision)."""
    expected: dict[date, Decimal] = defaultdict(Decimal)
    for _service, day, _compute, _cloud, _used, _adjustment, billed in metering_daily():
        if date(2026, 10, 14) <= day < date(2026, 10, 17):
            expected[day] += billed * Decimal("3.00")
    for day, tables, stages, failsafe, _hybrid in storage_days():
        if date(2026, 10, 14) <= day < date(2026, 10, 17):
            expected[day] += Decimal(tables + stages + failsafe) / TIB * Decimal("40.00") / 31
    return {day: round(cost, 12) for day, cost in expected.items()}


def test_a_budget_over_the_data_platforms_sees_their_october_spend(saas):
    """A monthly budget scoped to Databricks, Snowflake and MongoDB: its October actual is the three sources'
    October costs (the fixtures' sums above), with no special case for them."""
    expected = sum(databricks_expected().values()) + sum(snowflake_expected().values()) + sum(
        atlas_expected().values())
    with psycopg.connect(saas["url"]) as conn:
        status = conn.execute("""SELECT round(actual_cost, 12), budget_amount FROM marts.fct_budget_status
                                 WHERE budget_id = 'data-platforms' AND period_start = '2026-10-01'""").fetchall()
    assert status == [(expected, Decimal(500))]


def test_no_credential_reaches_logs_or_raw_tables(saas):
    """The DAG runs log at DEBUG (HTTP requests, hooks, the connectors): no token, key or password in that output,
    in the raw tables or in the rejects."""
    assert "debug" in saas["output"].lower() and "Starting new HTTP connection" in saas["output"]
    with psycopg.connect(saas["url"]) as conn:
        dump = "".join(map(str, conn.execute("SELECT * FROM raw.github_billing_usage_items").fetchall()))
        dump += "".join(map(str, conn.execute("SELECT * FROM raw.redis_cloud_subscription_pricing").fetchall()))
        dump += "".join(map(str, conn.execute("SELECT * FROM raw.datadog_cost_charges").fetchall()))
        dump += "".join(map(str, conn.execute("SELECT * FROM raw.databricks_billing_usage").fetchall()))
        dump += "".join(map(str, conn.execute("SELECT * FROM raw.mongodb_atlas_line_items").fetchall()))
        dump += "".join(map(str, conn.execute("SELECT * FROM raw._rejects").fetchall()))
        dump += "".join(map(str, conn.execute("SELECT * FROM raw.snowflake_billing_metering_daily").fetchall()))
    secrets = (TOKEN, SECRET_KEY, DD_APP_KEY, DATABRICKS_TOKEN, "presignedsecret", PRIVATE_KEY, SF_PASSWORD)
    # One exception, Airflow's test harness: dag.test's in-process supervisor logs each comms message body at DEBUG
    # ("Sending request ... msg=MaskSecret(value=...)": the request to mask a secret, carrying it), where a deployed
    # task's supervisor logs "Received message from task runner (body omitted)". Only those lines are passed over.
    harness = re.compile(r"\] Sending request +loc=supervisor\.py:\d+ msg=MaskSecret\(value=")
    leaks = [line[:400] for line in saas["output"].splitlines()
             if any(secret in line for secret in secrets) and not harness.search(line)]
    assert leaks == []
    assert not [secret for secret in secrets if secret in dump]


def test_github_billing_reaches_fct_cost_daily_to_the_cent(saas):
    parsed = [json.loads(item, parse_float=Decimal) for item in GITHUB_ITEMS]
    good = [i for i in parsed if not isinstance(i["quantity"], str)]
    expected: dict[date, Decimal] = defaultdict(Decimal)
    for item in good:
        expected[date.fromisoformat(item["date"][:10])] += Decimal(item["netAmount"])
    with psycopg.connect(saas["url"]) as conn:
        raw = conn.execute("SELECT count(*), sum(net_amount), min(_batch_id) FROM raw.github_billing_usage_items"
                           ).fetchone()
        rejects = conn.execute("SELECT field FROM raw._rejects WHERE _source_id = 'github-org'").fetchall()
        lines = conn.execute("""SELECT provider_name, invoice_issuer_name, service_name, service_category,
                                       billing_currency, count(*), sum(billed_cost), sum(list_cost)
                                FROM intermediate.int_focus_costs WHERE source_system = 'github_billing'
                                GROUP BY 1, 2, 3, 4, 5 ORDER BY 3""").fetchall()
        marts = dict(conn.execute("""SELECT charge_date, sum(billed_cost) FROM marts.fct_cost_daily
                                     WHERE provider_name = 'GitHub' GROUP BY 1""").fetchall())
    assert raw == (len(good), sum(expected.values()), saas["runs"]["collect_github-org"])
    assert rejects == [("quantity",)]
    assert lines == [
        ("GitHub", "GitHub", "GitHub Actions", "Developer Tools", "USD", 2, Decimal("50.400"), Decimal("62.800")),
        ("GitHub", "GitHub", "GitHub Copilot", "AI and Machine Learning", "USD", 1, Decimal("57.00"),
         Decimal("57.00"))]
    assert marts == dict(expected)


def test_redis_cloud_daily_cost_is_quantity_times_price_per_period(saas):
    """Nov 2 2026 (the run's data interval): the fixture's shard at $0.1 an hour (x 24) and the monthly item at
    $43.8 per shard-month x 2 shards / 30 days; the unpriced EBS volume and instances give no cost line."""
    shard = Decimal(1) * Decimal("0.1") * 24
    monthly = Decimal(2) * Decimal("43.8") / 30
    with psycopg.connect(saas["url"]) as conn:
        lines = conn.execute("""SELECT sub_account_id, sku_id, resource_id, billed_cost, billing_currency
                                FROM intermediate.int_focus_costs WHERE source_system = 'redis_cloud'
                                ORDER BY sub_account_id""").fetchall()
        raw_rows = conn.execute("SELECT count(*) FROM raw.redis_cloud_subscription_pricing").fetchone()[0]
        marts = conn.execute("""SELECT charge_date, provider_name, service_category, sum(billed_cost)
                                FROM marts.fct_cost_daily WHERE provider_name = 'Redis' GROUP BY 1, 2, 3""").fetchall()
    assert raw_rows == 4  # three items of the fixture (two unpriced) + the monthly one
    assert lines == [("1", "Shards", "1", shard, "USD"), ("98766", "Shards", "sessions", monthly, "USD")]
    assert marts == [(date(2026, 11, 2), "Redis", "Databases", shard + monthly)]
    assert shard + monthly == Decimal("5.32")


def test_datadog_cost_is_the_vendors_monthly_cost_counted_once(saas):
    """October (closed: historical) and November (estimated so far; the run on Nov 3 re-pulls October, close_days
    5): each product's committed + on-demand parts, never the `total` entries on top of them."""
    def parts(charges):
        return sum((Decimal(c) for _, t, c in charges if t != "total" and c[0].isdigit()), Decimal(0))

    with psycopg.connect(saas["url"]) as conn:
        lines = conn.execute("""SELECT charge_date, count(*), sum(billed_cost), min(service_category),
                                       bool_or(charge_description like '%estimated%')
                                FROM intermediate.int_focus_costs WHERE source_system = 'datadog_cost'
                                GROUP BY 1 ORDER BY 1""").fetchall()
        marts = dict(conn.execute("""SELECT charge_date, sum(billed_cost) FROM marts.fct_cost_daily
                                     WHERE provider_name = 'Datadog' GROUP BY 1""").fetchall())
    assert lines == [(date(2026, 10, 1), 4, parts(OCTOBER), "Management and Governance", False),
                     (date(2026, 11, 1), 2, parts(NOVEMBER_ESTIMATE), "Management and Governance", True)]
    assert parts(OCTOBER) == Decimal("2346.17") and parts(NOVEMBER_ESTIMATE) == Decimal("699.99")
    assert marts == {date(2026, 10, 1): parts(OCTOBER), date(2026, 11, 1): parts(NOVEMBER_ESTIMATE)}


def test_databricks_cost_is_usage_times_the_price_valid_at_the_time_to_the_cent(saas):
    """The run of Oct 17 2026 loads Oct 16 and its 3 days of look-back (Oct 13-16). Each record costs its quantity x
    the effective list price of its SKU and cloud valid at its start (looked up in the fixture here): the docs'
    promotional 0.07 before Oct 15 00:00 UTC, 0.12 from then; the retraction cancels its original and the
    restatement counts; the AZURE price of the same SKU is never used; the malformed row is in raw._rejects."""
    expected = databricks_expected()
    with psycopg.connect(saas["url"]) as conn:
        raw = conn.execute("SELECT count(*), min(_batch_id) FROM raw.databricks_billing_usage").fetchone()
        rejects = conn.execute("SELECT record_ref, field FROM raw._rejects WHERE _source_id = 'databricks-acme'"
                               ).fetchall()
        lines = conn.execute("""SELECT provider_name, publisher_name, invoice_issuer_name, service_name,
                                       service_category, billing_currency, count(*), sum(billed_cost),
                                       count(*) filter (where charge_class = 'Correction')
                                FROM intermediate.int_focus_costs WHERE source_system = 'databricks_billing'
                                GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 4""").fetchall()
        marts = dict(conn.execute("""SELECT charge_date, sum(billed_cost) FROM marts.fct_cost_daily
                                     WHERE provider_name = 'Databricks' GROUP BY 1""").fetchall())
    assert raw == (8, saas["runs"]["collect_databricks-acme"])
    assert rejects == [("system.billing.usage record_id rec-bad", "usage_quantity")]
    assert [line[:7] for line in lines] == [
        ("Databricks", "Databricks", "Databricks", "Databricks All-Purpose Compute", "Analytics", "USD", 3),
        ("Databricks", "Databricks", "Databricks", "Databricks Jobs", "Analytics", "USD", 5)]
    assert lines[1][8] == 2  # the retraction and the restatement
    assert marts == dict(expected)
    assert expected[date(2026, 10, 14)] == Decimal("12.2500") * Decimal("0.07") + Decimal("64.0000") * Decimal("0.15")
    assert expected[date(2026, 10, 15)] == Decimal("100.0000") * Decimal("0.12")


def test_mongodb_atlas_cost_is_the_invoice_lines_net_of_discount_to_the_cent(saas):
    """The run of Oct 20 2026 replaces October (whole months): every well-formed line item of October's invoice,
    billed = (totalPriceCents - discountCents) / 100 per day, computed here from the fixture's JSON; the M30
    cluster (a three-node replica set) costs 24 x $0.54 = $12.96 a day, not three times that."""
    expected = atlas_expected()
    with psycopg.connect(saas["url"]) as conn:
        rejects = conn.execute("SELECT field FROM raw._rejects WHERE _source_id = 'atlas-acme'").fetchall()
        lines = conn.execute("""SELECT service_category, count(*), sum(billed_cost), sum(list_cost)
                                FROM intermediate.int_focus_costs WHERE source_system = 'mongodb_atlas'
                                GROUP BY 1 ORDER BY 1""").fetchall()
        marts = dict(conn.execute("""SELECT charge_date, sum(billed_cost) FROM marts.fct_cost_daily
                                     WHERE provider_name = 'MongoDB' GROUP BY 1""").fetchall())
        m30 = conn.execute("""SELECT DISTINCT billed_cost FROM intermediate.int_focus_costs
                              WHERE source_system = 'mongodb_atlas' AND sku_id = 'ATLAS_AWS_INSTANCE_M30'""").fetchall()
    assert rejects == [("quantity",)]
    assert lines == [("Databases", 3, Decimal("38.88"), Decimal("38.88")),
                     ("Networking", 1, Decimal("0.21"), Decimal("0.21")),
                     ("Storage", 1, Decimal("10.00"), Decimal("12.05"))]
    assert m30 == [(Decimal("12.96"),)]
    assert marts == dict(expected)


def test_snowflake_cost_is_credits_billed_times_the_editions_list_price(saas):
    """The run of Oct 17 2026 loads Oct 16 and its 2 days of look-back (Oct 14-16): each day's credits billed (the
    10 % cloud-services rule applied by Snowflake) x $3.00, the Enterprise list price of the seed file."""
    expected = snowflake_expected()
    with psycopg.connect(saas["url"]) as conn:
        marts = dict(conn.execute("""SELECT charge_date, round(sum(billed_cost), 12) FROM marts.fct_cost_daily
                                     WHERE provider_name = 'Snowflake' GROUP BY 1""").fetchall())
        storage = conn.execute("""SELECT count(*), min(service_category), min(pricing_unit)
                                  FROM intermediate.int_focus_costs WHERE source_system = 'snowflake_billing'
                                  AND service_name = 'Snowflake Storage'""").fetchone()
        accounts = conn.execute("""SELECT DISTINCT billing_account_id, sub_account_id FROM intermediate.int_focus_costs
                                   WHERE source_system = 'snowflake_billing'""").fetchall()
    assert marts == dict(expected) and len(expected) == 3
    assert storage == (3, "Storage", "TB-months")
    assert accounts == [("ACME", "ACME_PROD")]


def test_snowflake_queries_share_each_warehouse_hour_and_add_up_to_it(saas):
    """Each warehouse-hour's compute credits split by the queries' execution time inside the hour (computed here
    from the fixture), an hour without queries idle; per hour the shares add up to the metered credits exactly."""
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for start, end, _id, _name, _used, compute, _cloud, _attributed in warehouse_hours():
        overlaps = {}
        for qid, _qs, qend, execution_ms, _elapsed, _wh, user, *_ in queries():
            qstart = qend - timedelta(milliseconds=execution_ms)
            ms = (min(qend, end) - max(qstart, start)) / timedelta(milliseconds=1)
            if ms > 0:
                overlaps[(qid, user)] = Decimal(int(ms))
        if not overlaps:
            expected["(idle)"] += compute
        for (_qid, user), ms in overlaps.items():
            expected[user] += compute * ms / sum(overlaps.values())
    with psycopg.connect(saas["url"]) as conn:
        by_user = dict(conn.execute("""SELECT coalesce(user_name, '(idle)'), sum(attributed_credits)
                                       FROM marts.fct_snowflake_query_attribution GROUP BY 1""").fetchall())
        hours = conn.execute("""SELECT hour_start, sum(attributed_credits), min(hour_credits)
                                FROM marts.fct_snowflake_query_attribution GROUP BY 1 ORDER BY 1""").fetchall()
        cost = conn.execute("SELECT sum(attributed_cost) FROM marts.fct_snowflake_query_attribution").fetchone()[0]
    assert {u: round(c, 9) for u, c in by_user.items()} == {u: round(c, 9) for u, c in expected.items()}
    assert expected == {"ALICE": Decimal("4.5"), "BOB": Decimal(1), "CAROL": Decimal(2), "(idle)": Decimal("0.75")}
    assert all(attributed == metered for _, attributed, metered in hours) and len(hours) == 3
    assert cost == sum(w[5] for w in warehouse_hours()) * Decimal("3.00")


def test_databricks_job_runs_have_their_outcome_duration_and_cost(saas):
    """Three runs in the window (from the fixture's lakeflow rows): run-1 succeeded in 40 min; run-2 failed and was
    repaired (2 attempts, 25 + 35 min, succeeded); run-3 ran 2.5 hours in three hourly slices and timed out. Each
    costs its usage records (usage_metadata.job_run_id) x the job price in force (0.15 a DBU), the retraction and
    restatement of run-2 included; the job's current name is its latest change."""
    price = Decimal("0.15")
    with psycopg.connect(saas["url"]) as conn:
        runs = conn.execute("""SELECT run_id, job_name, result_state, attempts, duration_seconds, is_succeeded,
                                      is_failed, billed_cost, billing_currency
                               FROM marts.fct_databricks_job_runs ORDER BY run_id""").fetchall()
    assert runs == [
        ("run-1", "nightly-etl-v2", "SUCCEEDED", 1, Decimal(2400), True, False, Decimal("41.5000") * price, "USD"),
        ("run-2", "nightly-etl-v2", "SUCCEEDED", 2, Decimal(3600), True, False,
         (Decimal("80.0000") - Decimal("80.0000") + Decimal("64.0000")) * price, "USD"),
        ("run-3", "weekly-report", "TIMED_OUT", 1, Decimal(9000), False, True, Decimal("33.3333") * price, "USD")]
    assert [r[5] for r in runs].count(True) == 2 and [r[6] for r in runs].count(True) == 1  # success rate 2 of 3
