#!/usr/bin/env python
"""Deploy the Superset bundle in git, with access enforced: dashboards, roles, dataset permissions, row-level
security and users.

    python superset/deploy.py --url http://127.0.0.1:8088 --user admin --password-file FILE [--demo-users]
    python superset/deploy.py --validate-only

Steps: validate the bundle and superset/access.yaml; refuse OPENFINOPS_READER_URL unless it is a read-only role
limited to schema `marts`; import the bundle (POST /api/v1/assets/import/) with Superset's database pointed at that
role; set every role's permissions, the team row-level security rules and each dashboard's roles; create or update
the users of config/openfinops.yaml (and with --demo-users one demo user per role). The work lives in
superset/openfinops_superset/ (bundle, client, database, access, users); this file orchestrates and is the CLI.

Runs with .venv/airflow/bin/python (standard library, requests, PyYAML, psycopg, and openfinops.config).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
for _path in (_HERE, _HERE.parent):  # the openfinops_superset package, and the repo root for openfinops.config
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from openfinops_superset.access import (  # noqa: E402
    ACCESS_FILE,
    AccessPlan,
    AccessPolicyError,
    apply_access,
    load_policy,
    teams_from_config,
)
from openfinops_superset.bundle import (  # noqa: E402
    BUNDLE_DIR,
    BUNDLE_ROOT_FOLDER,
    DEFAULT_MANIFEST,
    Bundle,
    BundleError,
    build_bundle_zip,
    find_secrets,
    load_bundle,
    validate_bundle,
)
from openfinops_superset.client import DeployError, SupersetClient  # noqa: E402
from openfinops_superset.database import (  # noqa: E402
    READER_URL_ENV,
    WAREHOUSE_URL_ENV,
    parse_database_url,
    require_read_only,
)
from openfinops_superset.users import apply_users, config_users, credentials_dir, demo_users  # noqa: E402

from openfinops.config import DEFAULT_CONFIG, ConfigError, load_config  # noqa: E402

__all__ = [
    "BUNDLE_DIR",
    "BUNDLE_ROOT_FOLDER",
    "AccessPolicyError",
    "BundleError",
    "DeployError",
    "SupersetClient",
    "build_bundle_zip",
    "deploy",
    "find_secrets",
    "load_bundle",
    "plan_access",
    "validate_bundle",
]

log = logging.getLogger("openfinops.superset.deploy")


def _live_secrets(*urls: str | None) -> tuple[str, ...]:
    return tuple(p for p in (parse_database_url(u).password if u else None for u in urls) if p)


def plan_access(
    bundle: Bundle,
    access_path: str | os.PathLike[str] = ACCESS_FILE,
    config_path: str | os.PathLike[str] | None = None,
) -> tuple[AccessPlan, Any]:
    """The access plan of access.yaml for this bundle and the config's teams. Returns (plan, config)."""
    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        raise DeployError(str(exc)) from None
    return load_policy(bundle, teams_from_config(cfg), access_path), cfg


def access_table(plan: AccessPlan, bundle: Bundle) -> str:
    """The plan as a Markdown table: role, dashboards, datasets (tables), row filter, Superset roles of its users."""
    datasets = bundle.by_uuid("datasets")
    lines = ["| role | dashboards | datasets (`datasource_access`) | row filter | users get |", "|---|---|---|---|---|"]
    for role in plan.roles.values():
        tables = ", ".join(sorted(datasets[u][1]["table_name"] for u in role.datasets))
        if role.sql_lab:
            tables += " + `database_access` (SQL Lab)"
        rls = "-"
        if role.row_filter:
            on = ", ".join(sorted(datasets[u][1]["table_name"] for u in role.row_filter_datasets))
            rls = f"`{role.row_filter}` on {on}"
        lines.append(
            f"| {role.name} | {', '.join(role.dashboards)} | {tables} | {rls} | "
            f"{', '.join(plan.superset_roles([role.name]))} |"
        )
    return "\n".join(lines)


