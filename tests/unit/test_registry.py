"""The collector registry: built-in types are the modules of collectors/sources (helpers start with `_`), plug-ins
come from the `openfinops.collectors` entry point group of an installed distribution - here a real one on sys.path
(a dist-info folder with entry_points.txt, as pip writes it)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from collectors.core import registry
from tests.conftest import ROOT


@pytest.fixture
def fresh_registry():
    registry.collector_types.cache_clear()
    registry.collector_class.cache_clear()
    yield registry
    registry.collector_types.cache_clear()
    registry.collector_class.cache_clear()


def install(site: Path, name: str, module: str, source: str, entry: str) -> None:
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[openfinops.collectors]\n{entry}\n")


PLUGIN = """
from collectors.core.base import Collector, Column, Dataset

USAGE = Dataset(name="usage", table="acme_usage", time_column="usage_date",
                columns=(Column("usage_date", "date", nullable=False), Column("cost", "numeric")))


class AcmeCollector(Collector):
    type = "acme_billing"

    def datasets(self):
        return [USAGE]

    def collect(self, dataset, window):
        return iter(())
"""


def test_built_in_types_are_the_source_modules_and_helpers_are_not_types(fresh_registry):
    modules = {p.stem for p in (ROOT / "collectors" / "sources").glob("*.py") if p.stem != "__init__"}
    types = fresh_registry.collector_types()
    assert set(types) == {m for m in modules if not m.startswith("_")}
    assert "_aws_data_export_cur2" in modules and "_aws_data_export_cur2" not in types
    for source_type in types:
        assert fresh_registry.collector_class(source_type).type == source_type
    with pytest.raises(KeyError, match="unknown source type 'nope'; expected one of"):
        fresh_registry.collector_class("nope")


def test_a_plugin_adds_a_type_with_no_change_here(fresh_registry, tmp_path, monkeypatch):
    install(tmp_path, "acme-openfinops", "acme_plugin", PLUGIN, "acme_billing = acme_plugin:AcmeCollector")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert fresh_registry.collector_types()["acme_billing"] == "acme_plugin:AcmeCollector"
    cls = fresh_registry.collector_class("acme_billing")
    assert cls.__name__ == "AcmeCollector" and cls.type == "acme_billing"
    assert "acme_usage" in {d.table for d in fresh_registry.all_datasets()}  # sync-config creates its table
    sys.modules.pop("acme_plugin", None)


def test_a_plugin_may_not_take_a_built_in_name_or_point_at_something_else(fresh_registry, tmp_path, monkeypatch):
    install(tmp_path, "evil", "evil_plugin", PLUGIN, "demo = evil_plugin:AcmeCollector")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(KeyError, match=r"entry point 'demo' = 'evil_plugin:AcmeCollector' .*distribution evil.*"
                                       r"built in"):
        fresh_registry.collector_types()


def test_a_plugin_entry_point_must_name_a_collector_of_its_type(fresh_registry, tmp_path, monkeypatch):
    install(tmp_path, "wrong", "wrong_plugin", PLUGIN, "other_type = wrong_plugin:AcmeCollector")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TypeError, match="entry point 'other_type' = 'wrong_plugin:AcmeCollector': expected a "
                                        "Collector subclass with type = 'other_type'"):
        fresh_registry.collector_class("other_type")
    sys.modules.pop("wrong_plugin", None)


def _imports(path: Path) -> set[str]:
    import ast

    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_sources_import_only_the_core_and_their_own_helpers_and_the_platform_only_the_core():
    # the demo writes these sources' raw tables
    impersonated = {"collectors.sources.databricks_billing", "collectors.sources.snowflake_billing"}
    for path in (ROOT / "collectors" / "sources").glob("*.py"):
        own = {f"collectors.sources._{path.stem}_"}  # a source's helpers are named _<type>_<what>
        if path.stem == "demo":
            own |= impersonated
        for name in _imports(path):
            if name.startswith("collectors.sources"):
                assert any(name.startswith(prefix) for prefix in own), f"{path.name} imports another source: {name}"
    for folder in ("openfinops", "dags"):
        for path in (ROOT / folder).rglob("*.py"):
            bad = {n for n in _imports(path) if n.startswith("collectors") and not n.startswith("collectors.core")}
            assert not bad, f"{path.relative_to(ROOT)} imports a source module: {bad}"
