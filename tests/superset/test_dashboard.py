"""Real Superset, real PostgreSQL marts, real browser: the Overview dashboard shows what the SQL says.

Run: .venv/airflow/bin/python -m pytest tests/superset -q
(OPENFINOPS_TEST_WAREHOUSE_URL=postgresql://... to use a hand-made warehouse instead of `built_warehouse`.)
"""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import time
import zipfile
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "superset" / "bundle"
CHARTS = {  # bundle chart uuid -> key used below
    "f3e5b27b-57ca-419f-abba-045a622a1b40": "total_spend",
    "2784025a-f8a9-47f4-a89c-c04e0e9bd6c6": "spend_by_provider",
    "c8ccbd99-54b3-488b-be8c-f8352c7954b6": "budget_status",
    "ff262f8d-e922-4d8e-9131-10449fc887ce": "cluster_cpu",
}
CENT = Decimal("0.01")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def cents(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def epoch_ms_to_date(value) -> dt.date:
    return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC).date()


def chart_data(client, chart_id: int) -> dict:
    """POST /api/v1/chart/data with the chart's stored query_context (what reports and the API use)."""
    chart = client.get(f"/api/v1/chart/{chart_id}").json()["result"]
    qc = json.loads(chart["query_context"])
    qc["form_data"] = {**qc.get("form_data", {}), "slice_id": chart_id}
    qc["result_type"] = "full"
    resp = client.post("/api/v1/chart/data", json=qc).json()
    (result,) = resp["result"]
    assert result.get("error") is None, result
    return result


def copy_bundle(tmp_path: Path) -> Path:
    dst = tmp_path / "bundle"
    shutil.copytree(BUNDLE, dst)
    return dst


# ------------------------------------------------------------------------------------------ (a) validation
def test_bundle_validates(deploy_module):
    bundle = deploy_module.validate_bundle(BUNDLE)
    kinds = {rel.split("/")[0] for rel in bundle.files}
    assert {"databases", "datasets", "charts", "dashboards", "metadata.yaml"} <= kinds
    assert set(CHARTS) == {str(c["uuid"]) for c in bundle.of_kind("charts").values()}
    dashboards = list(bundle.of_kind("dashboards").values())
    assert [d["slug"] for d in dashboards] == ["overview"]


def test_broken_chart_dataset_reference_is_named(deploy_module, tmp_path):
    bundle = copy_bundle(tmp_path)
    path = bundle / "charts" / "budget_status.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["dataset_uuid"] = "00000000-0000-4000-8000-000000000000"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    with pytest.raises(deploy_module.BundleError) as exc:
        deploy_module.validate_bundle(bundle)
    message = str(exc.value)
    assert "Budget status" in message and "charts/budget_status.yaml" in message
    assert "00000000-0000-4000-8000-000000000000" in message


@pytest.mark.parametrize(
    ("rel", "mutate", "expected"),
    [
        ("datasets/openfinops_warehouse/fct_cost_daily.yaml", lambda c: c.update(schema="public"), "schema must be"),
        (
            "databases/openfinops_warehouse.yaml",
            lambda c: c.update(sqlalchemy_uri="postgresql+psycopg2://openfinops:hunter2secret@db:5432/openfinops"),
            "password",
        ),
        ("charts/total_spend.yaml", lambda c: c.update(query_context=None), "needs a query_context"),
        ("charts/spend_by_provider.yaml", lambda c: c["params"].update(groupby=["no_such_column"]), "no_such_column"),
        ("metadata.yaml", lambda c: c.update(type="Dashboard"), "must not have `type`"),
    ],
)
def test_validation_rules(deploy_module, tmp_path, rel, mutate, expected):
    bundle = copy_bundle(tmp_path)
    path = bundle / rel
    cfg = yaml.safe_load(path.read_text())
    mutate(cfg)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    with pytest.raises(deploy_module.BundleError, match=expected):
        deploy_module.validate_bundle(bundle)


