"""Config loading: interpolation and validation errors that name the key and what was expected."""

from pathlib import Path

import pytest
import yaml

from openfinops.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "openfinops.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def base() -> dict:
    return {"sources": [{"id": "demo-aws", "type": "demo", "options": {"providers": ["aws"]}}]}


def test_default_config_is_valid():
    cfg = load_config(ROOT / "config" / "openfinops.yaml", env={})
    assert {s.id for s in cfg.sources} >= {"demo-aws", "demo-azure", "demo-gcp"}
    assert all(b.thresholds == sorted(b.thresholds) for b in cfg.budgets)
    assert cfg.alert_channels[0].url.startswith("http://127.0.0.1")  # the ${VAR:-default} fallback


def test_env_interpolation(tmp_path):
    data = base()
    data["alert_channels"] = [{"id": "hook", "type": "webhook", "url": "${HOOK_URL}"}]
    cfg = load_config(write(tmp_path, data), env={"HOOK_URL": "http://127.0.0.1:9999/x"})
    assert cfg.alert_channels[0].url == "http://127.0.0.1:9999/x"


def test_env_default_applies_when_unset_or_empty(tmp_path):
    """`${VAR:-default}` as in the shell and docker compose (which passes unset variables as empty strings)."""
    data = base()
    data["alert_channels"] = [{"id": "hook", "type": "webhook", "url": "${HOOK_URL:-http://127.0.0.1:8099/x}"}]
    for env in ({}, {"HOOK_URL": ""}):
        assert load_config(write(tmp_path, data), env=env).alert_channels[0].url == "http://127.0.0.1:8099/x"
    got = load_config(write(tmp_path, data), env={"HOOK_URL": "https://hooks.example.com/y"})
    assert got.alert_channels[0].url == "https://hooks.example.com/y"


def test_missing_env_names_key_and_variable(tmp_path):
    data = base()
    data["alert_channels"] = [{"id": "hook", "type": "webhook", "url": "${HOOK_URL}"}]
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, data), env={})
    assert "alert_channels[0].url" in str(err.value) and "HOOK_URL" in str(err.value)


@pytest.mark.parametrize(("mutate", "key", "expected"), [
    (lambda d: d["sources"][0].update(type="nope"), "sources[0].type", "expected one of ['aws_cost_explorer', "),
    (lambda d: d["sources"][0].update(id="Bad Id"), "sources[0].id", "pattern"),
    (lambda d: d["sources"].append(dict(d["sources"][0])), "sources", "duplicate id 'demo-aws'"),
    (lambda d: d.update(budgets=[{"id": "b", "name": "B", "amount": -5, "currency": "USD"}]), "budgets[0].amount",
     "greater than 0"),
    (lambda d: d.update(budgets=[{"id": "b", "name": "B", "amount": 5, "currency": "usd"}]), "budgets[0].currency",
     "pattern"),
    (lambda d: d.update(budgets=[{"id": "b", "name": "B", "amount": 5, "currency": "USD", "period": "weekly"}]),
     "budgets[0].period", "'monthly', 'quarterly' or 'annual'"),
    (lambda d: d.update(budgets=[{"id": "b", "name": "B", "amount": 5, "currency": "USD", "channels": ["x"]}]),
     "budgets[0].channels", "unknown channel"),
    (lambda d: d["sources"][0].update(colour="blue"), "sources[0].colour", "Extra inputs are not permitted"),
    (lambda d: d.update(alert_channels=[{"id": "m", "type": "email"}]), "alert_channels[0]", "needs `to`"),
])
def test_validation_errors_name_key_and_expectation(tmp_path, mutate, key, expected):
    data = base()
    mutate(data)
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, data), env={})
    message = str(err.value)
    assert key in message, message
    assert expected in message, message
    assert str(tmp_path) in message


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml", env={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad, env={})


def test_lookback_widens_the_window_backwards():
    from datetime import date

    from collectors.core.base import Window
    from openfinops.config import SourceConfig
    from openfinops.pipeline import effective_window

    window = Window.from_dates(date(2026, 11, 5), date(2026, 11, 6))
    assert effective_window(SourceConfig(id="s", type="demo"), window) == window
    widened = effective_window(SourceConfig(id="s", type="demo", lookback_days=3), window)
    assert widened == Window.from_dates(date(2026, 11, 2), date(2026, 11, 6))


def test_lookback_defaults_to_the_collector_type(monkeypatch):
    """Without `lookback_days` in config, the collector type's default applies; an explicit 0 turns it off."""
    from datetime import date

    from collectors.core.base import Window
    from collectors.sources.demo import DemoCollector
    from openfinops.config import SourceConfig
    from openfinops.pipeline import effective_window

    monkeypatch.setattr(DemoCollector, "default_lookback_days", 2)
    window = Window.from_dates(date(2026, 11, 5), date(2026, 11, 6))
    assert effective_window(SourceConfig(id="s", type="demo"), window) == Window.from_dates(
        date(2026, 11, 3), date(2026, 11, 6))
    assert effective_window(SourceConfig(id="s", type="demo", lookback_days=0), window) == window


def test_scope_teams_and_environments_match_case_insensitively(tmp_path):
    """Cost lines carry team / environment trimmed and lower-cased (int_focus_costs), and dbt's cost_scope_matches
    compares them as they are: every scope (budget, shared-cost rule, AI/ML) is stored the same way."""
    data = base()
    scope = {"teams": [" Payments", "ML "], "environments": ["Prod"], "providers": ["AWS"]}
    data["budgets"] = [{"id": "b", "name": "B", "amount": 10, "currency": "USD", "scope": scope}]
    data["showback"] = {"shared_costs": [{"id": "r", "description": "R", "method": "even", "scope": scope}]}
    data["ai_ml"] = {"scopes": [scope]}
    cfg = load_config(write(tmp_path, data), env={})
    for stored in (cfg.budgets[0].scope, cfg.showback.shared_costs[0].scope, cfg.ai_ml.scopes[0]):
        assert (stored.teams, stored.environments) == (["payments", "ml"], ["prod"])
        assert stored.providers == ["AWS"]  # provider names are FOCUS values, compared exactly
