"""Access as code: superset/access.yaml + the bundle + the teams of config/openfinops.yaml -> one plan of roles,
dashboards, dataset permissions and row-level security, then applied to Superset through its REST API.

A role's dataset permissions are computed, never typed: `datasource_access` on exactly the datasets of the charts on
its dashboards (`[<database name>].[<table>](id:<dataset id>)`), plus `database_access` on the warehouse database
(`[<database name>].(id:<database id>)`) for SQL Lab roles. Every apply sets them to exactly that list, so a dataset
that leaves a role's dashboards leaves the role.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .bundle import ROOT, SUPERSET_DIR, Bundle
from .client import DeployError, SupersetClient

log = logging.getLogger("openfinops.superset.access")

ACCESS_FILE = SUPERSET_DIR / "access.yaml"
ALL_DASHBOARDS = "all"
SQL_LAB_ROLE = "sql_lab"  # Superset's built-in role with the SQL Lab views
RLS_NAME_PREFIX = "OpenFinOps rows: "  # rules with this name prefix are managed (created, updated, deleted) by deploy
DATASOURCE_ACCESS = "datasource_access"
DATABASE_ACCESS = "database_access"
_TOP_KEYS = {"user_base_roles", "roles", "team_roles"}
_ROLE_KEYS = {"dashboards", "sql_lab"}
_TEAM_KEYS = {"dashboards", "row_filter_column"}


class AccessPolicyError(DeployError):
    """access.yaml (or a user's roles) does not fit the bundle or the config; ``errors`` lists every problem."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("invalid access policy:\n  - " + "\n  - ".join(self.errors))


@dataclass(frozen=True)
class Team:
    """A `teams[]` entry of the config: ``id`` is the `team` value in the marts, ``role`` its Superset role."""

    id: str
    role: str


@dataclass(frozen=True)
class RolePlan:
    name: str
    dashboards: tuple[str, ...]  # slugs, in policy order
    datasets: tuple[str, ...]  # dataset uuids behind the charts of those dashboards, sorted
    sql_lab: bool = False
    team_id: str | None = None
    row_filter_column: str | None = None  # RLS: rows where this column equals team_id
    row_filter_datasets: tuple[str, ...] = ()  # datasets of its dashboards (charts and native filters) with the column

    @property
    def row_filter(self) -> str | None:
        """The RLS clause, e.g. `team = 'payments'` (None when nothing is filtered)."""
        if not (self.team_id and self.row_filter_column and self.row_filter_datasets):
            return None
        return f"{self.row_filter_column} = {_sql_literal(self.team_id)}"

    @property
    def demo_username(self) -> str:
        """The demo user of this role: `cfo`, `analyst`, `team-payments`, ..."""
        return f"team-{self.team_id}" if self.team_id else self.name.lower().replace(" ", "-")


@dataclass(frozen=True)
class AccessPlan:
    source: Path
    roles: dict[str, RolePlan]
    user_base_roles: tuple[str, ...]
    database_uuids: tuple[str, ...] = field(default=())  # databases SQL Lab roles get database_access on

    def dashboard_roles(self) -> dict[str, list[str]]:
        """slug -> names of the roles that may open it."""
        out: dict[str, list[str]] = {}
        for role in self.roles.values():
            for slug in role.dashboards:
                out.setdefault(slug, []).append(role.name)
        return out

    def superset_roles(self, roles: Iterable[str]) -> list[str]:
        """Every Superset role a user holding ``roles`` gets: the base roles, the roles, and `sql_lab` when one of
        them has SQL Lab."""
        roles = list(roles)
        extra = [SQL_LAB_ROLE] if any(self.roles[r].sql_lab for r in roles if r in self.roles) else []
        return list(dict.fromkeys([*self.user_base_roles, *roles, *extra]))


def teams_from_config(cfg: Any) -> list[Team]:
    """Teams of an OpenFinOpsConfig (``cfg.teams``, role name from ``cfg.team_role``)."""
    return [Team(id=t.id, role=cfg.team_role(t)) for t in getattr(cfg, "teams", [])]


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _dashboards(value: Any, key: str, slugs: list[str], where: str, errors: list[str]) -> tuple[str, ...]:
    if value == ALL_DASHBOARDS:
        return tuple(slugs)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        errors.append(f"{where}: {key}: expected a list of dashboard slugs or `{ALL_DASHBOARDS}`")
        return ()
    out = []
    for i, slug in enumerate(value):
        if slug not in slugs:
            errors.append(f"{where}: {key}[{i}]: unknown dashboard {slug!r}; the bundle has {sorted(slugs)}")
        elif slug not in out:
            out.append(slug)
    return tuple(out)


def load_policy(bundle: Bundle, teams: list[Team], path: str | Path = ACCESS_FILE) -> AccessPlan:
    """Read access.yaml and resolve it against the bundle and the configured teams. Raises AccessPolicyError naming
    the file and key of every problem (unknown slug, unknown key, a dashboard no role lists, an unpublished
    dashboard a role needs, a team role clashing with a fixed role)."""
    path = Path(path)
    where = str(path.resolve().relative_to(ROOT)) if path.resolve().is_relative_to(ROOT) else str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AccessPolicyError([f"{path}: access policy file not found"]) from None
    except yaml.YAMLError as exc:
        raise AccessPolicyError([f"{path}: not valid YAML ({exc})"]) from None
    if not isinstance(raw, dict):
        raise AccessPolicyError([f"{path}: expected a mapping at the top level"])
    errors = [f"{where}: unknown key {k!r} (expected {sorted(_TOP_KEYS)})" for k in raw if k not in _TOP_KEYS]

    dashboards = bundle.dashboards_by_slug()
    slugs = list(dashboards)
    datasets = bundle.by_uuid("datasets")

    def datasets_of(role_slugs: tuple[str, ...]) -> tuple[str, ...]:
        out: set[str] = set()
        for slug in role_slugs:
            out |= bundle.dashboard_datasets(dashboards[slug][1])
        return tuple(sorted(out))

    base = raw.get("user_base_roles", ["Gamma"])
    if not isinstance(base, list) or not all(isinstance(b, str) and b for b in base):
        errors.append(f"{where}: user_base_roles: expected a list of Superset role names")
        base = []

    roles: dict[str, RolePlan] = {}
    fixed = raw.get("roles") or {}
    if not isinstance(fixed, dict):
        errors.append(f"{where}: roles: expected a mapping of role name -> settings")
        fixed = {}
    for name, spec in fixed.items():
        key = f"roles.{name}"
        if not isinstance(spec, dict):
            errors.append(f"{where}: {key}: expected a mapping with `dashboards`")
            continue
        errors += [
            f"{where}: {key}: unknown key {k!r} (expected {sorted(_ROLE_KEYS)})" for k in spec if k not in _ROLE_KEYS
        ]
        role_slugs = _dashboards(spec.get("dashboards"), f"{key}.dashboards", slugs, where, errors)
        sql_lab = spec.get("sql_lab", False)
        if not isinstance(sql_lab, bool):
            errors.append(f"{where}: {key}.sql_lab: expected true or false")
            sql_lab = False
        roles[str(name)] = RolePlan(str(name), role_slugs, datasets_of(role_slugs), sql_lab=sql_lab)

    team_spec = raw.get("team_roles")
    if teams and team_spec is None:
        errors.append(f"{where}: team_roles: missing, but the config has teams {[t.id for t in teams]}")
    if team_spec is not None:
        if not isinstance(team_spec, dict):
            errors.append(f"{where}: team_roles: expected a mapping with `dashboards`")
            team_spec = {}
        errors += [
            f"{where}: team_roles: unknown key {k!r} (expected {sorted(_TEAM_KEYS)})"
            for k in team_spec
            if k not in _TEAM_KEYS
        ]
        team_slugs = _dashboards(team_spec.get("dashboards"), "team_roles.dashboards", slugs, where, errors)
        column = team_spec.get("row_filter_column")
        if column is not None and not (isinstance(column, str) and column.isidentifier()):
            errors.append(f"{where}: team_roles.row_filter_column: expected a column name")
            column = None
        team_datasets = datasets_of(team_slugs)
        # row filters also cover the datasets native filters read, so a filter's values show only the team's
        read = set(team_datasets).union(*(bundle.filter_datasets(dashboards[s][1]) for s in team_slugs))
        filtered = tuple(
            u
            for u in sorted(read)
            if column and column in {c.get("column_name") for c in datasets[u][1].get("columns") or []}
        )
        for team in teams:
            if team.role in roles:
                errors.append(f"{where}: roles.{team.role}: clashes with the role of team {team.id!r}")
                continue
            roles[team.role] = RolePlan(
                team.role,
                team_slugs,
                team_datasets,
                team_id=team.id,
                row_filter_column=column,
                row_filter_datasets=filtered,
            )

    reached: dict[str, list[str]] = {}
    for role in roles.values():
        for slug in role.dashboards:
            reached.setdefault(slug, []).append(role.name)
    for slug, (rel, cfg) in dashboards.items():
        if slug not in reached:
            errors.append(
                f"{where}: no role lists dashboard {slug!r} ({rel}); without roles DASHBOARD_RBAC would open it to "
                "every role that can read one of its datasets"
            )
        elif cfg.get("published") is not True:
            errors.append(f"{rel}: `published` must be true: DASHBOARD_RBAC hides unpublished dashboards from roles")
    if errors:
        raise AccessPolicyError(errors)

    sql_lab_dbs = {str(datasets[u][1].get("database_uuid")) for r in roles.values() if r.sql_lab for u in r.datasets}
    if any(r.sql_lab for r in roles.values()) and not sql_lab_dbs:
        sql_lab_dbs = set(bundle.by_uuid("databases"))
    return AccessPlan(path, roles, tuple(base), tuple(sorted(sql_lab_dbs)))


# ------------------------------------------------------------------------------------------------- applying
def dataset_perm(bundle: Bundle, dataset_uuid: str, dataset_id: int) -> str:
    """Superset's view-menu name of a dataset: `[<database name>].[<table>](id:<dataset id>)`."""
    cfg = bundle.by_uuid("datasets")[dataset_uuid][1]
    db_name = bundle.by_uuid("databases")[str(cfg["database_uuid"])][1]["database_name"]
    return f"[{db_name}].[{cfg['table_name']}](id:{dataset_id})"


def database_perm(bundle: Bundle, database_uuid: str, database_id: int) -> str:
    """Superset's view-menu name of a database: `[<database name>].(id:<database id>)`."""
    return f"[{bundle.by_uuid('databases')[database_uuid][1]['database_name']}].(id:{database_id})"


def ensure_roles(client: SupersetClient, names: Iterable[str]) -> dict[str, int]:
    """Role name -> id, creating the missing ones (POST /api/v1/security/roles/)."""
    existing = {r["name"]: r["id"] for r in client.list_all("security/roles", ["id", "name"])}
    out = {}
    for name in names:
        if name not in existing:
            existing[name] = client.post("/api/v1/security/roles/", json={"name": name}).json()["id"]
            log.info("created role %s", name)
        out[name] = existing[name]
    return out


def _set_role_permissions(client: SupersetClient, role_id: int, pvm_ids: set[int]) -> bool:
    current = client.get(f"/api/v1/security/roles/{role_id}/permissions/").json()["result"]
    if {p["id"] for p in current} == pvm_ids:
        return False
    # replaces the role's permissions with exactly this list
    client.post(f"/api/v1/security/roles/{role_id}/permissions", json={"permission_view_menu_ids": sorted(pvm_ids)})
    return True


def apply_access(
    client: SupersetClient,
    plan: AccessPlan,
    bundle: Bundle,
    dashboard_ids: dict[str, int],
    dataset_ids: dict[str, int],
    database_ids: dict[str, int],
) -> dict[str, Any]:
    """Roles, their exact permissions, the managed RLS rules and every bundle dashboard's roles. Idempotent: a
    second run finds everything as planned and changes nothing. Returns {"roles": {name: id},
    "permissions": {role: [permission on view menu, ...]}, "rls": {rule name: id}, "dashboard_roles": {slug: [...]}}.
    """
    role_ids = ensure_roles(client, plan.roles)

    pvms = {
        (p["permission"]["name"], p["view_menu"]["name"]): p["id"]
        for p in client.list_all("security/permissions-resources", ["id", "permission.name", "view_menu.name"])
    }
    wanted: dict[str, list[tuple[str, str]]] = {}
    for role in plan.roles.values():
        perms = [(DATASOURCE_ACCESS, dataset_perm(bundle, u, dataset_ids[u])) for u in role.datasets]
        if role.sql_lab:
            perms += [(DATABASE_ACCESS, database_perm(bundle, u, database_ids[u])) for u in plan.database_uuids]
        missing = [f"{p} on {v}" for p, v in perms if (p, v) not in pvms]
        if missing:
            raise DeployError(f"role {role.name}: Superset has no permission {missing} after the import")
        wanted[role.name] = perms
        if _set_role_permissions(client, role_ids[role.name], {pvms[p] for p in perms}):
            log.info("role %s: permissions set to %d dataset/database grants", role.name, len(perms))

    rls_ids = _apply_row_level_security(client, plan, role_ids, dataset_ids)

    dashboard_roles = plan.dashboard_roles()
    for slug, dash_id in dashboard_ids.items():
        names = dashboard_roles.get(slug, [])
        current = client.get(f"/api/v1/dashboard/{dash_id}").json()["result"].get("roles") or []
        if {r["id"] for r in current} != {role_ids[n] for n in names}:
            client.put(f"/api/v1/dashboard/{dash_id}", json={"roles": sorted(role_ids[n] for n in names)})
            log.info("dashboard %s: roles %s", slug, ", ".join(names))
    return {
        "roles": role_ids,
        "permissions": {name: sorted(f"{p} on {v}" for p, v in perms) for name, perms in wanted.items()},
        "rls": rls_ids,
        "dashboard_roles": {slug: sorted(dashboard_roles.get(slug, [])) for slug in dashboard_ids},
    }


def _apply_row_level_security(
    client: SupersetClient, plan: AccessPlan, role_ids: dict[str, int], dataset_ids: dict[str, int]
) -> dict[str, int]:
    """One `Regular` rule per filtered role, named RLS_NAME_PREFIX + role. Rules of the same group key are ORed,
    so a user in two team roles sees both teams. A managed rule whose role left the plan is deleted and that
    role's permissions are cleared (else it would read every team's rows)."""
    desired = {}
    for role in plan.roles.values():
        if role.row_filter:
            desired[RLS_NAME_PREFIX + role.name] = {
                "filter_type": "Regular",
                "tables": sorted(dataset_ids[u] for u in role.row_filter_datasets),
                "roles": [role_ids[role.name]],
                "group_key": role.row_filter_column,
                "clause": role.row_filter,
                "description": f"OpenFinOps: {role.name} sees only its own rows (superset/access.yaml)",
            }
    columns = ["id", "name", "filter_type", "clause", "group_key", "tables.id", "roles.id", "roles.name"]
    existing = {r["name"]: r for r in client.list_all("rowlevelsecurity", columns)}
    out = {}
    for name, rule in desired.items():
        have = existing.get(name)
        if have is None:
            out[name] = client.post("/api/v1/rowlevelsecurity/", json={"name": name, **rule}).json()["id"]
            log.info("created row-level security rule %r", name)
            continue
        out[name] = have["id"]
        same = (
            have.get("filter_type") == rule["filter_type"]
            and have.get("clause") == rule["clause"]
            and (have.get("group_key") or None) == rule["group_key"]
            and sorted(t["id"] for t in have.get("tables") or []) == rule["tables"]
            and sorted(r["id"] for r in have.get("roles") or []) == rule["roles"]
        )
        if not same:
            client.put(f"/api/v1/rowlevelsecurity/{have['id']}", json=rule)
            log.info("updated row-level security rule %r", name)
    for name, have in existing.items():
        if name.startswith(RLS_NAME_PREFIX) and name not in desired:
            for role in have.get("roles") or []:
                if role["name"] not in plan.roles:
                    _set_role_permissions(client, role["id"], set())
                    log.info("role %s is no longer in the policy: its permissions were cleared", role["name"])
            client.delete(f"/api/v1/rowlevelsecurity/{have['id']}")
            log.info("deleted row-level security rule %r", name)
    return out
