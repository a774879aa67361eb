"""The example configs validate and every source in them builds its collector and names its raw tables (no network,
no credentials: clients are only built when a window is collected)."""

from pathlib import Path

import pytest

from collectors.core.registry import collector_types
from openfinops.collect_context import build_collector
from openfinops.config import load_config

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "config" / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_config_builds_every_collector(path):
    cfg = load_config(path)
    assert cfg.sources
    for source in cfg.sources:
        datasets = build_collector(cfg, source).datasets()
        assert datasets and all(d.table for d in datasets), source.id


def test_every_source_type_has_an_example():
    """config/examples/ shows every built-in type but the demo (a new source adds its own example file)."""
    shown = {s.type for path in EXAMPLES for s in load_config(path).sources}
    assert shown == set(collector_types()) - {"demo"}