def test_manifest_check(deploy_module, tmp_path):
    manifest = tmp_path / "manifest.json"
    nodes = {
        f"model.openfinops.{t}": {"resource_type": "model", "name": t, "alias": t, "schema": "marts"}
        for t in ("fct_cost_daily", "fct_budget_status")
    }
    manifest.write_text(json.dumps({"nodes": nodes}))
    with pytest.raises(deploy_module.BundleError, match="fct_cluster_health_daily is not a model"):
        deploy_module.validate_bundle(BUNDLE, manifest_path=manifest)


def test_zip_has_one_root_and_target_host(deploy_module):
    data, passwords = deploy_module.build_bundle_zip(BUNDLE, "postgresql://wh_user:s%40cret@db.example:6543/wh")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        assert {n.split("/")[0] for n in names} == {deploy_module.BUNDLE_ROOT_FOLDER}
        db_file = next(n for n in names if "/databases/" in n)
        text = zf.read(db_file).decode()
        assert "s@cret" not in text and "s%40cret" not in text
    uri = yaml.safe_load(text)["sqlalchemy_uri"]
    assert uri == "postgresql+psycopg2://wh_user:XXXXXXXXXX@db.example:6543/wh"
    assert passwords == {"databases/openfinops_warehouse.yaml": "s@cret"}


# ------------------------------------------------------------------------------------------ (b) deploy twice
def _inventory(client) -> dict[str, list]:
    return {
        "charts": sorted((c["uuid"], c["id"]) for c in client.list_all("chart", ["id", "uuid"])),
        "datasets": sorted((d["uuid"], d["id"]) for d in client.list_all("dataset", ["id", "uuid"])),
        "dashboards": sorted((d["slug"], d["id"]) for d in client.list_all("dashboard", ["id", "slug"])),
        "databases": sorted(
            (d["database_name"], d["id"]) for d in client.list_all("database", ["id", "database_name"])
        ),
    }


def test_deploy_is_idempotent(deploy_module, superset_instance, deployed_superset):
    client = superset_instance.client()
    before = _inventory(client)
    again = deploy_module.deploy(
        superset_instance.url,
        superset_instance.username,
        superset_instance.password,
        warehouse_url=superset_instance.warehouse_url,
    )
    after = _inventory(client)
    assert again == deployed_superset
    assert after == before
    assert set(deployed_superset["charts"]) == set(CHARTS)
    for kind, rows in after.items():
        keys = [k for k, _ in rows]
        assert len(keys) == len(set(keys)), f"duplicate {kind}: {rows}"
    assert set(deployed_superset["roles"]) == {"CFO", "COO", "Infrastructure"}
    dash_id = deployed_superset["dashboards"]["overview"]
    dash_charts = client.get(f"/api/v1/dashboard/{dash_id}/charts").json()["result"]
    assert sorted(c["id"] for c in dash_charts) == sorted(deployed_superset["charts"].values())


def test_cli_deploy(superset_instance, deployed_superset):
    proc = superset_instance.run_script("deploy", check=False)
    assert proc.returncode == 0, proc.stderr
    assert "deployed:" in proc.stderr
    bad = superset_instance.run_script("deploy", "--bundle", str(REPO / "no-such-bundle"), check=False)
    assert bad.returncode != 0 and "does not exist" in bad.stderr


def test_deploy_wrong_password_fails_clearly(deploy_module, superset_instance):
    with pytest.raises(deploy_module.DeployError, match="login"):
        deploy_module.deploy(
            superset_instance.url,
            superset_instance.username,
            "wrong-password",
            warehouse_url=superset_instance.warehouse_url,
        )


# ------------------------------------------------------------------------------------------ (c) chart data = SQL
@pytest.fixture(scope="module")
def chart_ids(deployed_superset) -> dict[str, int]:
    return {CHARTS[uuid]: cid for uuid, cid in deployed_superset["charts"].items()}


