"""The example configs validate and every source in them builds its collector and names its raw tables (no network,
no credentials: clients are only built when a window is collected)."""

from pathlib import Path

import pytest

from collectors.registry import COLLECTOR_TYPES
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


def test_cloud_example_shows_every_billing_source_type():
    cfg = load_config(Path(__file__).resolve().parents[2] / "config" / "examples" / "cloud-billing.yaml")
    assert {s.type for s in cfg.sources} == set(COLLECTOR_TYPES) - {"demo"}
