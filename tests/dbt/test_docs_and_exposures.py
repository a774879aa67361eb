"""dbt docs and exposures: `dbt docs generate` works on the built demo warehouse and its catalog has every mart
column; every Superset dashboard in superset/bundle is a dbt exposure that depends on exactly the marts its
charts query (read from the bundle's chart -> dataset references, not from the exposure file)."""

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, run_cli

BUNDLE = ROOT / "superset" / "bundle"


def dashboard_tables() -> dict[str, set[str]]:
    """Dashboard slug -> the warehouse tables its charts query, from the bundle files."""
    datasets = {}
    for path in (BUNDLE / "datasets").rglob("*.yaml"):
        ds = yaml.safe_load(path.read_text())
        datasets[ds["uuid"]] = ds["table_name"]
    charts = {}
    for path in (BUNDLE / "charts").glob("*.yaml"):
        chart = yaml.safe_load(path.read_text())
        charts[chart["uuid"]] = datasets[chart["dataset_uuid"]]
    out = {}
    for path in (BUNDLE / "dashboards").glob("*.yaml"):
        dash = yaml.safe_load(path.read_text())
        out[dash["slug"]] = {charts[node["meta"]["uuid"]] for node in dash["position"].values()
                             if isinstance(node, dict) and node.get("type") == "CHART"}
    return out


@pytest.fixture(scope="module")
def docs_target(built_warehouse, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("docs-target")
    run_cli("dbt", "docs", "generate", "--target-path", str(target), url=built_warehouse.url)
    return target


def test_docs_generate_catalogs_every_mart_column(docs_target: Path):
    target = docs_target
    catalog = json.loads((target / "catalog.json").read_text())
    manifest = json.loads((target / "manifest.json").read_text())
    assert (target / "index.html").exists()
    marts = {uid: n for uid, n in manifest["nodes"].items()
             if n["resource_type"] == "model" and n["schema"] == "marts"}
    assert len(marts) >= 5
    for uid, node in marts.items():
        assert uid in catalog["nodes"], f"{node['name']} is not in the docs catalog"
        catalogued = {c.lower() for c in catalog["nodes"][uid]["columns"]}
        documented = {c for c, col in node["columns"].items() if col.get("description", "").strip()}
        assert catalogued == documented, f"{node['name']}: undocumented {catalogued - documented}, " \
                                         f"stale {documented - catalogued}"


def test_every_superset_dashboard_is_an_exposure_on_the_marts_it_queries(docs_target: Path):
    manifest = json.loads((docs_target / "manifest.json").read_text())
    exposures = {e["config"]["meta"].get("superset_dashboard_slug") or e["meta"].get("superset_dashboard_slug"): e
                 for e in manifest["exposures"].values() if e["type"] == "dashboard"}
    tables = dashboard_tables()
    assert tables, "no dashboard in the bundle"
    assert set(exposures) == set(tables)
    for slug, wanted in tables.items():
        depends = {manifest["nodes"][uid]["name"] for uid in exposures[slug]["depends_on"]["nodes"]}
        assert depends == wanted, slug
        assert exposures[slug]["owner"]["email"] and exposures[slug]["description"].strip()
