"""Superset-only fixtures: a real Superset (gunicorn) on a test metadata DB, deployed from superset/bundle with the
access policy of superset/access.yaml, connected to the warehouse through the read-only role.

Warehouse data comes from the `built_warehouse` fixture (tests/conftest.py: demo data + dbt build; its `.url` is
the warehouse URL with populated marts). For developing these tests alone, export
OPENFINOPS_TEST_WAREHOUSE_URL=postgresql://... pointing at any database with built marts.

Environment knobs:
  OPENFINOPS_TEST_SUPERSET_PORT       default 18088 (a demo instance keeps 8088)
  OPENFINOPS_TEST_SUPERSET_STATE_DIR  default .openfinops/test-superset (kept between runs so `init` is skipped
                                      when the test metadata DB is already initialised)
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

REPO = Path(__file__).resolve().parents[2]


def _load_deploy_module():
    """superset/deploy.py under a unique module name (the repo's superset/ is not a package). Loading it puts
    superset/ on sys.path, so the `openfinops_superset` package imports below work."""
    name = "openfinops_superset_deploy"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "superset" / "deploy.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


superset_deploy = _load_deploy_module()

from openfinops_superset.client import SupersetClient  # noqa: E402

BUNDLE = REPO / "superset" / "bundle"
ACCESS_YAML = REPO / "superset" / "access.yaml"

TEST_METADATA_DB = "superset_test"
CHROMIUM = Path("/usr/bin/chromium")


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def _export_lines(text: str) -> dict[str, str]:
    """Parse `export A='x' B=y` lines as printed by scripts/pg.sh env / scripts/superset.sh env."""
    env = {}
    for line in text.splitlines():
        tokens = shlex.split(line)
        if tokens and tokens[0] == "export":
            for tok in tokens[1:]:
                key, _, value = tok.partition("=")
                env[key] = value
    return env


@pytest.fixture(scope="session")
def superset_pg_env() -> dict[str, str]:
    """URLs of the embedded PostgreSQL (started if needed): admin, warehouse, read-only reader, Superset metadata."""
    keys = ("OPENFINOPS_PG_ADMIN_URL", "OPENFINOPS_SUPERSET_DB_URL", "OPENFINOPS_WAREHOUSE_URL",
            "OPENFINOPS_READER_URL")
    if all(os.environ.get(k) for k in keys):
        return {k: os.environ[k] for k in keys}
    subprocess.run(["bash", str(REPO / "scripts/pg.sh"), "start"], check=True, cwd=REPO)
    out = subprocess.run(
        ["bash", str(REPO / "scripts/pg.sh"), "env"], check=True, cwd=REPO, capture_output=True, text=True
    ).stdout
    env = _export_lines(out)
    missing = [k for k in keys if not (os.environ.get(k) or env.get(k))]
    if missing:
        pytest.fail(f"{missing} not set and not exported by scripts/pg.sh env")
    return {k: os.environ.get(k) or env[k] for k in keys}


@pytest.fixture(scope="session")
def superset_reader_url(superset_pg_env, superset_warehouse_url) -> str:
    """The read-only role's URL for the warehouse under test: OPENFINOPS_READER_URL with the test database's name
    (the role is cluster-wide; its SELECT grants are per database)."""
    database = urlsplit(superset_warehouse_url).path.lstrip("/")
    return _with_database(superset_pg_env["OPENFINOPS_READER_URL"], database)


@pytest.fixture(scope="session")
def superset_warehouse_url(request) -> str:
    """Warehouse whose `marts` schema Superset shows: OPENFINOPS_TEST_WAREHOUSE_URL, else `built_warehouse`."""
    url = os.environ.get("OPENFINOPS_TEST_WAREHOUSE_URL")
    if url:
        return url
    url = request.getfixturevalue("built_warehouse").url
    deliver_alerts_and_rebuild(url)
    return url


def deliver_alerts_and_rebuild(url: str) -> None:
    """Give the COO view real alert deliveries: the demo config's alerts are sent to a receiver on loopback (Slack
    and webhook accept; the e-mail channel has no SMTP connection here, so its messages fail and are recorded as
    failures), then the alert-delivery mart is rebuilt."""
    from tests.conftest import run_cli
    from tests.fakes.alert_receivers import HttpReceiver

    receiver = HttpReceiver()
    try:
        base = f"http://127.0.0.1:{receiver.port}"
        env = {"OPENFINOPS_SLACK_WEBHOOK_URL": f"{base}/slack/services/T0/B0/test",
               "OPENFINOPS_ALERT_WEBHOOK_URL": f"{base}/openfinops-alerts"}
        assert "AIRFLOW_CONN_OPENFINOPS_SMTP" not in os.environ
        proc = run_cli("alerts", url=url, check=False, extra_env=env)
        assert proc.returncode != 0 and "finops-email" in proc.stderr + proc.stdout, (proc.stdout, proc.stderr)
        assert receiver.requests, "no alert reached the receiver"
    finally:
        receiver.close()
    run_cli("dbt", "run", "--select", "fct_alert_delivery_daily", url=url)


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """Debian chromium, installed by scripts/install_chromium.sh when missing. Fails (never skips) otherwise."""
    if not CHROMIUM.exists():
        proc = subprocess.run(
            ["bash", str(REPO / "scripts/install_chromium.sh")], check=False, cwd=REPO, capture_output=True, text=True
        )
        if proc.returncode != 0 or not CHROMIUM.exists():
            pytest.fail(f"chromium could not be installed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return CHROMIUM


@dataclass
class SupersetInstance:
    url: str
    username: str
    password: str
    env: dict[str, str]
    state_dir: Path
    warehouse_url: str
    reader_url: str
    init_seconds: float
    start_seconds: float

    @property
    def credentials_dir(self) -> Path:
        return self.state_dir / "credentials"

    def client(self, username: str | None = None, password: str | None = None) -> SupersetClient:
        """A logged-in API client: the admin by default, or the given user."""
        c = SupersetClient(self.url, timeout=120)
        c.login(username or self.username, password if username else self.password)
        return c

    def run_script(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", str(REPO / "scripts/superset.sh"), *args],
            cwd=REPO,
            env=self.env,
            check=check,
            capture_output=True,
            text=True,
        )


@pytest.fixture(scope="session")
def superset_instance(superset_pg_env, superset_warehouse_url, superset_reader_url) -> SupersetInstance:
    """Superset on 127.0.0.1:18088 with metadata in `superset_test`; stopped at the end of the session."""
    admin_url = superset_pg_env["OPENFINOPS_PG_ADMIN_URL"]
    meta_url = _with_database(superset_pg_env["OPENFINOPS_SUPERSET_DB_URL"], TEST_METADATA_DB)
    meta_owner = urlsplit(meta_url).username
    port = os.environ.get("OPENFINOPS_TEST_SUPERSET_PORT", "18088")
    state_dir = Path(os.environ.get("OPENFINOPS_TEST_SUPERSET_STATE_DIR", REPO / ".openfinops" / "test-superset"))
    state_dir.mkdir(parents=True, exist_ok=True)
    # The metadata DB stores database passwords encrypted with SECRET_KEY, which lives in this state dir: without
    # our init stamp the DB was made with other secrets (or is half-made), so start it afresh.
    fresh = not (state_dir / "superset" / "init.stamp").exists()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (TEST_METADATA_DB,)).fetchone()
        if exists and fresh:
            conn.execute(f'DROP DATABASE "{TEST_METADATA_DB}" WITH (FORCE)')
        if fresh or not exists:
            conn.execute(f'CREATE DATABASE "{TEST_METADATA_DB}" OWNER "{meta_owner}"')
    env = dict(os.environ)
    env.update(
        {
            "OPENFINOPS_STATE_DIR": str(state_dir),
            "OPENFINOPS_SUPERSET_PORT": port,
            "OPENFINOPS_SUPERSET_DB_URL": meta_url,
            "OPENFINOPS_WAREHOUSE_URL": superset_warehouse_url,
            "OPENFINOPS_READER_URL": superset_reader_url,
            "OPENFINOPS_PG_ADMIN_URL": admin_url,
        }
    )

    def script(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            ["bash", str(REPO / "scripts/superset.sh"), *args],
            check=False,
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            log_file = state_dir / "superset" / "superset.log"
            tail = log_file.read_text(errors="replace")[-3000:] if log_file.exists() else ""
            pytest.fail(f"scripts/superset.sh {' '.join(args)} failed:\n{proc.stderr[-3000:]}\n{tail}")
        return proc

    t0 = time.monotonic()
    script("init")
    t1 = time.monotonic()
    script("start")
    t2 = time.monotonic()
    creds = _export_lines(script("env").stdout)
    instance = SupersetInstance(
        url=creds["SUPERSET_URL"],
        username=creds["SUPERSET_ADMIN_USER"],
        password=creds["SUPERSET_ADMIN_PASSWORD"],
        env=env,
        state_dir=state_dir,
        warehouse_url=superset_warehouse_url,
        reader_url=superset_reader_url,
        init_seconds=round(t1 - t0, 1),
        start_seconds=round(t2 - t1, 1),
    )
    print(f"\n[superset] init {instance.init_seconds} s, start {instance.start_seconds} s at {instance.url}")
    try:
        yield instance
    finally:
        subprocess.run(
            ["bash", str(REPO / "scripts/superset.sh"), "stop"],
            check=False,
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
        )


@pytest.fixture(scope="session")
def superset_bundle_dir() -> Path:
    """The bundle the tests deploy: superset/bundle as committed."""
    return BUNDLE


@pytest.fixture(scope="session")
def deploy_kwargs(superset_instance, superset_bundle_dir) -> dict:
    """Arguments of deploy() for the test instance: the test bundle, its reader URL, demo users under its
    credentials dir."""
    return {
        "bundle_dir": superset_bundle_dir,
        "reader_url": superset_instance.reader_url,
        "with_demo_users": True,
        "creds_dir": superset_instance.credentials_dir,
    }


@pytest.fixture(scope="session")
def deployed_superset(superset_instance, superset_bundle_dir, deploy_kwargs) -> dict:
    """The bundle deployed once (through superset/deploy.py's importable deploy()), with access and demo users.
    Dashboards, charts and datasets of earlier runs that are not in this bundle are deleted first (test instance
    only): a slug or a table left by another bundle would block the import."""
    client = superset_instance.client()
    bundle = superset_deploy.load_bundle(superset_bundle_dir)
    for resource, kind in (("dashboard", "dashboards"), ("chart", "charts"), ("dataset", "datasets")):
        ours = set(bundle.by_uuid(kind))
        stale = [r["id"] for r in client.list_all(resource, ["id", "uuid"]) if str(r["uuid"]) not in ours]
        if stale:
            client.delete(f"/api/v1/{resource}/", params={"q": f"!({','.join(map(str, stale))})"})
    return superset_deploy.deploy(
        superset_instance.url,
        superset_instance.username,
        superset_instance.password,
        **deploy_kwargs,
    )


@pytest.fixture(scope="session")
def warehouse_conn(superset_warehouse_url):
    with psycopg.connect(superset_warehouse_url) as conn:
        yield conn


@pytest.fixture(scope="session")
def deploy_module():
    """superset/deploy.py as a module (validate_bundle, build_bundle_zip, deploy, ...)."""
    return superset_deploy
