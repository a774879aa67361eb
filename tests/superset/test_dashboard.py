"""The bundle and its deployment: validation rules, generated from the specs, zip, idempotent import, no secrets.

Chart numbers against SQL: test_chart_data.py; access: test_access.py; the browser: test_browser.py.

Run: .venv/airflow/bin/python -m pytest tests/superset -q
(OPENFINOPS_TEST_WAREHOUSE_URL=postgresql://... to use a hand-made warehouse instead of `built_warehouse`.)
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "superset" / "bundle"
ACCESS_YAML = REPO / "superset" / "access.yaml"


def copy_bundle(tmp_path: Path) -> Path:
    dst = tmp_path / "bundle"
    shutil.copytree(BUNDLE, dst)
    return dst


# ------------------------------------------------------------------------------------------ (a) validation
def test_bundle_validates(deploy_module):
    bundle = deploy_module.validate_bundle(BUNDLE)
    kinds = {rel.split("/")[0] for rel in bundle.files}
    assert {"databases", "datasets", "charts", "dashboards", "metadata.yaml"} <= kinds
    dashboards = sorted(d["slug"] for d in bundle.of_kind("dashboards").values())
    assert dashboards == ["cfo", "coo", "infrastructure", "ml", "overview", "team"]
    assert len(bundle.of_kind("charts")) >= 50


def test_bundle_is_what_the_specs_generate():
    """superset/bundle and the dbt exposures are generated from superset/dashboards/: no hand edit, no drift."""
    proc = subprocess.run([sys.executable, str(REPO / "superset" / "openfinops_superset" / "generate.py"), "--check"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr


def test_broken_chart_dataset_reference_is_named(deploy_module, tmp_path):
    bundle = copy_bundle(tmp_path)
    path = bundle / "charts" / "overview_budget_status.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["dataset_uuid"] = "00000000-0000-4000-8000-000000000000"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    with pytest.raises(deploy_module.BundleError) as exc:
        deploy_module.validate_bundle(bundle)
    message = str(exc.value)
    assert "Budgets this period" in message and "charts/overview_budget_status.yaml" in message
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
        ("charts/overview_spend_month_to_date.yaml", lambda c: c.update(query_context=None), "needs a query_context"),
        (
            "charts/overview_spend_trend_by_provider.yaml",
            lambda c: c["params"].update(groupby=["no_such_column"]),
            "no_such_column",
        ),
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


def test_deploy_is_idempotent(deploy_module, superset_instance, superset_bundle_dir, deploy_kwargs, deployed_superset):
    client = superset_instance.client()
    before = _inventory(client)
    again = deploy_module.deploy(
        superset_instance.url,
        superset_instance.username,
        superset_instance.password,
        **deploy_kwargs,
    )
    after = _inventory(client)
    assert again == deployed_superset
    assert after == before
    bundle = deploy_module.load_bundle(superset_bundle_dir)
    assert set(deployed_superset["charts"]) == set(bundle.by_uuid("charts"))
    for kind, rows in after.items():
        keys = [k for k, _ in rows]
        assert len(keys) == len(set(keys)), f"duplicate {kind}: {rows}"
    policy = yaml.safe_load(ACCESS_YAML.read_text())
    assert set(policy["roles"]) <= set(deployed_superset["roles"])
    assert {"CFO", "COO", "Infrastructure", "ML", "Analyst"} <= set(deployed_superset["roles"])
    dash_id = deployed_superset["dashboards"]["overview"]
    dash_charts = client.get(f"/api/v1/dashboard/{dash_id}/charts").json()["result"]
    overview = bundle.dashboards_by_slug()["overview"][1]
    assert sorted(c["id"] for c in dash_charts) == sorted(
        deployed_superset["charts"][u] for u in bundle.chart_uuids(overview)
    )


def test_cli_deploy(superset_instance, superset_bundle_dir, deployed_superset):
    proc = superset_instance.run_script("deploy", "--bundle", str(superset_bundle_dir), check=False)
    assert proc.returncode == 0, proc.stderr
    assert "deployed:" in proc.stderr
    bad = superset_instance.run_script("deploy", "--bundle", str(REPO / "no-such-bundle"), check=False)
    assert bad.returncode != 0 and "does not exist" in bad.stderr


def test_deploy_wrong_password_fails_clearly(deploy_module, superset_instance, deploy_kwargs):
    with pytest.raises(deploy_module.DeployError, match="login"):
        deploy_module.deploy(
            superset_instance.url,
            superset_instance.username,
            "wrong-password",
            **deploy_kwargs,
        )


# ------------------------------------------------------------------------------------------ (c) chart data = SQL
# ------------------------------------------------------------------------------------------ (d) no passwords
def _secrets(instance) -> list[str]:
    out = [urlsplit(instance.warehouse_url).password or "", urlsplit(instance.reader_url).password or ""]
    out.append(instance.password)
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


def test_datasets_must_be_contract_marts_and_dashboards_exposures(deploy_module, tmp_path):
    """Against the real dbt manifest: a mart whose contract is off, and a dashboard without its exposure, are named."""
    real = json.loads((REPO / "dbt_project" / "target" / "manifest.json").read_text())
    deploy_module.validate_bundle(BUNDLE, manifest_path=REPO / "dbt_project" / "target" / "manifest.json")
    node = real["nodes"]["model.openfinops.fct_cost_daily"]
    node["config"]["contract"]["enforced"] = False
    del real["exposures"]["exposure.openfinops.superset_team"]
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(real))
    with pytest.raises(deploy_module.BundleError) as exc:
        deploy_module.validate_bundle(BUNDLE, manifest_path=manifest)
    assert "fct_cost_daily is not a contract mart" in str(exc.value)
    assert "dashboard team is not a dbt exposure" in str(exc.value)


def test_readme_lists_every_chart_with_its_mart():
    """The README's "Dashboards by role" tables name every chart of the bundle with the mart it reads, and its
    screenshots exist (no stale line: a chart renamed or moved to another mart fails here)."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Dashboards by role", 1)[1].split("\n## ", 1)[0]
    datasets = {str(d["uuid"]): d["table_name"] for d in
                (yaml.safe_load(p.read_text()) for p in (BUNDLE / "datasets").rglob("*.yaml"))}
    rows = {line.split("|")[1].strip(): line.split("|")[-2].strip() for line in section.splitlines()
            if line.startswith("| ") and line.count("|") >= 4}
    for path in sorted((BUNDLE / "charts").glob("*.yaml")):
        chart = yaml.safe_load(path.read_text())
        assert rows.get(chart["slice_name"]) == f"`{datasets[str(chart['dataset_uuid'])]}`", chart["slice_name"]
    for image in re.findall(r"\]\((docs/screenshots/[^)]+\.png)\)", section):
        assert (REPO / image).stat().st_size > 20_000, image