def _check_conflicts(client: SupersetClient, bundle: Bundle) -> None:
    """Superset keeps dashboard slugs and (database, schema, table) of datasets unique. When another dashboard or
    dataset already holds one of the bundle's, the import fails with a bare HTTP 500: say which, before importing."""
    problems = []
    ours = {slug: (rel, str(cfg["uuid"])) for slug, (rel, cfg) in bundle.dashboards_by_slug().items()}
    for d in client.list_all("dashboard", ["id", "slug", "uuid"]):
        rel, uuid = ours.get(d.get("slug"), (None, None))
        if rel and str(d.get("uuid")) != uuid:
            problems.append(f"dashboard slug {d['slug']!r} is taken by dashboard id {d['id']} (uuid {d['uuid']}), "
                            f"not the one of {rel} (uuid {uuid})")
    db_names = {u: cfg.get("database_name") for u, (_rel, cfg) in bundle.by_uuid("databases").items()}
    tables = {
        (db_names.get(str(cfg.get("database_uuid"))), cfg.get("schema"), cfg.get("table_name")): (rel, uuid)
        for uuid, (rel, cfg) in bundle.by_uuid("datasets").items()
    }
    for d in client.list_all("dataset", ["id", "uuid", "schema", "table_name", "database.database_name"]):
        key = ((d.get("database") or {}).get("database_name"), d.get("schema"), d.get("table_name"))
        rel, uuid = tables.get(key, (None, None))
        if rel and str(d.get("uuid")) != uuid:
            problems.append(f"dataset {key[1]}.{key[2]} exists as dataset id {d['id']} (uuid {d['uuid']}), not the "
                            f"one of {rel} (uuid {uuid})")
    if problems:
        raise DeployError("Superset already has assets the bundle would collide with; delete them in Superset (or "
                          "give the bundle their uuids) first:\n  - " + "\n  - ".join(problems))


