"""Access through the API, on a real Superset and the real warehouse (issue #10, point 2).

Expectations are derived from superset/access.yaml, the deployed bundle's YAML and the teams of
config/openfinops.yaml, never from what deploy() returns:
  - each role's demo user opens exactly its dashboards (200) and no other (403/404), and its list shows exactly them;
  - chart data of every chart on its dashboards answers 200; of every chart on a dashboard it cannot open whose
    dataset it may not read, 403, also with that dashboard's (or its own dashboard's) `dashboardId` in form_data;
  - a team user's chart data holds only its team's rows (the Analyst's SQL, re-run with `team = '<id>'`), while the
    Analyst's holds every team;
  - SQL Lab: the Analyst reads marts, is refused on raw.*, alerts.* and any write; other roles get 403;
  - the read-only role itself (psycopg): refused on raw.*, alerts.*, config.*, any write and other databases;
  - deploy refuses the warehouse owner as Superset's database; a re-deploy changes no role, permission, RLS rule,
    dashboard role or user; the demo users file is private and reused; config users get their roles exactly.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import stat
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import yaml
from psycopg import errors as pg_errors

from openfinops.config import load_config

REPO = Path(__file__).resolve().parents[2]
ACCESS_YAML = REPO / "superset" / "access.yaml"
CONFIG = load_config(REPO / "config" / "openfinops.yaml")
POLICY = yaml.safe_load(ACCESS_YAML.read_text())
TEAMS = {f"Team {t.name}": t.id for t in CONFIG.teams}  # role -> team id (the `Team <name>` rule of the issue)
ROLES = [*POLICY["roles"], *TEAMS]
ANALYST = "Analyst"
CENT = Decimal("0.01")


def demo_username(role: str) -> str:
    return f"team-{TEAMS[role]}" if role in TEAMS else role.lower()


# ------------------------------------------------------------------------------------------ expectations
@dataclass
class BundleView:
    """The deployed bundle, read straight from its YAML files."""

    dashboards: dict[str, dict]  # slug -> dashboard YAML
    charts: dict[str, dict]  # uuid -> chart YAML
    datasets: dict[str, dict]  # uuid -> dataset YAML

    def charts_of(self, slug: str) -> list[str]:
        position = self.dashboards[slug]["position"]
        return [n["meta"]["uuid"] for n in position.values() if isinstance(n, dict) and n.get("type") == "CHART"]

    def dataset_of(self, chart_uuid: str) -> str:
        return str(self.charts[chart_uuid]["dataset_uuid"])

    def has_column(self, dataset_uuid: str, column: str) -> bool:
        return column in {c["column_name"] for c in self.datasets[dataset_uuid]["columns"]}


@dataclass
class RoleExpectation:
    role: str
    dashboards: set[str]
    datasets: set[str]
    team: str | None
    sql_lab: bool


@pytest.fixture(scope="module")
def bundle_view(superset_bundle_dir) -> BundleView:
    def load(kind: str) -> list[dict]:
        return [yaml.safe_load(p.read_text()) for p in sorted((superset_bundle_dir / kind).rglob("*.yaml"))]

    return BundleView(
        dashboards={d["slug"]: d for d in load("dashboards")},
        charts={str(c["uuid"]): c for c in load("charts")},
        datasets={str(d["uuid"]): d for d in load("datasets")},
    )


@pytest.fixture(scope="module")
def expectations(bundle_view) -> dict[str, RoleExpectation]:
    def slugs(value) -> set[str]:
        return set(bundle_view.dashboards) if value == "all" else set(value)

    out = {}
    specs = {**POLICY["roles"], **{role: POLICY["team_roles"] for role in TEAMS}}
    for role, spec in specs.items():
        dashboards = slugs(spec["dashboards"])
        datasets = {bundle_view.dataset_of(c) for s in dashboards for c in bundle_view.charts_of(s)}
        out[role] = RoleExpectation(role, dashboards, datasets, TEAMS.get(role), bool(spec.get("sql_lab")))
    return out


@pytest.fixture(scope="module")
def ids(superset_instance, deployed_superset) -> dict[str, dict[str, int]]:
    """Superset ids of the deployed assets, looked up through the admin API."""
    admin = superset_instance.client()
    return {
        "dashboards": {d["slug"]: d["id"] for d in admin.list_all("dashboard", ["id", "slug"])},
        "charts": {c["uuid"]: c["id"] for c in admin.list_all("chart", ["id", "uuid"])},
        "databases": {d["uuid"]: d["id"] for d in admin.list_all("database", ["id", "uuid"])},
    }


@pytest.fixture(scope="module")
def demo_passwords(superset_instance, deployed_superset) -> dict[str, str]:
    doc = json.loads((superset_instance.credentials_dir / "superset_users.json").read_text())
    return {name: entry["password"] for name, entry in doc["users"].items()}


@pytest.fixture(scope="module")
def sessions(superset_instance, demo_passwords) -> dict:
    """One logged-in API client per role (its demo user), created on first use."""
    cache: dict = {}

    def get(role: str):
        if role not in cache:
            name = demo_username(role)
            cache[role] = superset_instance.client(name, demo_passwords[name])
        return cache[role]

    return get


@pytest.fixture(scope="module")
def stored_query_contexts(superset_instance, ids, bundle_view) -> dict[str, dict]:
    """chart uuid -> its stored query_context (as the admin reads it), with form_data.slice_id set."""
    admin = superset_instance.client()
    out = {}
    for uuid in bundle_view.charts:
        chart_id = ids["charts"][uuid]
        qc = json.loads(admin.get(f"/api/v1/chart/{chart_id}").json()["result"]["query_context"])
        qc["form_data"] = {**qc.get("form_data", {}), "slice_id": chart_id}
        qc["result_type"] = "full"
        out[uuid] = qc
    return out


def with_dashboard(qc: dict, dashboard_id: int) -> dict:
    return {**qc, "form_data": {**qc["form_data"], "dashboardId": dashboard_id}}


# ------------------------------------------------------------------------------------------ dashboards
def test_policy_covers_the_bundle(bundle_view, expectations):
    """Every bundle dashboard is reachable by some role, and the 403 checks below are not vacuous: some role has a
    chart it must not read."""
    assert set().union(*(e.dashboards for e in expectations.values())) == set(bundle_view.dashboards)
    forbidden = [
        (role, uuid)
        for role, e in expectations.items()
        for slug in set(bundle_view.dashboards) - e.dashboards
        for uuid in bundle_view.charts_of(slug)
        if bundle_view.dataset_of(uuid) not in e.datasets
    ]
    assert forbidden, "no role is denied any chart: the access tests would prove nothing"


@pytest.mark.parametrize("role", ROLES)
def test_role_opens_exactly_its_dashboards(role, sessions, expectations, ids, bundle_view):
    client = sessions(role)
    want = expectations[role].dashboards
    listed = {d["slug"] for d in client.get("/api/v1/dashboard/", params={"q": "(page_size:100)"}).json()["result"]}
    assert listed == want
    for slug in bundle_view.dashboards:
        for key in (ids["dashboards"][slug], slug):
            status = client.request("GET", f"/api/v1/dashboard/{key}").status_code
            if slug in want:
                assert status == 200, (role, slug, key)
            else:
                assert status in (403, 404), (role, slug, key, status)


@pytest.mark.parametrize("role", ROLES)
def test_chart_data_only_for_own_dashboards(role, sessions, expectations, ids, bundle_view, stored_query_contexts):
    client = sessions(role)
    exp = expectations[role]
    own_charts = {u for s in exp.dashboards for u in bundle_view.charts_of(s)}
    for uuid in sorted(own_charts):
        resp = client.request("POST", "/api/v1/chart/data", json=stored_query_contexts[uuid])
        assert resp.status_code == 200, (role, bundle_view.charts[uuid]["slice_name"], resp.text[:300])
        assert all(r.get("error") is None for r in resp.json()["result"])
    own_dashboard = ids["dashboards"][sorted(exp.dashboards)[0]]
    for slug in sorted(set(bundle_view.dashboards) - exp.dashboards):
        for uuid in bundle_view.charts_of(slug):
            if bundle_view.dataset_of(uuid) in exp.datasets:
                continue  # the role reads this dataset through one of its own dashboards
            qc = stored_query_contexts[uuid]
            name = (role, slug, bundle_view.charts[uuid]["slice_name"])
            for body in (qc, with_dashboard(qc, ids["dashboards"][slug]), with_dashboard(qc, own_dashboard)):
                resp = client.request("POST", "/api/v1/chart/data", json=body)
                assert resp.status_code == 403, (*name, body["form_data"].get("dashboardId"), resp.text[:200])
            chart_id = ids["charts"][uuid]
            assert client.request("GET", f"/api/v1/chart/{chart_id}/data/").status_code in (403, 404), name


# ------------------------------------------------------------------------------------------ row-level security
def _normalise(value):
    if isinstance(value, dt.datetime):
        value = int(value.replace(tzinfo=value.tzinfo or dt.UTC).timestamp() * 1000)
    elif isinstance(value, dt.date):
        value = int(dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).timestamp() * 1000)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float, Decimal)):
        return Decimal(str(value)).quantize(CENT)
    return value


def _rows(colnames: list[str], records: list[dict]) -> list[tuple]:
    return sorted((tuple(_normalise(r[c]) for c in colnames) for r in records), key=repr)


def _run_sql(conn, sql: str) -> tuple[list[str], list[dict]]:
    cur = conn.execute(sql.rstrip().rstrip(";"))  # no parameters: a `%` in the SQL stays as it is
    names = [d.name for d in cur.description]
    return names, [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _raw_chart_data(client, qc: dict) -> dict:
    """Chart data without post-processing (pivots etc.), so the rows are what the SQL returned."""
    body = {**qc, "queries": [{**q, "post_processing": []} for q in qc["queries"]]}
    resp = client.request("POST", "/api/v1/chart/data", json=body)
    assert resp.status_code == 200, resp.text[:300]
    (result,) = resp.json()["result"]
    assert result.get("error") is None, result
    return result


@pytest.mark.parametrize("role", list(TEAMS))
def test_team_sees_only_its_rows(role, sessions, expectations, bundle_view, stored_query_contexts, warehouse_conn):
    team = TEAMS[role]
    column = POLICY["team_roles"]["row_filter_column"]
    team_client, analyst = sessions(role), sessions(ANALYST)
    charts = [
        u
        for s in sorted(expectations[role].dashboards)
        for u in bundle_view.charts_of(s)
        if bundle_view.has_column(bundle_view.dataset_of(u), column)
    ]
    assert charts, f"{role}: no chart on its dashboards reads a dataset with a {column} column"
    differs = False
    for uuid in charts:
        name = bundle_view.charts[uuid]["slice_name"]
        table = bundle_view.datasets[bundle_view.dataset_of(uuid)]["table_name"]
        qc = stored_query_contexts[uuid]
        mine, everyone = _raw_chart_data(team_client, qc), _raw_chart_data(analyst, qc)
        # the Analyst's query is the chart's SQL without any row filter: run it as is, and on the team's rows only
        sql = everyone["query"]
        literal = "'" + team.replace("'", "''") + "'"
        filtered_sql, n = re.subn(
            rf"\bmarts\.{table}\b", f"(SELECT * FROM marts.{table} WHERE {column} = {literal}) AS {table}", sql
        )
        assert n >= 1, (name, sql)
        cols, all_rows = _run_sql(warehouse_conn, sql)
        _cols, team_rows = _run_sql(warehouse_conn, filtered_sql)
        assert cols == everyone["colnames"] == mine["colnames"], name
        assert _rows(cols, everyone["data"]) == _rows(cols, all_rows), f"{name}: Analyst rows differ from SQL"
        assert _rows(cols, mine["data"]) == _rows(cols, team_rows), f"{name}: {role} rows differ from SQL for {team}"
        if column in cols:
            assert {r[column] for r in mine["data"]} <= {team}, name
            assert len({r[column] for r in everyone["data"]}) > 1, f"{name}: the Analyst should see every team"
        differs |= _rows(cols, mine["data"]) != _rows(cols, everyone["data"])
    assert differs, f"{role}: no chart differs from the Analyst's; the row filter had no visible effect"


# ------------------------------------------------------------------------------------------ SQL Lab
@pytest.fixture(scope="module")
def private_tables(superset_warehouse_url) -> dict[str, str]:
    """One table per private schema of the warehouse under test (alerts tables are created when missing)."""
    from openfinops.alerts import ensure_tables

    with psycopg.connect(superset_warehouse_url) as conn:
        ensure_tables(conn)
        out = {}
        for schema in ("raw", "alerts", "config"):
            row = conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1 LIMIT 1", (schema,)
            ).fetchone()
            assert row, f"no table in schema {schema} of the warehouse under test"
            out[schema] = f"{schema}.{row[0]}"
        return out


def _sqllab(client, database_id: int, sql: str):
    return client.request(
        "POST", "/api/v1/sqllab/execute/", json={"database_id": database_id, "sql": sql, "runAsync": False,
                                                 "schema": "marts"}
    )


def test_sql_lab(sessions, ids, bundle_view, private_tables, warehouse_conn):
    (database_id,) = set(ids["databases"].values())
    analyst = sessions(ANALYST)
    (expected,) = warehouse_conn.execute("SELECT count(*) FROM marts.fct_cost_daily").fetchone()
    resp = _sqllab(analyst, database_id, "SELECT count(*) AS n FROM marts.fct_cost_daily")
    assert resp.status_code == 200, resp.text[:300]
    assert resp.json()["data"] == [{"n": expected}]
    for schema, table in private_tables.items():
        resp = _sqllab(analyst, database_id, f"SELECT * FROM {table} LIMIT 1")
        assert resp.status_code != 200 and "permission denied" in resp.text, (schema, resp.text[:300])
    for write in (
        "INSERT INTO marts.fct_cost_daily (cost_key) VALUES ('x')",
        "DELETE FROM marts.fct_cost_daily",
        "CREATE TABLE marts.sqllab_probe (a int)",
        "CREATE TABLE public.sqllab_probe (a int)",
    ):
        resp = _sqllab(analyst, database_id, write)
        assert resp.status_code != 200 and resp.json().get("errors"), (write, resp.text[:300])
    for role in (r for r in ROLES if r != ANALYST):
        assert _sqllab(sessions(role), database_id, "SELECT 1").status_code == 403, role


# ------------------------------------------------------------------------------------------ the read-only role
def test_reader_role_is_read_only(superset_instance, private_tables):
    """OPENFINOPS_READER_URL straight to PostgreSQL: SELECT on marts and nothing else."""
    url = superset_instance.reader_url
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM marts.fct_cost_daily").fetchone()[0] > 0
        # scripts/pg.sh sets default_transaction_read_only on the role
        assert conn.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
        for table in private_tables.values():
            with pytest.raises(pg_errors.InsufficientPrivilege):
                conn.execute(f"SELECT * FROM {table} LIMIT 1")
        # refused by privileges, not only by the read-only default the session could switch off
        conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")
        for write in (
            "INSERT INTO marts.fct_cost_daily (cost_key) VALUES ('x')",
            "UPDATE marts.fct_cost_daily SET billed_cost = 0",
            "DELETE FROM marts.fct_cost_daily",
            "TRUNCATE marts.fct_cost_daily",
            "CREATE TABLE marts.reader_probe (a int)",
            "CREATE TABLE public.reader_probe (a int)",
            "CREATE SCHEMA reader_probe",
            "DROP TABLE marts.fct_cost_daily",
        ):
            with pytest.raises(pg_errors.InsufficientPrivilege):
                conn.execute(write)
    # scripts/pg.sh revokes CONNECT on the airflow and superset databases from PUBLIC (by default every role may
    # connect to every database)
    for database in ("airflow", "superset"):
        parts = urlsplit(url)
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            psycopg.connect(urlunsplit(parts._replace(path=f"/{database}")), connect_timeout=10).close()


def test_deploy_refuses_the_warehouse_owner(deploy_module, superset_instance, deploy_kwargs, monkeypatch):
    owner_url = superset_instance.warehouse_url
    with pytest.raises(deploy_module.DeployError, match="owner"):
        deploy_module.deploy(
            superset_instance.url,
            superset_instance.username,
            superset_instance.password,
            **{**deploy_kwargs, "reader_url": owner_url},
        )
    # without OPENFINOPS_WAREHOUSE_URL to compare names, the connection check itself finds the owner
    monkeypatch.delenv("OPENFINOPS_WAREHOUSE_URL", raising=False)
    with pytest.raises(deploy_module.DeployError, match=r"owns database"):
        deploy_module.deploy(
            superset_instance.url,
            superset_instance.username,
            superset_instance.password,
            **{**deploy_kwargs, "reader_url": owner_url},
        )


# ------------------------------------------------------------------------------------------ idempotency, users
def access_inventory(client) -> dict:
    """Roles, their permissions, RLS rules, dashboard roles and users, as Superset reports them."""
    roles = {r["name"]: r["id"] for r in client.list_all("security/roles", ["id", "name"])}
    perms = {
        name: sorted(
            (p["permission_name"], p["view_menu_name"])
            for p in client.get(f"/api/v1/security/roles/{rid}/permissions/").json()["result"]
        )
        for name, rid in roles.items()
        if name in ROLES
    }
    rls = sorted(
        (r["name"], r["clause"], r.get("group_key"), tuple(sorted(t["id"] for t in r["tables"])),
         tuple(sorted(x["name"] for x in r["roles"])))
        for r in client.list_all("rowlevelsecurity", ["id", "name", "clause", "group_key", "tables.id", "roles.name"])
    )
    dashboards = {
        d["slug"]: sorted(r["name"] for r in client.get(f"/api/v1/dashboard/{d['id']}").json()["result"]["roles"])
        for d in client.list_all("dashboard", ["id", "slug"])
    }
    users = sorted(
        (u["username"], u["id"], tuple(sorted(r["name"] for r in u["roles"])))
        for u in client.list_all("security/users", ["id", "username", "roles.name"])
    )
    return {"roles": sorted(roles.items()), "permissions": perms, "rls": rls, "dashboards": dashboards, "users": users}


def table_of(view_menu: str) -> str:
    """`[OpenFinOps warehouse].[fct_cost_daily](id:5)` -> `fct_cost_daily`."""
    return re.sub(r"^\[.*?\]\.\[(.*)\]\(id:\d+\)$", r"\1", view_menu)


def test_access_as_deployed(superset_instance, deployed_superset, expectations, bundle_view, ids):
    """What Superset holds after deploy matches the policy: dashboard roles, exact dataset permissions (+ database
    for SQL Lab), one RLS rule per team, users with [Gamma, role] (+ sql_lab)."""
    inv = access_inventory(superset_instance.client())
    for slug in bundle_view.dashboards:
        assert inv["dashboards"][slug] == sorted(r for r, e in expectations.items() if slug in e.dashboards), slug
    for role, e in expectations.items():
        tables = sorted(bundle_view.datasets[u]["table_name"] for u in e.datasets)
        got = inv["permissions"][role]
        assert sorted(table_of(v) for p, v in got if p == "datasource_access") == tables, role
        assert [p for p, _v in got if p != "datasource_access"] == (["database_access"] if e.sql_lab else []), role
    users = {u: roles for u, _id, roles in inv["users"]}
    for role, e in expectations.items():
        want = {"Gamma", role} | ({"sql_lab"} if e.sql_lab else set())
        assert set(users[demo_username(role)]) == want, role
    team_rules = {r[0]: r for r in inv["rls"] if any(role in TEAMS for role in r[4])}
    assert len(team_rules) == len(TEAMS)
    for _name, clause, group_key, _tables, roles in team_rules.values():
        (role,) = roles
        assert clause == f"team = '{TEAMS[role]}'" and group_key == "team"


def test_redeploy_changes_no_access(deploy_module, superset_instance, deployed_superset, deploy_kwargs):
    client = superset_instance.client()
    users_file = superset_instance.credentials_dir / "superset_users.json"
    before, users_before = access_inventory(client), users_file.read_text()
    deploy_module.deploy(superset_instance.url, superset_instance.username, superset_instance.password,
                         **deploy_kwargs)
    assert access_inventory(client) == before
    assert users_file.read_text() == users_before  # passwords reused
    for kind in ("roles", "users", "rls"):
        keys = [row[0] for row in before[kind]]
        assert len(keys) == len(set(keys)), f"duplicate {kind}"


def test_demo_users_file_is_private(superset_instance, superset_bundle_dir, deployed_superset, demo_passwords):
    path = superset_instance.credentials_dir / "superset_users.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert set(demo_passwords) == {demo_username(r) for r in ROLES}
    proc = superset_instance.run_script("deploy", "--demo-users", "--bundle", str(superset_bundle_dir), check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert str(path) in proc.stderr
    assert not [p for p in demo_passwords.values() if p in proc.stderr + proc.stdout]


def test_dataset_removed_from_dashboards_leaves_the_role(
    deploy_module, superset_instance, deployed_superset, deploy_kwargs, expectations, bundle_view, tmp_path
):
    """Permissions are set exactly: CFO without its own dashboard loses the datasets only that dashboard used."""
    client = superset_instance.client()
    policy = yaml.safe_load(ACCESS_YAML.read_text())
    policy["roles"]["CFO"]["dashboards"] = ["overview"]
    narrowed = tmp_path / "access.yaml"
    narrowed.write_text(yaml.safe_dump(policy))
    kwargs = {**deploy_kwargs, "access_path": narrowed}
    try:
        deploy_module.deploy(superset_instance.url, superset_instance.username, superset_instance.password, **kwargs)
        got = access_inventory(client)["permissions"]["CFO"]
        overview = bundle_view.charts_of("overview")
        want = {bundle_view.datasets[bundle_view.dataset_of(u)]["table_name"] for u in overview}
        assert {table_of(v) for _p, v in got} == want
        assert access_inventory(client)["dashboards"]["cfo"] == sorted(
            r for r, e in expectations.items() if r != "CFO" and "cfo" in e.dashboards
        )
    finally:
        deploy_module.deploy(superset_instance.url, superset_instance.username, superset_instance.password,
                             **deploy_kwargs)
    assert len(access_inventory(client)["permissions"]["CFO"]) == len(expectations["CFO"].datasets)


def _config_with_users(tmp_path: Path, users: list[dict]) -> Path:
    raw = yaml.safe_load((REPO / "config" / "openfinops.yaml").read_text())
    raw["superset"] = {"users": users}
    path = tmp_path / "openfinops.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_config_users(deploy_module, superset_instance, deployed_superset, deploy_kwargs, tmp_path, monkeypatch):
    """Production users: created with exactly [Gamma, their roles], password from password_env; a missing variable
    or an unknown role is a clear error naming the user and the key."""
    user = {"username": "fin.lead", "first_name": "Fin", "last_name": "Lead", "email": "fin.lead@example.com",
            "roles": ["CFO", "Team Payments"], "password_env": "OFO_TEST_FIN_LEAD_PASSWORD"}
    args = (superset_instance.url, superset_instance.username, superset_instance.password)
    config = _config_with_users(tmp_path, [user])
    monkeypatch.delenv("OFO_TEST_FIN_LEAD_PASSWORD", raising=False)
    with pytest.raises(deploy_module.DeployError, match=r"fin\.lead.*OFO_TEST_FIN_LEAD_PASSWORD"):
        deploy_module.deploy(*args, **{**deploy_kwargs, "config_path": config})

    monkeypatch.setenv("OFO_TEST_FIN_LEAD_PASSWORD", "first-Password-1")
    deploy_module.deploy(*args, **{**deploy_kwargs, "config_path": config})
    roles = {u["username"]: sorted(r["name"] for r in u["roles"])
             for u in superset_instance.client().list_all("security/users", ["username", "roles.name"])}
    assert roles["fin.lead"] == ["CFO", "Gamma", "Team Payments"]
    superset_instance.client("fin.lead", "first-Password-1")  # logs in

    user.update(roles=["Analyst"])  # roles are set exactly; the password follows the variable
    monkeypatch.setenv("OFO_TEST_FIN_LEAD_PASSWORD", "second-Password-2")
    deploy_module.deploy(*args, **{**deploy_kwargs, "config_path": _config_with_users(tmp_path, [user])})
    roles = {u["username"]: sorted(r["name"] for r in u["roles"])
             for u in superset_instance.client().list_all("security/users", ["username", "roles.name"])}
    assert roles["fin.lead"] == ["Analyst", "Gamma", "sql_lab"]
    superset_instance.client("fin.lead", "second-Password-2")

    user.update(roles=["Board"])
    with pytest.raises(deploy_module.DeployError, match=r"(?s)openfinops\.yaml.*superset\.users\[0\]\.roles"):
        deploy_module.deploy(*args, **{**deploy_kwargs, "config_path": _config_with_users(tmp_path, [user])})


def test_policy_errors_name_file_and_key(deploy_module, superset_bundle_dir, tmp_path):
    bundle = deploy_module.load_bundle(superset_bundle_dir)
    policy = yaml.safe_load(ACCESS_YAML.read_text())
    policy["roles"]["CFO"]["dashboards"] = ["overview", "no-such-dashboard"]
    policy["roles"]["COO"]["colour"] = "blue"
    path = tmp_path / "access.yaml"
    path.write_text(yaml.safe_dump(policy))
    with pytest.raises(deploy_module.AccessPolicyError) as exc:
        deploy_module.plan_access(bundle, path)
    message = str(exc.value)
    assert f"{path}: roles.CFO.dashboards[1]: unknown dashboard 'no-such-dashboard'" in message
    assert f"{path}: roles.COO: unknown key 'colour'" in message
    # a bundle dashboard no role lists would fall back to dataset access: refused
    copy = tmp_path / "bundle"
    shutil.copytree(superset_bundle_dir, copy)
    extra = yaml.safe_load((copy / "dashboards" / "overview.yaml").read_text())
    extra.update(slug="orphan", uuid="00000000-0000-4000-8000-0000000000aa")
    (copy / "dashboards" / "orphan.yaml").write_text(yaml.safe_dump(extra))
    policy = yaml.safe_load(ACCESS_YAML.read_text())
    policy["roles"]["Analyst"]["dashboards"] = sorted(bundle.dashboards_by_slug())  # `all` would include it
    path.write_text(yaml.safe_dump(policy))
    with pytest.raises(deploy_module.AccessPolicyError, match="no role lists dashboard 'orphan'"):
        deploy_module.plan_access(deploy_module.load_bundle(copy), path)



def test_deploy_names_colliding_assets(deploy_module, superset_instance, deployed_superset, deploy_kwargs, tmp_path):
    """A dashboard slug or a dataset table already held under another uuid would fail the import with a bare 500;
    deploy names them instead, before importing anything."""
    copy = tmp_path / "bundle"
    shutil.copytree(deploy_kwargs["bundle_dir"], copy)
    replace = {}  # new uuids for the Overview dashboard and the fct_cost_daily dataset, everywhere they appear
    for rel in ("dashboards/overview.yaml", "datasets/openfinops_warehouse/fct_cost_daily.yaml"):
        old = str(yaml.safe_load((copy / rel).read_text())["uuid"])
        replace[old] = old[:-4] + "beef"
    for path in copy.rglob("*.yaml"):
        text = path.read_text()
        for old, new in replace.items():
            text = text.replace(old, new)
        path.write_text(text)
    with pytest.raises(deploy_module.DeployError) as exc:
        deploy_module.deploy(superset_instance.url, superset_instance.username, superset_instance.password,
                             **{**deploy_kwargs, "bundle_dir": copy})
    assert "dashboard slug 'overview' is taken" in str(exc.value)
    assert "dataset marts.fct_cost_daily exists" in str(exc.value)
