#!/usr/bin/env python
"""Validate the Superset bundle in git and deploy it through Superset's assets import API.

    python superset/deploy.py --url http://127.0.0.1:8088 --user admin --password-file FILE
    python superset/deploy.py --validate-only

Steps: validate the bundle (references, schema `marts`, no secrets, optional dbt manifest check), zip it under one
root folder with the warehouse host/port/database taken from OPENFINOPS_WAREHOUSE_URL, log in, POST it to
/api/v1/assets/import/ with the warehouse password in the `passwords` field (never in the bundle), then create the
role-based access roles (CFO, COO, Infrastructure) when missing.

Importable: validate_bundle(), build_bundle_zip(), deploy(). Standard library + requests + PyYAML only.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import re
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import requests
import yaml

log = logging.getLogger("openfinops.superset.deploy")

ROOT = Path(__file__).resolve().parent.parent
BUNDLE_DIR = Path(__file__).resolve().parent / "bundle"
DEFAULT_MANIFEST = ROOT / "dbt_project" / "target" / "manifest.json"
BUNDLE_ROOT_FOLDER = "openfinops_bundle"
PASSWORD_MASK = "XXXXXXXXXX"
ALLOWED_SCHEMAS = frozenset({"marts"})
DEFAULT_ROLES = ("CFO", "COO", "Infrastructure")
ASSET_DIRS = ("databases", "datasets", "charts", "dashboards")

# key names whose value must never be a real secret in a bundle file
_SECRET_KEY_RE = re.compile(r"(password|passwd|secret|token|private_key|api_key|access_key)", re.IGNORECASE)
# scheme://user:password@host in any string; the password part must be the mask
_URI_PASSWORD_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@'\"]+:([^@\s'\"]*)@")
# other well-known credential shapes
_CREDENTIAL_PATTERNS = (
    re.compile(r"AKIA[0-9A-Z]{16}"),  # AWS access key id
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"xox[abposr]-[0-9A-Za-z-]{10,}"),  # Slack tokens
    re.compile(r"hooks\.slack\.com/services/[A-Za-z0-9/]+"),
)


class BundleError(Exception):
    """The bundle is invalid; ``errors`` lists every problem found."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("invalid Superset bundle:\n  - " + "\n  - ".join(self.errors))


class DeployError(Exception):
    """Superset refused a request during deployment."""


@dataclass
class Bundle:
    root: Path
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # relative posix path -> parsed YAML
    texts: dict[str, str] = field(default_factory=dict)  # relative posix path -> raw text

    def of_kind(self, kind: str) -> dict[str, dict[str, Any]]:
        return {p: c for p, c in self.files.items() if p.startswith(kind + "/")}


def load_bundle(bundle_dir: str | os.PathLike[str] = BUNDLE_DIR) -> Bundle:
    root = Path(bundle_dir)
    if not root.is_dir():
        raise BundleError([f"bundle directory {root} does not exist"])
    bundle = Bundle(root=root)
    errors = []
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(root).as_posix()
        text = path.read_text(encoding="utf-8")
        bundle.texts[rel] = text
        if not rel.endswith((".yaml", ".yml")):
            continue
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            errors.append(f"{rel}: not valid YAML ({exc})")
            continue
        if not isinstance(data, dict):
            errors.append(f"{rel}: expected a YAML mapping")
            continue
        bundle.files[rel] = data
    if errors:
        raise BundleError(errors)
    return bundle