def deploy(
    url: str,
    username: str,
    password: str,
    bundle_dir: str | os.PathLike[str] = BUNDLE_DIR,
    reader_url: str | None = None,
    manifest_path: str | os.PathLike[str] | None = None,
    access_path: str | os.PathLike[str] = ACCESS_FILE,
    config_path: str | os.PathLike[str] | None = None,
    with_demo_users: bool = False,
    creds_dir: str | os.PathLike[str] | None = None,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Validate, check the read-only role, import, apply access and users. Returns what is in Superset afterwards:
    {"dashboards": {slug: id}, "charts": {uuid: id}, "datasets": {uuid: id}, "databases": {uuid: id},
    "roles": {name: id}, "permissions": {role: [...]}, "rls": {rule: id}, "dashboard_roles": {slug: [role, ...]},
    "users": {username: id}} (+ "demo_users_file" with ``with_demo_users``)."""
    reader_url = reader_url or os.environ.get(READER_URL_ENV)
    if not reader_url:
        raise DeployError(f'{READER_URL_ENV} is not set (eval "$(bash scripts/pg.sh env)")')
    owner_url = os.environ.get(WAREHOUSE_URL_ENV)
    bundle = validate_bundle(bundle_dir, manifest_path, known_secrets=_live_secrets(reader_url, owner_url))
    config_path = Path(config_path or os.environ.get("OPENFINOPS_CONFIG") or DEFAULT_CONFIG)
    plan, cfg = plan_access(bundle, access_path, config_path)
    users = config_users(cfg, plan, config_path)
    demo_file = None
    if with_demo_users:
        demo, demo_file = demo_users(plan, creds_dir or credentials_dir())
        users += demo
    for warning in require_read_only(reader_url, owner_url):
        log.warning("%s", warning)
    zip_bytes, passwords = build_bundle_zip(bundle_dir, reader_url)

    client = SupersetClient(url, timeout=timeout).login(username, password)
    _check_conflicts(client, bundle)
    client.import_assets(zip_bytes, passwords)
    log.info("imported %d files into %s", len(bundle.files), url)

    def ids(resource: str, kind: str) -> dict[str, int]:
        wanted = set(bundle.by_uuid(kind))
        return {str(r["uuid"]): r["id"] for r in client.list_all(resource, ["id", "uuid"]) if str(r["uuid"]) in wanted}

    charts, datasets, databases = ids("chart", "charts"), ids("dataset", "datasets"), ids("database", "databases")
    dashboard_ids = ids("dashboard", "dashboards")
    dashboards = {
        slug: dashboard_ids[str(d["uuid"])]
        for slug, (_rel, d) in bundle.dashboards_by_slug().items()
        if str(d["uuid"]) in dashboard_ids
    }
    missing = {
        u
        for kind, found in (("charts", charts), ("datasets", datasets), ("dashboards", dashboard_ids))
        for u in set(bundle.by_uuid(kind)) - found.keys()
    }
    if missing:
        raise DeployError(f"import reported OK but these assets are missing afterwards: {sorted(missing)}")

    access = apply_access(client, plan, bundle, dashboards, datasets, databases)
    user_ids = apply_users(client, plan, users)
    result = {
        "dashboards": dashboards,
        "charts": charts,
        "datasets": datasets,
        "databases": databases,
        **access,
        "users": user_ids,
    }
    if demo_file:
        log.info("demo users (one per role): passwords in %s", demo_file)
        result["demo_users_file"] = str(demo_file)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default=os.environ.get("SUPERSET_URL", "http://127.0.0.1:8088"))
    ap.add_argument("--user", default=os.environ.get("SUPERSET_ADMIN_USER", "admin"))
    ap.add_argument("--password-file", help="file holding the admin password (else env SUPERSET_ADMIN_PASSWORD)")
    ap.add_argument("--bundle", default=str(BUNDLE_DIR))
    ap.add_argument("--manifest", help=f"dbt manifest to check dataset tables against (default {DEFAULT_MANIFEST})")
    ap.add_argument("--access", default=str(ACCESS_FILE), help="access policy (default superset/access.yaml)")
    ap.add_argument("--config", help="OpenFinOps config (default $OPENFINOPS_CONFIG or config/openfinops.yaml)")
    ap.add_argument("--demo-users", action="store_true",
                    help="also create one user per role, passwords in $OPENFINOPS_CREDENTIALS_DIR/superset_users.json")
    ap.add_argument("--validate-only", action="store_true", help="validate the bundle and the access policy, then exit")
    ap.add_argument("--show-access", action="store_true",
                    help="validate, then print the access plan (role -> dashboards -> datasets -> row filter)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[superset-deploy] %(message)s")

    try:
        if args.validate_only or args.show_access:
            live = _live_secrets(os.environ.get(READER_URL_ENV), os.environ.get(WAREHOUSE_URL_ENV))
            bundle = validate_bundle(args.bundle, args.manifest, known_secrets=live)
            plan, _cfg = plan_access(bundle, args.access, args.config)
            log.info("bundle OK: %d files; access OK: %d roles", len(bundle.files), len(plan.roles))
            if args.show_access:
                print(access_table(plan, bundle))
            return 0
        if args.password_file:
            password = Path(args.password_file).read_text(encoding="utf-8").strip()
        else:
            password = os.environ.get("SUPERSET_ADMIN_PASSWORD", "")
        if not password:
            raise DeployError("no admin password: pass --password-file FILE or set SUPERSET_ADMIN_PASSWORD")
        result = deploy(
            args.url,
            args.user,
            password,
            args.bundle,
            manifest_path=args.manifest,
            access_path=args.access,
            config_path=args.config,
            with_demo_users=args.demo_users,
        )
    except (BundleError, DeployError, OSError) as exc:
        print(f"superset deploy failed: {exc}", file=sys.stderr)
        return 1
    summary = {k: result[k] for k in ("dashboards", "dashboard_roles", "users")}
    log.info("deployed: %s", json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