def test_total_spend_matches_sql(superset_instance, chart_ids, warehouse_conn):
    (sql_total,) = warehouse_conn.execute("SELECT COALESCE(SUM(billed_cost), 0) FROM marts.fct_cost_daily").fetchone()
    result = chart_data(superset_instance.client(), chart_ids["total_spend"])
    assert result["rowcount"] == 1
    assert cents(result["data"][0]["total_billed_cost"]) == cents(sql_total)
    assert sql_total > 0, "the warehouse marts are empty"


def test_spend_by_provider_matches_sql(superset_instance, chart_ids, warehouse_conn):
    rows = warehouse_conn.execute(
        "SELECT charge_date, provider_name, SUM(billed_cost) FROM marts.fct_cost_daily GROUP BY 1, 2"
    ).fetchall()
    expected = {(d, p): cents(v) for d, p, v in rows}
    result = chart_data(superset_instance.client(), chart_ids["spend_by_provider"])
    got = {}
    for row in result["data"]:
        day = epoch_ms_to_date(row["charge_date"])
        for provider, value in row.items():
            if provider != "charge_date" and value is not None:
                got[(day, provider)] = cents(value)
    assert got == expected
    assert {p for _, p in expected} <= set(result["colnames"])


def test_budget_status_matches_sql(superset_instance, chart_ids, warehouse_conn):
    rows = warehouse_conn.execute(
        "SELECT budget_name, period_start, budget_amount, actual_cost, utilisation_pct, status "
        "FROM marts.fct_budget_status ORDER BY period_start DESC, budget_name ASC"
    ).fetchall()
    expected = [(n, d, cents(b), cents(a), cents(u), s) for n, d, b, a, u, s in rows]
    result = chart_data(superset_instance.client(), chart_ids["budget_status"])
    assert result["colnames"] == [
        "budget_name",
        "period_start",
        "budget_amount",
        "actual_cost",
        "utilisation_pct",
        "status",
    ]
    got = [
        (
            r["budget_name"],
            epoch_ms_to_date(r["period_start"]),
            cents(r["budget_amount"]),
            cents(r["actual_cost"]),
            cents(r["utilisation_pct"]),
            r["status"],
        )
        for r in result["data"]
    ]
    assert got == expected
    assert expected, "marts.fct_budget_status is empty"
    assert {r[-1] for r in expected} <= {"ok", "warning", "forecast_exceeded", "exceeded"}


def test_cluster_cpu_matches_sql(superset_instance, chart_ids, warehouse_conn):
    rows = warehouse_conn.execute(
        "SELECT metric_date, cluster_id, AVG(avg_cpu_utilization_pct) FROM marts.fct_cluster_health_daily "
        "WHERE avg_cpu_utilization_pct IS NOT NULL GROUP BY 1, 2"
    ).fetchall()
    expected = {(d, c): cents(v) for d, c, v in rows}
    result = chart_data(superset_instance.client(), chart_ids["cluster_cpu"])
    got = {}
    for row in result["data"]:
        day = epoch_ms_to_date(row["metric_date"])
        for cluster, value in row.items():
            if cluster != "metric_date" and value is not None:
                got[(day, cluster)] = cents(value)
    assert got == expected


def test_chart_data_get_endpoint(superset_instance, chart_ids):
    """GET /api/v1/chart/<id>/data/ works because every chart carries a query_context."""
    client = superset_instance.client()
    for key, cid in chart_ids.items():
        body = client.get(f"/api/v1/chart/{cid}/data/").json()
        assert body["result"][0]["rowcount"] > 0, key


# ------------------------------------------------------------------------------------------ (d) no passwords
def _secrets(instance) -> list[str]:
    out = [urlsplit(instance.warehouse_url).password or "", instance.password]
    for line in (instance.state_dir / "credentials" / "superset.env").read_text().splitlines():
        out.append(line.partition("=")[2])
    return [s for s in out if len(s) >= 6]