# ------------------------------------------------------------------------------------------------- validation
def _iter_strings(obj: Any, keypath: str = ""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _iter_strings(v, f"{keypath}.{k}" if keypath else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _iter_strings(v, f"{keypath}[{i}]")
    elif isinstance(obj, str):
        yield keypath, obj


def _iter_keys(obj: Any, keypath: str = ""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            kp = f"{keypath}.{k}" if keypath else str(k)
            yield kp, str(k), v
            yield from _iter_keys(v, kp)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _iter_keys(v, f"{keypath}[{i}]")


def find_secrets(rel: str, text: str, known_secrets: tuple[str, ...] = ()) -> list[str]:
    """Password-like content in one file: URI passwords other than the mask, secret-named keys with a value,
    well-known credential shapes, and any of ``known_secrets`` (e.g. the live warehouse password)."""
    errors = []
    for m in _URI_PASSWORD_RE.finditer(text):
        if m.group(1) not in ("", PASSWORD_MASK):
            errors.append(f"{rel}: a connection URI carries a password (use the mask {PASSWORD_MASK})")
    for pattern in _CREDENTIAL_PATTERNS:
        if pattern.search(text):
            errors.append(f"{rel}: contains a credential-like string matching /{pattern.pattern}/")
    for secret in known_secrets:
        if secret and len(secret) >= 6 and secret in text:
            errors.append(f"{rel}: contains a live secret (the warehouse password)")
    if rel.endswith((".yaml", ".yml")):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            data = None
        for keypath, key, value in _iter_keys(data):
            if _SECRET_KEY_RE.search(key) and isinstance(value, (str, int)) and str(value) not in ("", PASSWORD_MASK):
                errors.append(f"{rel}: key {keypath} holds a value; secrets never go into the bundle")
    return errors


def _load_manifest_tables(manifest_path: Path) -> set[str]:
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    names = set()
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") in ("model", "snapshot", "seed"):
            names.add(node.get("alias") or node.get("name"))
            names.add(node.get("name"))
    return {n for n in names if n}


def _chart_references(params: dict[str, Any]) -> tuple[set[str], set[str]]:
    """Saved-metric names and physical column names a chart's params refer to."""
    metrics: set[str] = set()
    columns: set[str] = set()

    def add_metric(m: Any) -> None:
        if isinstance(m, str):
            metrics.add(m)
        elif isinstance(m, dict) and m.get("expressionType") == "SIMPLE":
            col = (m.get("column") or {}).get("column_name")
            if col:
                columns.add(col)

    def add_column(c: Any) -> None:
        if isinstance(c, str):
            columns.add(c)

    for key in ("metric", "metric_2", "secondary_metric", "x", "y", "size", "timeseries_limit_metric"):
        if params.get(key):
            add_metric(params[key])
    for key in ("metrics", "percent_metrics"):
        for m in params.get(key) or []:
            add_metric(m)
    for key in ("groupby", "columns", "all_columns", "series", "entity"):
        value = params.get(key)
        for c in value if isinstance(value, list) else [value] if value else []:
            add_column(c)
    add_column(params.get("x_axis"))
    for f in params.get("adhoc_filters") or []:
        if f.get("expressionType") == "SIMPLE" and f.get("subject"):
            columns.add(f["subject"])
    for raw in params.get("order_by_cols") or []:
        try:
            col, _asc = json.loads(raw)
            add_column(col)
        except (ValueError, TypeError):
            pass
    return metrics, columns


def validate_bundle(
    bundle_dir: str | os.PathLike[str] = BUNDLE_DIR,
    manifest_path: str | os.PathLike[str] | None = None,
    known_secrets: tuple[str, ...] = (),
) -> Bundle:
    """Check the bundle; raise BundleError listing every problem, else return the loaded Bundle.

    Rules: metadata.yaml is version 1.0.0 without `type`; every asset has `uuid` (unique) and `version`;
    datasets point at a bundled database and live in schema `marts`; charts point at a bundled dataset, have
    `params` and a valid JSON `query_context`, and only use saved metrics/columns their dataset defines;
    dashboard chart nodes have a unique `meta.chartId` and a `meta.uuid` of a bundled chart; database URIs carry
    the masked password only and no file holds anything password-like. When a dbt manifest is present (default
    dbt_project/target/manifest.json), every dataset's table must be a dbt model.
    """
    bundle = load_bundle(bundle_dir)
    errors: list[str] = []

    meta = bundle.files.get("metadata.yaml")
    if meta is None:
        errors.append("metadata.yaml is missing")
    else:
        if str(meta.get("version")) != "1.0.0":
            errors.append("metadata.yaml: version must be 1.0.0")
        if "type" in meta:
            errors.append("metadata.yaml: must not have `type` (the assets import API expects none)")

    for rel in bundle.files:
        if rel != "metadata.yaml" and rel.split("/", 1)[0] not in ASSET_DIRS:
            errors.append(f"{rel}: unexpected file (assets live under {', '.join(ASSET_DIRS)})")

    uuids: dict[str, str] = {}
    for rel, cfg in bundle.files.items():
        if rel == "metadata.yaml":
            continue
        for key in ("uuid", "version"):
            if not cfg.get(key):
                errors.append(f"{rel}: `{key}` is required")
        uid = str(cfg.get("uuid", ""))
        if uid and uid in uuids:
            errors.append(f"{rel}: uuid {uid} already used by {uuids[uid]}")
        elif uid:
            uuids[uid] = rel

    databases = {str(c.get("uuid")): (rel, c) for rel, c in bundle.of_kind("databases").items()}
    datasets = {str(c.get("uuid")): (rel, c) for rel, c in bundle.of_kind("datasets").items()}
    charts = {str(c.get("uuid")): (rel, c) for rel, c in bundle.of_kind("charts").items()}
    if not databases:
        errors.append("no database under databases/")

    for rel, cfg in databases.values():
        uri = str(cfg.get("sqlalchemy_uri", ""))
        try:
            password = urlsplit(uri).password
        except ValueError:
            password = None
        if not uri:
            errors.append(f"{rel}: sqlalchemy_uri is required")
        elif password != PASSWORD_MASK:
            errors.append(f"{rel}: sqlalchemy_uri must carry the masked password {PASSWORD_MASK}")
        if cfg.get("password"):
            errors.append(f"{rel}: `password` must not be set in the bundle")
        if not isinstance(cfg.get("extra"), dict):
            errors.append(f"{rel}: `extra` must be a mapping (use {{}})")

    manifest = Path(manifest_path) if manifest_path else DEFAULT_MANIFEST
    dbt_tables = _load_manifest_tables(manifest) if manifest.is_file() else None

    for rel, cfg in datasets.values():
        table = cfg.get("table_name")
        if not table:
            errors.append(f"{rel}: table_name is required")
        if str(cfg.get("database_uuid")) not in databases:
            errors.append(f"{rel}: database_uuid {cfg.get('database_uuid')} is not a database in the bundle")
        if cfg.get("schema") not in ALLOWED_SCHEMAS:
            errors.append(f"{rel}: schema must be one of {sorted(ALLOWED_SCHEMAS)} (got {cfg.get('schema')!r})")
        if cfg.get("sql"):
            errors.append(f"{rel}: virtual (SQL) datasets are not allowed; model it in dbt instead")
        if dbt_tables is not None and table and table not in dbt_tables:
            errors.append(f"{rel}: table {table} is not a model in the dbt manifest {manifest}")
        names = [c.get("column_name") for c in cfg.get("columns") or []]
        if not names:
            errors.append(f"{rel}: no columns listed")
        if len(names) != len(set(names)):
            errors.append(f"{rel}: duplicate column names")

    for rel, cfg in charts.values():
        name = cfg.get("slice_name") or rel
        ds_uuid = str(cfg.get("dataset_uuid"))
        if ds_uuid not in datasets:
            errors.append(f"{rel}: chart '{name}' references dataset_uuid {ds_uuid}, which is not in the bundle")
            continue
        params = cfg.get("params")
        if not isinstance(params, dict):
            errors.append(f"{rel}: chart '{name}' needs `params`")
            continue
        if params.get("viz_type") and params["viz_type"] != cfg.get("viz_type"):
            errors.append(f"{rel}: chart '{name}' viz_type differs between the chart and its params")
        qc_raw = cfg.get("query_context")
        if not qc_raw:
            errors.append(f"{rel}: chart '{name}' needs a query_context (the chart-data API uses it)")
        else:
            try:
                qc = json.loads(qc_raw)
                if not qc.get("queries"):
                    errors.append(f"{rel}: chart '{name}' query_context has no queries")
            except (TypeError, ValueError) as exc:
                errors.append(f"{rel}: chart '{name}' query_context is not valid JSON ({exc})")
        ds = datasets[ds_uuid][1]
        ds_metrics = {m.get("metric_name") for m in ds.get("metrics") or []}
        ds_columns = {c.get("column_name") for c in ds.get("columns") or []}
        used_metrics, used_columns = _chart_references(params)
        for m in sorted(used_metrics - ds_metrics):
            errors.append(f"{rel}: chart '{name}' uses metric {m!r}, not defined on {ds.get('table_name')}")
        for c in sorted(used_columns - ds_columns):
            errors.append(f"{rel}: chart '{name}' uses column {c!r}, not defined on {ds.get('table_name')}")

    slugs: dict[str, str] = {}
    for rel, cfg in bundle.of_kind("dashboards").items():
        if cfg.get("slug"):
            if cfg["slug"] in slugs:
                errors.append(f"{rel}: slug {cfg['slug']} already used by {slugs[cfg['slug']]}")
            slugs[cfg["slug"]] = rel
        position = cfg.get("position")
        if not isinstance(position, dict):
            errors.append(f"{rel}: `position` is required")
            continue
        chart_ids: set[int] = set()
        for node_id, node in position.items():
            if not isinstance(node, dict) or node.get("type") != "CHART":
                continue
            meta_node = node.get("meta") or {}
            cid, cuuid = meta_node.get("chartId"), str(meta_node.get("uuid"))
            if not isinstance(cid, int):
                errors.append(f"{rel}: {node_id} needs an integer meta.chartId")
            elif cid in chart_ids:
                errors.append(f"{rel}: {node_id} meta.chartId {cid} is used twice")
            else:
                chart_ids.add(cid)
            if cuuid not in charts:
                errors.append(f"{rel}: {node_id} meta.uuid {cuuid} is not a chart in the bundle")

    for rel, text in bundle.texts.items():
        errors.extend(find_secrets(rel, text, known_secrets))

    if errors:
        raise BundleError(errors)
    return bundle


# ------------------------------------------------------------------------------------------------- packaging
@dataclass
class WarehouseTarget:
    username: str | None
    password: str | None
    host: str
    port: int | None
    database: str
    query: str


def parse_warehouse_url(url: str) -> WarehouseTarget:
    parts = urlsplit(url)
    if not parts.hostname or not parts.path.strip("/"):
        raise DeployError("OPENFINOPS_WAREHOUSE_URL must look like postgresql://user:password@host:port/database")
    return WarehouseTarget(
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        host=parts.hostname,
        port=parts.port,
        database=parts.path.strip("/"),
        query=parts.query,
    )


def _point_uri_at(uri: str, target: WarehouseTarget) -> str:
    """Keep the bundle's driver and the masked password; take user, host, port and database from the target."""
    parts = urlsplit(uri)
    user = target.username or (unquote(parts.username) if parts.username else "")
    netloc = quote(user, safe="") if user else ""
    if parts.password is not None or target.password is not None:
        netloc += f":{PASSWORD_MASK}"
    host = f"[{target.host}]" if ":" in target.host else target.host
    netloc = f"{netloc}@{host}" if netloc else host
    if target.port:
        netloc += f":{target.port}"
    query = target.query or parts.query
    return f"{parts.scheme}://{netloc}/{target.database}" + (f"?{query}" if query else "")


def build_bundle_zip(
    bundle_dir: str | os.PathLike[str] = BUNDLE_DIR,
    warehouse_url: str | None = None,
    root_folder: str = BUNDLE_ROOT_FOLDER,
) -> tuple[bytes, dict[str, str]]:
    """Zip the bundle under one root folder (in memory).

    With ``warehouse_url`` every database's sqlalchemy_uri is pointed at that server (password still masked) and
    the returned ``passwords`` map (``databases/<file>.yaml`` -> password) carries the real password for the
    import request. Returns (zip bytes, passwords).
    """
    bundle = load_bundle(bundle_dir)
    target = parse_warehouse_url(warehouse_url) if warehouse_url else None
    passwords: dict[str, str] = {}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel, text in sorted(bundle.texts.items()):
            if not rel.endswith((".yaml", ".yml")):
                continue
            if target and rel.startswith("databases/"):
                cfg = dict(bundle.files[rel])
                cfg["sqlalchemy_uri"] = _point_uri_at(cfg["sqlalchemy_uri"], target)
                cfg.pop("password", None)
                text = yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True)
                if target.password:
                    passwords[rel] = target.password
            zf.writestr(f"{root_folder}/{rel}", text)
    return buf.getvalue(), passwords


# ------------------------------------------------------------------------------------------------- Superset API
def _rison(value: Any) -> str:
    """Minimal rison encoder (Superset's list/filter `q` parameter)."""
    if value is True:
        return "!t"
    if value is False:
        return "!f"
    if value is None:
        return "!n"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        if value and re.fullmatch(r"[A-Za-z_./~-][A-Za-z0-9_./~-]*", value):
            return value
        return "'" + value.replace("!", "!!").replace("'", "!'") + "'"
    if isinstance(value, (list, tuple)):
        return "!(" + ",".join(_rison(v) for v in value) + ")"
    if isinstance(value, dict):
        return "(" + ",".join(f"{_rison(str(k))}:{_rison(v)}" for k, v in value.items()) + ")"
    raise TypeError(f"cannot rison-encode {type(value).__name__}")


class SupersetClient:
    """Logged-in requests session: bearer token + CSRF token + session cookie."""

    def __init__(self, url: str, timeout: float = 60.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def _check(self, resp: requests.Response, what: str) -> requests.Response:
        if resp.status_code >= 400:
            body = resp.text[:500].replace("\n", " ")
            hint = " (the server log has the reason)" if resp.status_code >= 500 else ""
            raise DeployError(f"{what} failed: HTTP {resp.status_code} {body}{hint}")
        return resp

    def login(self, username: str, password: str) -> None:
        try:
            resp = self.session.post(
                f"{self.url}/api/v1/security/login",
                json={"username": username, "password": password, "provider": "db", "refresh": False},
                timeout=self.timeout,
            )
        except requests.ConnectionError as exc:
            raise DeployError(f"cannot reach Superset at {self.url}: {exc}") from exc
        if resp.status_code == 401:
            raise DeployError(f"login as {username!r} refused: wrong user or password")
        self._check(resp, "login")
        self.session.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"
        csrf = self._check(self.session.get(f"{self.url}/api/v1/security/csrf_token/", timeout=self.timeout), "csrf")
        self.session.headers["X-CSRFToken"] = csrf.json()["result"]
        self.session.headers["Referer"] = self.url

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self._check(self.session.get(self.url + path, timeout=self.timeout, **kw), f"GET {path}")

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self._check(self.session.post(self.url + path, timeout=self.timeout, **kw), f"POST {path}")

    def put(self, path: str, **kw: Any) -> requests.Response:
        return self._check(self.session.put(self.url + path, timeout=self.timeout, **kw), f"PUT {path}")

    def list_all(self, resource: str, columns: list[str], filters: list[dict[str, Any]] | None = None) -> list[dict]:
        out, page = [], 0
        while True:
            q: dict[str, Any] = {"columns": columns, "page": page, "page_size": 100}
            if filters:
                q["filters"] = filters
            data = self.get(f"/api/v1/{resource}/", params={"q": _rison(q)}).json()
            out.extend(data.get("result", []))
            if len(out) >= data.get("count", 0) or not data.get("result"):
                return out
            page += 1

    def import_assets(self, zip_bytes: bytes, passwords: dict[str, str]) -> None:
        files = {"bundle": (f"{BUNDLE_ROOT_FOLDER}.zip", zip_bytes, "application/zip")}
        data = {"passwords": json.dumps(passwords)} if passwords else {}
        self.post("/api/v1/assets/import/", files=files, data=data)

    def ensure_roles(self, names: tuple[str, ...] | list[str]) -> dict[str, int]:
        existing = {r["name"]: r["id"] for r in self.list_all("security/roles", ["id", "name"])}
        for name in names:
            if name not in existing:
                resp = self.post("/api/v1/security/roles/", json={"name": name})
                existing[name] = resp.json()["id"]
                log.info("created role %s", name)
        return {n: existing[n] for n in names}


def deploy(
    url: str,
    username: str,
    password: str,
    bundle_dir: str | os.PathLike[str] = BUNDLE_DIR,
    warehouse_url: str | None = None,
    roles: tuple[str, ...] | list[str] = DEFAULT_ROLES,
    manifest_path: str | os.PathLike[str] | None = None,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Validate, zip, import and set up roles. Returns ids of what was imported:
    {"dashboards": {slug_or_uuid: id}, "charts": {uuid: id}, "datasets": {uuid: id}, "roles": {name: id}}."""
    warehouse_url = warehouse_url or os.environ.get("OPENFINOPS_WAREHOUSE_URL")
    if not warehouse_url:
        raise DeployError('OPENFINOPS_WAREHOUSE_URL is not set (eval "$(bash scripts/pg.sh env)")')
    target = parse_warehouse_url(warehouse_url)
    bundle = validate_bundle(bundle_dir, manifest_path, known_secrets=(target.password or "",))
    zip_bytes, passwords = build_bundle_zip(bundle_dir, warehouse_url)

    client = SupersetClient(url, timeout=timeout)
    client.login(username, password)
    client.import_assets(zip_bytes, passwords)
    log.info("imported %d files into %s", len(bundle.files), url)

    chart_uuids = {str(c["uuid"]) for c in bundle.of_kind("charts").values()}
    dataset_uuids = {str(c["uuid"]) for c in bundle.of_kind("datasets").values()}
    charts = {str(c["uuid"]): c["id"] for c in client.list_all("chart", ["id", "uuid"]) if c["uuid"] in chart_uuids}
    datasets = {
        str(d["uuid"]): d["id"] for d in client.list_all("dataset", ["id", "uuid"]) if d["uuid"] in dataset_uuids
    }
    dashboards = {}
    for cfg in bundle.of_kind("dashboards").values():
        key = cfg.get("slug") or str(cfg["uuid"])
        dashboards[key] = client.get(f"/api/v1/dashboard/{key}").json()["result"]["id"]
    missing = (chart_uuids - charts.keys()) | (dataset_uuids - datasets.keys())
    if missing:
        raise DeployError(f"import reported OK but these assets are missing afterwards: {sorted(missing)}")
    role_ids = client.ensure_roles(roles) if roles else {}
    return {"dashboards": dashboards, "charts": charts, "datasets": datasets, "roles": role_ids}


# ------------------------------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default=os.environ.get("SUPERSET_URL", "http://127.0.0.1:8088"))
    ap.add_argument("--user", default=os.environ.get("SUPERSET_ADMIN_USER", "admin"))
    ap.add_argument("--password-file", help="file holding the admin password (else env SUPERSET_ADMIN_PASSWORD)")
    ap.add_argument("--bundle", default=str(BUNDLE_DIR))
    ap.add_argument("--manifest", help=f"dbt manifest to check dataset tables against (default {DEFAULT_MANIFEST})")
    ap.add_argument("--roles", default=",".join(DEFAULT_ROLES), help="comma-separated roles to ensure ('' = none)")
    ap.add_argument("--validate-only", action="store_true", help="validate the bundle and exit")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[superset-deploy] %(message)s")

    try:
        if args.validate_only:
            wh = os.environ.get("OPENFINOPS_WAREHOUSE_URL")
            live = (parse_warehouse_url(wh).password or "",) if wh else ()
            bundle = validate_bundle(args.bundle, args.manifest, known_secrets=live)
            log.info("bundle OK: %d files", len(bundle.files))
            return 0
        if args.password_file:
            password = Path(args.password_file).read_text(encoding="utf-8").strip()
        else:
            password = os.environ.get("SUPERSET_ADMIN_PASSWORD", "")
        if not password:
            raise DeployError("no admin password: pass --password-file FILE or set SUPERSET_ADMIN_PASSWORD")
        roles = tuple(r.strip() for r in args.roles.split(",") if r.strip())
        result = deploy(args.url, args.user, password, args.bundle, roles=roles, manifest_path=args.manifest)
    except (BundleError, DeployError, OSError) as exc:
        print(f"superset deploy failed: {exc}", file=sys.stderr)
        return 1
    log.info("deployed: %s", json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
