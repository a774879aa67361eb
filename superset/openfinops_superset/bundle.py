"""The dashboard bundle in git: load it, validate it (references, schema `marts`, no secrets, optional dbt manifest
check) and zip it for Superset's assets import API with the database pointed at the read-only warehouse role.

Rules and messages are listed in superset/README.md ("Validation rules").
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import yaml

from .database import DatabaseTarget, parse_database_url

SUPERSET_DIR = Path(__file__).resolve().parent.parent
ROOT = SUPERSET_DIR.parent
BUNDLE_DIR = SUPERSET_DIR / "bundle"
DEFAULT_MANIFEST = ROOT / "dbt_project" / "target" / "manifest.json"
BUNDLE_ROOT_FOLDER = "openfinops_bundle"
PASSWORD_MASK = "XXXXXXXXXX"
ALLOWED_SCHEMAS = frozenset({"marts"})
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


@dataclass
class Bundle:
    root: Path
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # relative posix path -> parsed YAML
    texts: dict[str, str] = field(default_factory=dict)  # relative posix path -> raw text

    def of_kind(self, kind: str) -> dict[str, dict[str, Any]]:
        return {p: c for p, c in self.files.items() if p.startswith(kind + "/")}

    def by_uuid(self, kind: str) -> dict[str, tuple[str, dict[str, Any]]]:
        """uuid -> (relative path, parsed YAML) of the assets of one kind (databases, datasets, charts, dashboards)."""
        return {str(c.get("uuid")): (rel, c) for rel, c in self.of_kind(kind).items()}

    def dashboards_by_slug(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """slug (or uuid for a dashboard without one) -> (relative path, parsed YAML)."""
        return {str(c.get("slug") or c.get("uuid")): (rel, c) for rel, c in self.of_kind("dashboards").items()}

    @staticmethod
    def chart_uuids(dashboard: dict[str, Any]) -> list[str]:
        """uuids of the charts a dashboard's `position` places, in position order."""
        position = dashboard.get("position") or {}
        return [
            str((node.get("meta") or {}).get("uuid"))
            for node in position.values()
            if isinstance(node, dict) and node.get("type") == "CHART"
        ]

    def dashboard_datasets(self, dashboard: dict[str, Any]) -> set[str]:
        """uuids of the datasets behind the charts of one dashboard."""
        charts = self.by_uuid("charts")
        return {str(charts[c][1].get("dataset_uuid")) for c in self.chart_uuids(dashboard) if c in charts}

    def filter_datasets(self, dashboard: dict[str, Any]) -> set[str]:
        """uuids of the bundled datasets a dashboard's native filters read (`targets[].datasetUuid`)."""
        metadata = dashboard.get("metadata") or {}
        datasets = self.by_uuid("datasets")
        return {
            str(target.get("datasetUuid"))
            for native_filter in metadata.get("native_filter_configuration") or []
            for target in native_filter.get("targets") or []
            if str(target.get("datasetUuid")) in datasets
        }


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
            errors.append(f"{rel}: contains a live secret (a warehouse password)")
    if rel.endswith((".yaml", ".yml")):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            data = None
        for keypath, key, value in _iter_keys(data):
            if _SECRET_KEY_RE.search(key) and isinstance(value, (str, int)) and str(value) not in ("", PASSWORD_MASK):
                errors.append(f"{rel}: key {keypath} holds a value; secrets never go into the bundle")
    return errors


@dataclass
class DbtManifest:
    """What validation needs from dbt's manifest: the models by table name, and the dashboard exposures."""

    models: dict[str, dict[str, Any]]  # table (alias or name) -> model node
    exposures: dict[str, set[str]]  # superset_dashboard_slug -> names of the models it depends on

    def is_contract_mart(self, table: str) -> bool:
        node = self.models[table]
        schema = (node.get("config") or {}).get("schema") or node.get("schema") or ""
        return bool(((node.get("config") or {}).get("contract") or {}).get("enforced")) and schema.endswith("marts")


def _load_manifest(manifest_path: Path) -> DbtManifest:
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    nodes = manifest.get("nodes", {})
    models = {}
    for node in nodes.values():
        if node.get("resource_type") in ("model", "snapshot", "seed"):
            for name in {node.get("alias"), node.get("name")} - {None}:
                models[name] = node
    exposures = {}
    for exp in (manifest.get("exposures") or {}).values():
        slug = ((exp.get("config") or {}).get("meta") or {}).get("superset_dashboard_slug") or (
            exp.get("meta") or {}).get("superset_dashboard_slug")
        if exp.get("type") == "dashboard" and slug:
            exposures[slug] = {nodes[u]["name"] for u in exp.get("depends_on", {}).get("nodes", []) if u in nodes}
    return DbtManifest(models, exposures)


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
    dbt_project/target/manifest.json), every dataset's table must be a contract mart there (model in schema marts,
    enforced contract, the dataset's columns in the contract) and, when the manifest has dashboard exposures, every
    dashboard must be one with exactly the marts its charts query.
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
    dbt = _load_manifest(manifest) if manifest.is_file() else None

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
        if dbt is not None and table and table not in dbt.models:
            errors.append(f"{rel}: table {table} is not a model in the dbt manifest {manifest}")
        elif dbt is not None and table:
            if not dbt.is_contract_mart(table):
                errors.append(f"{rel}: {table} is not a contract mart (dbt model in schema marts with an enforced "
                              "contract)")
            unknown = sorted({c.get("column_name") for c in cfg.get("columns") or []}
                             - set(dbt.models[table].get("columns") or {}))
            if unknown:
                errors.append(f"{rel}: columns {unknown} are not in the dbt contract of {table}")
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
        if dbt is not None and dbt.exposures and cfg.get("slug"):
            # the dashboard is a dbt exposure on exactly the marts its charts query (dbt docs shows the lineage)
            tables = {datasets[str(charts[u][1].get("dataset_uuid"))][1].get("table_name")
                      for u in (str((n.get("meta") or {}).get("uuid")) for n in position.values()
                                if isinstance(n, dict) and n.get("type") == "CHART")
                      if u in charts and str(charts[u][1].get("dataset_uuid")) in datasets}
            if cfg["slug"] not in dbt.exposures:
                errors.append(f"{rel}: dashboard {cfg['slug']} is not a dbt exposure (regenerate: make dashboards)")
            elif dbt.exposures[cfg["slug"]] != tables:
                errors.append(f"{rel}: the dbt exposure of {cfg['slug']} depends on "
                              f"{sorted(dbt.exposures[cfg['slug']])}, its charts query {sorted(tables)}")

    for rel, text in bundle.texts.items():
        errors.extend(find_secrets(rel, text, known_secrets))

    if errors:
        raise BundleError(errors)
    return bundle


# ------------------------------------------------------------------------------------------------- packaging
def _point_uri_at(uri: str, target: DatabaseTarget) -> str:
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
    database_url: str | None = None,
    root_folder: str = BUNDLE_ROOT_FOLDER,
) -> tuple[bytes, dict[str, str]]:
    """Zip the bundle under one root folder (in memory).

    With ``database_url`` (deploy passes OPENFINOPS_READER_URL) every database's sqlalchemy_uri takes that URL's
    user, host, port and database (password still masked) and the returned ``passwords`` map
    (``databases/<file>.yaml`` -> password) carries the real password for the import request only.
    Returns (zip bytes, passwords).
    """
    bundle = load_bundle(bundle_dir)
    target = parse_database_url(database_url) if database_url else None
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
