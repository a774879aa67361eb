"""Load and validate ``config/openfinops.yaml``.

``${NAME}`` is replaced by the environment variable NAME (an error names the key when it is unset);
``${NAME:-default}`` falls back to ``default`` when NAME is unset or empty (as in the shell and docker compose).
Validation errors name the file, the key path and what was expected.
"""

from __future__ import annotations

import os
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "config" / "openfinops.yaml"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_ID = r"^[a-z][a-z0-9_-]{0,62}$"


class ConfigError(ValueError):
    """The config file is missing, unreadable or invalid; the message names the key and what was expected."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Model):
    id: str = Field(pattern=_ID, description="Unique source id; the DAG is collect_<id>.")
    type: str = Field(description="Collector type (see collectors/core/registry.py).")
    description: str = ""
    connection_id: str | None = Field(None, description="Airflow connection id holding the credentials.")
    schedule: str = "@daily"
    start_date: date = date(2026, 1, 1)
    catchup: bool = False
    lookback_days: int | None = Field(
        None, ge=0, le=62,
        description="Re-pull this many days before the window (restated bills); default: the collector type's own "
                    "(3 for the cost APIs and the BigQuery export, 0 for files and the demo).")
    close_days: int | None = Field(
        None, ge=0, le=31,
        description="Re-pull the previous billing period while the window starts within this many days of a new "
                    "month (final-day usage, month-close credits, tax and restatements arrive after the month "
                    "ends); default: the collector type's own (5 for the month-replacing exports and FOCUS files, "
                    "0 where the look-back already covers it).")
    max_reject_ratio: float = Field(0.01, ge=0, le=1)
    max_rejects: int = Field(
        100_000, ge=0,
        description="A load that rejects more records than this stops at once, without reading the rest of the "
                    "source (max_reject_ratio can only be judged at the end).")
    freshness_sla_hours: Decimal = Field(
        Decimal(30), gt=0, le=24 * 62,
        description="Data-freshness SLA: at the end of each day the newest loaded data (the end of the latest "
                    "successful load's window) must be at most this many hours old. Default 30 = one daily "
                    "window plus 6 hours to deliver it (marts.fct_data_health_daily).")
    owner: str = "finops-data"
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        from collectors.core.registry import collector_types

        if value not in collector_types():
            raise ValueError(f"expected one of {sorted(collector_types())}, got {value!r}")
        return value


class ClusterConfig(_Model):
    cluster_id: str = Field(pattern=_ID)
    provider: str
    region: str
    nodes: int = Field(gt=0)
    gpus_per_node: int = Field(8, ge=0)
    gpu_type: str | None = None


class CostScope(_Model):
    """Which cost lines a budget or a shared-cost rule covers. Every listed dimension must match (AND); values within
    one dimension are alternatives (OR); an absent dimension is no restriction. Teams, environments and tags match
    case-insensitively: they are stored trimmed and lower-cased here (the one place: budgets, shared-cost rules and
    AI/ML scopes all reach dbt's ``cost_scope_matches`` through it), as the cost lines' team / environment / tags are
    (tag keys too, e.g. ``CostCenter`` = ``costcenter``)."""

    providers: list[str] | None = None
    billing_account_ids: list[str] | None = None
    sub_account_ids: list[str] | None = None
    services: list[str] | None = None
    service_categories: list[str] | None = None
    sources: list[str] | None = None
    teams: list[str] | None = None
    environments: list[str] | None = None
    tags: dict[str, list[str]] | None = Field(
        None, description="Tag key -> accepted values, e.g. {cost-center: [cc-100, cc-200]}; keys ANDed, values ORed.")

    @field_validator("teams", "environments")
    @classmethod
    def _case_insensitive(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [v.strip().lower() for v in value]

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        if value is None:
            return None
        if any(not k.strip() or not v for k, v in value.items()):
            raise ValueError("expected tag key -> non-empty list of values")
        return {k.strip().lower(): [x.strip().lower() for x in v] for k, v in value.items()}


class BudgetConfig(_Model):
    id: str = Field(pattern=_ID)
    name: str
    amount: Decimal = Field(gt=0, description="Budget per period, in `currency`.")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    period: Literal["monthly", "quarterly", "annual"] = "monthly"
    start_month: int = Field(1, ge=1, le=12, description="First month of a quarterly/annual period (fiscal year).")
    scope: CostScope = Field(default_factory=CostScope)
    thresholds: list[int] = Field(default_factory=lambda: [50, 80, 100],
                                  description="Percentages of `amount` that alert when actual spend reaches them.")
    forecast_thresholds: list[int] = Field(
        default_factory=lambda: [100],
        description="Percentages of `amount` that alert when the forecast to period end reaches them.")
    channels: list[str] = Field(default_factory=list)

    @field_validator("thresholds", "forecast_thresholds")
    @classmethod
    def _thresholds(cls, value: list[int]) -> list[int]:
        if not value or any(t <= 0 or t > 1000 for t in value):
            raise ValueError("expected a non-empty list of percentages between 1 and 1000")
        return sorted(set(value))


class AlertChannelConfig(_Model):
    id: str = Field(pattern=_ID)
    type: Literal["slack", "webhook", "email"]
    url: str | None = None
    to: list[str] | None = None
    connection_id: str | None = None

    @model_validator(mode="after")
    def _target(self) -> AlertChannelConfig:
        if self.type in ("slack", "webhook") and not (self.url or self.connection_id):
            raise ValueError(f"a {self.type} channel needs `url` or `connection_id`")
        if self.type == "email" and not self.to:
            raise ValueError("an email channel needs `to` (a list of addresses)")
        return self


class SharedCostRule(_Model):
    """A shared cost (e.g. a platform account) re-allocated to teams in the showback mart. Per billing month and
    currency, the in-scope cost is taken away from its own team and split among the recipient teams:
    ``proportional`` to each recipient's direct (not shared) effective cost that month, ``even``ly, or by
    ``fixed`` weights. Allocated totals always equal the original total."""

    id: str = Field(pattern=_ID)
    description: str = ""
    scope: CostScope = Field(description="The cost lines that are shared.")
    method: Literal["proportional", "even", "fixed"] = "proportional"
    recipients: list[str] | None = Field(
        None, description="Teams that receive a share (default: every team with direct cost that month).")
    weights: dict[str, Decimal] | None = Field(None, description="Team -> weight, for method `fixed`.")

    @model_validator(mode="after")
    def _weights(self) -> SharedCostRule:
        if self.method == "fixed" and not self.weights:
            raise ValueError("method fixed needs `weights` (team -> weight)")
        if self.weights is not None and (self.method != "fixed" or any(w <= 0 for w in self.weights.values())):
            raise ValueError("`weights` are only for method fixed, and must be > 0")
        return self


class ShowbackConfig(_Model):
    """Showback / chargeback per team (the ``team`` tag; lines without one are team ``untagged``)."""

    shared_costs: list[SharedCostRule] = Field(default_factory=list)


Severity = Literal["low", "medium", "high", "critical"]


class AnomalyConfig(_Model):
    """Daily cost anomalies per provider x sub account x service (see marts.fct_cost_anomalies)."""

    baseline_days: int = Field(28, ge=7, le=365, description="Trailing days the baseline is computed from.")
    min_history_days: int = Field(14, ge=3, description="Fewer baseline days with data: no verdict.")
    min_cost_delta: Decimal = Field(Decimal(100), ge=0, description="Dollar floor: smaller deviations never fire.")
    alert_min_severity: Severity = Field("high", description="Anomalies at or above this severity are alerted.")
    channels: list[str] = Field(default_factory=list, description="alert_channels ids anomalies are sent to.")


class AlertPolicyConfig(_Model):
    """Which recorded alerts are sent. Every alert is recorded; only alerts about recent spend page people."""

    notify_within_days: int = Field(
        7, ge=0, le=3660,
        description="A budget crossing whose period ended, or an anomaly on a day, more than this many days before "
                    "the latest cost data is recorded as history (suppressed_reason) and never sent: a first load "
                    "or a back-fill does not page people about closed periods.")
    data_quality_channels: list[str] | None = Field(
        None, description="alert_channels ids told when a load rejected records (file:line, field, reason in "
                          "raw._rejects); default: anomalies.channels.")


class TeamConfig(_Model):
    """A team of the showback / team views: ``id`` is the value of the ``team`` tag as the marts hold it (lower
    case); Superset gets one role ``Team <name>`` per team, restricted to the team's rows."""

    id: str = Field(pattern=_ID, description="The team tag value (lower case), e.g. `payments`.")
    name: str = Field(min_length=1, max_length=60, description="Display name; the Superset role is `Team <name>`.")


class AiMlValue(_Model):
    """Business value a user attributes to AI/ML work for one month (e.g. revenue of ML features, hours saved x
    rate), optionally for one team. Never estimated by OpenFinOps: without entries the ROI view says `not
    configured`."""

    month: date = Field(description="The month (YYYY-MM-01, or any day in it).")
    amount: Decimal = Field(description="Value in `currency` for that month.")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    team: str | None = Field(None, pattern=_ID, description="The team the value belongs to (default: all teams).")
    description: str = ""

    @field_validator("month")
    @classmethod
    def _first_of_month(cls, value: date) -> date:
        return value.replace(day=1)


class AiMlConfig(_Model):
    """What counts as AI/ML spend (marts.fct_ai_ml_spend_monthly) and the value it brings (fct_ai_ml_roi_monthly).
    A cost line is AI/ML spend when it matches any of ``scopes`` (each scope as in budgets: dimensions ANDed)."""

    scopes: list[CostScope] = Field(
        default_factory=lambda: [CostScope(service_categories=["AI and Machine Learning"]), CostScope(teams=["ml"])],
        description="A line matching any scope is AI/ML spend. Default: FOCUS service category `AI and Machine "
                    "Learning`, or team `ml`.")
    value: list[AiMlValue] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_value(self) -> AiMlConfig:
        seen: set[tuple] = set()
        for i, v in enumerate(self.value):
            key = (v.month, v.team, v.currency)
            if key in seen:
                raise ValueError(f"value[{i}]: a second entry for month {v.month:%Y-%m}, team {v.team or 'all'} "
                                 f"and currency {v.currency}; expected one per month, team and currency")
            seen.add(key)
        return self


SUPERSET_FIXED_ROLES = ("CFO", "COO", "Infrastructure", "ML", "Analyst")


class SupersetUser(_Model):
    """A Superset user created (or updated) by ``superset/deploy.py``. The password is read from the environment
    variable ``password_env`` at deploy time and never written anywhere; leave it out for users who log in through
    an identity provider."""

    username: str = Field(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")
    first_name: str = ""
    last_name: str = ""
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    roles: list[str] = Field(min_length=1, description="CFO, COO, Infrastructure, ML, Analyst or `Team <name>`.")
    password_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class SupersetConfig(_Model):
    users: list[SupersetUser] = Field(default_factory=list)


class WarehouseConfig(_Model):
    connection_id: str = Field("openfinops_warehouse", description="Airflow connection id of the warehouse.")


class OpenFinOpsConfig(_Model):
    warehouse: WarehouseConfig = Field(default_factory=WarehouseConfig)
    sources: list[SourceConfig]
    clusters: list[ClusterConfig] = Field(default_factory=list)
    budgets: list[BudgetConfig] = Field(default_factory=list)
    alert_channels: list[AlertChannelConfig] = Field(default_factory=list)
    showback: ShowbackConfig = Field(default_factory=ShowbackConfig)
    anomalies: AnomalyConfig = Field(default_factory=AnomalyConfig)
    alerts: AlertPolicyConfig = Field(default_factory=AlertPolicyConfig)
    teams: list[TeamConfig] = Field(default_factory=list)
    ai_ml: AiMlConfig = Field(default_factory=AiMlConfig)
    superset: SupersetConfig = Field(default_factory=SupersetConfig)

    def data_quality_channels(self) -> list[str]:
        """Where rejected-record alerts go."""
        chosen = self.alerts.data_quality_channels
        return list(self.anomalies.channels if chosen is None else chosen)

    def team_role(self, team: TeamConfig) -> str:
        """The Superset role of a team."""
        return f"Team {team.name}"

    @model_validator(mode="after")
    def _cross_checks(self) -> OpenFinOpsConfig:
        for kind, items, key in (("sources", self.sources, "id"), ("clusters", self.clusters, "cluster_id"),
                                 ("budgets", self.budgets, "id"), ("alert_channels", self.alert_channels, "id")):
            seen: set[str] = set()
            for item in items:
                value = getattr(item, key)
                if value in seen:
                    raise ValueError(f"{kind}: duplicate {key} {value!r}")
                seen.add(value)
        seen = set()
        for rule in self.showback.shared_costs:
            if rule.id in seen:
                raise ValueError(f"showback.shared_costs: duplicate id {rule.id!r}")
            seen.add(rule.id)
        channels = {c.id for c in self.alert_channels}
        users = [(f"budgets[{i}].channels", b.channels) for i, b in enumerate(self.budgets)]
        users.append(("anomalies.channels", self.anomalies.channels))
        for where, used in users:
            missing = [c for c in used if c not in channels]
            if missing:
                raise ValueError(f"{where}: unknown channel(s) {missing}; "
                                 f"expected ids from alert_channels {sorted(channels)}")
        for kind, values in (("id", [t.id for t in self.teams]), ("name", [t.name for t in self.teams])):
            dupes = sorted({v for v in values if values.count(v) > 1})
            if dupes:
                raise ValueError(f"teams: duplicate {kind} {dupes}")
        team_ids = {t.id for t in self.teams}
        for i, v in enumerate(self.ai_ml.value):
            if v.team is not None and v.team not in team_ids:
                raise ValueError(f"ai_ml.value[{i}].team: unknown team {v.team!r}; expected one of {sorted(team_ids)}")
        roles = {*SUPERSET_FIXED_ROLES, *(self.team_role(t) for t in self.teams)}
        usernames: set[str] = set()
        for i, user in enumerate(self.superset.users):
            if user.username in usernames:
                raise ValueError(f"superset.users[{i}]: duplicate username {user.username!r}")
            usernames.add(user.username)
            unknown = [r for r in user.roles if r not in roles]
            if unknown:
                raise ValueError(f"superset.users[{i}].roles: unknown role(s) {unknown}; expected any of "
                                 f"{sorted(roles)}")
        return self

    def source(self, source_id: str) -> SourceConfig:
        for source in self.sources:
            if source.id == source_id:
                return source
        raise ConfigError(f"no source with id {source_id!r}; configured: {[s.id for s in self.sources]}")


def _interpolate(node: Any, path: str, env: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: _interpolate(v, f"{path}.{k}" if path else str(k), env) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, f"{path}[{i}]", env) for i, v in enumerate(node)]
    if isinstance(node, str):
        def replace(match: re.Match) -> str:
            name, default = match.group(1), match.group(2)
            # as in the shell and docker compose: `:-` takes the default when the variable is unset or empty
            if env.get(name) or (name in env and default is None):
                return env[name]
            if default is not None:
                return default
            raise ConfigError(f"{path}: environment variable {name} is not set (referenced as ${{{name}}}); "
                              f"set it or write ${{{name}:-default}}")
        return _ENV_REF.sub(replace, node)
    return node


def _format_location(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def load_config(path: str | os.PathLike | None = None, env: dict[str, str] | None = None) -> OpenFinOpsConfig:
    """Read, interpolate and validate the config. Raises :class:`ConfigError` with the key path on any problem."""
    path = Path(path or os.environ.get("OPENFINOPS_CONFIG") or DEFAULT_CONFIG)
    env = dict(os.environ if env is None else env)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found (set --config or OPENFINOPS_CONFIG)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        return OpenFinOpsConfig.model_validate(_interpolate(raw, "", env))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            got = "" if err["type"] == "missing" else f" (got {err.get('input')!r})"
            problems.append(f"{_format_location(err['loc'])}: {msg}{got}")
        raise ConfigError(f"{path}: invalid config:\n  " + "\n  ".join(problems)) from None