def test_no_password_in_bundle_or_export(deploy_module, superset_instance, deployed_superset):
    secrets = _secrets(superset_instance)
    assert secrets, "expected the warehouse and admin passwords to compare against"
    for path in BUNDLE.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert not [s for s in secrets if s in text], f"secret in {path}"
            assert deploy_module.find_secrets(str(path.relative_to(BUNDLE)), text) == []

    client = superset_instance.client()
    dash_id = deployed_superset["dashboards"]["overview"]
    resp = client.get("/api/v1/dashboard/export/", params={"q": f"!({dash_id})"})
    with zipfile.ZipFile(io.BytesIO(resp.content)) as zf:
        names = zf.namelist()
        assert any("/databases/" in n for n in names) and any("/charts/" in n for n in names)
        for name in names:
            text = zf.read(name).decode("utf-8", errors="replace")
            assert not [s for s in secrets if s in text], f"secret in exported {name}"
            assert deploy_module.find_secrets(name, text) == [], name
            if "/databases/" in name:
                assert "XXXXXXXXXX" in yaml.safe_load(text)["sqlalchemy_uri"]


# ------------------------------------------------------------------------------------------ (e) browser
def browser_login(page, instance, attempts: int = 3) -> None:
    """Form login, then prove the session works with an API call. The login page's own unload beacon
    (POST /superset/log/ with the pre-login cookie) can race the login redirect and replace the fresh session
    cookie with an anonymous one; when that happens the API answers 401 and we log in again."""
    for _ in range(attempts):
        page.goto(f"{instance.url}/login/", wait_until="domcontentloaded")
        page.fill("input#username", instance.username)
        page.fill("input#password", instance.password)
        page.click("button[type=submit]")
        page.wait_for_url(lambda u: "/login" not in u, timeout=60_000)
        page.wait_for_load_state("networkidle")
        if page.request.get(f"{instance.url}/api/v1/me/").status == 200:
            return
    raise AssertionError(f"browser session not authenticated after {attempts} login attempts")


def test_dashboard_renders_in_chromium(superset_instance, deployed_superset, warehouse_conn, chromium_path, tmp_path):
    from playwright.sync_api import sync_playwright

    (sql_total,) = warehouse_conn.execute("SELECT COALESCE(SUM(billed_cost), 0) FROM marts.fct_cost_daily").fetchone()
    expected_text = f"{cents(sql_total):,.2f}"  # the chart's y_axis_format is ",.2f"
    n_charts = len(deployed_superset["charts"])
    screenshot = tmp_path / "overview.png"
    t0 = time.monotonic()
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(chromium_path),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1600, "height": 1400},
        )
        try:
            page = context.new_page()
            browser_login(page, superset_instance)

            page.goto(f"{superset_instance.url}/superset/dashboard/overview/", wait_until="domcontentloaded")
            page.wait_for_selector('[data-test="chart-grid-component"]', timeout=90_000)
            page.wait_for_function(
                """(n) => {
                    const slices = [...document.querySelectorAll('[data-test="slice-container"]')];
                    if (slices.length < n) return false;
                    if (document.querySelector('[data-test="loading-indicator"]')) return false;
                    return slices.every(s => s.querySelector('canvas, svg, table, .header-line'));
                }""",
                arg=n_charts,
                timeout=90_000,
            )
            names = page.eval_on_selector_all(
                "[data-test-chart-name]", "els => els.map(e => e.getAttribute('data-test-chart-name'))"
            )
            big_number = page.locator('[data-test-chart-name="Total spend"] .header-line').inner_text()
            errors = page.locator('[data-test="slice-container"] .alert, [role="alert"]').count()
            page.wait_for_timeout(2000)  # let the ECharts entry animations finish before the screenshot
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            context.close()
    print(f"\n[superset] browser check {time.monotonic() - t0:.1f} s, screenshot {screenshot}")
    assert {"Total spend", "Daily spend by provider", "Budget status", "Cluster CPU utilisation"} <= set(names)
    assert big_number.strip() == expected_text
    assert errors == 0
    assert screenshot.stat().st_size > 10_000
