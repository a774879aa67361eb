"""The compose stack's init scripts run against a real, throw-away PostgreSQL cluster (no container engine here):
docker/postgres-init.sh with passwords full of quotes, backslashes, semicolons and `$` creates the four logins,
and each can log in with its password (SCRAM over the cluster's socket)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest

from tests.conftest import ROOT, as_pg, bindir

PASSWORDS = {
    "WAREHOUSE_DB_PASSWORD": "o'neil; DROP ROLE postgres; --",
    "AIRFLOW_DB_PASSWORD": "back\\slash'' and $HOME",
    "SUPERSET_DB_PASSWORD": "semi;colon:'quoted'",
    "READER_DB_PASSWORD": "$(touch /tmp/pwned)`id`",
}
LOGINS = {"openfinops": "WAREHOUSE_DB_PASSWORD", "airflow": "AIRFLOW_DB_PASSWORD", "superset": "SUPERSET_DB_PASSWORD",
          "openfinops_reader": "READER_DB_PASSWORD"}


@pytest.fixture
def throwaway_cluster():
    base = Path(tempfile.mkdtemp(prefix="ofo-compose-init-"))
    os.chmod(base, 0o777)
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    os.chmod(sock, 0o777)
    bins = bindir()
    proc = as_pg([str(bins / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"])
    assert proc.returncode == 0, proc.stderr
    port = "54411"
    proc = as_pg([str(bins / "pg_ctl"), "-D", str(data), "-w", "-l", str(base / "log"), "-o",
                  f"-p {port} -k {sock} -c listen_addresses=''", "start"])
    assert proc.returncode == 0, proc.stderr + (base / "log").read_text()
    try:
        yield {"bins": bins, "data": data, "sock": sock, "port": port}
    finally:
        as_pg([str(bins / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"])
        shutil.rmtree(base, ignore_errors=True)


def test_postgres_init_script_takes_any_password_characters(throwaway_cluster):
    c = throwaway_cluster
    env = {"POSTGRES_USER": "postgres", "PGHOST": str(c["sock"]), "PGPORT": c["port"],
           "PATH": f"{c['bins']}:{os.environ['PATH']}", **PASSWORDS}
    proc = as_pg(["bash", str(ROOT / "docker" / "postgres-init.sh")], env)
    assert proc.returncode == 0, proc.stderr
    assert not Path("/tmp/pwned").exists()
    # from now on passwords are checked
    hba = c["data"] / "pg_hba.conf"
    as_pg(["bash", "-c", f"printf 'local all postgres trust\\nlocal all all scram-sha-256\\n' > {hba}"])
    assert as_pg([str(c["bins"] / "pg_ctl"), "-D", str(c["data"]), "reload"]).returncode == 0
    for login, variable in LOGINS.items():
        with psycopg.connect(host=str(c["sock"]), port=c["port"], user=login, password=PASSWORDS[variable],
                             dbname="postgres") as conn:
            assert conn.execute("SELECT current_user").fetchone() == (login,)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(host=str(c["sock"]), port=c["port"], user="openfinops", password="o'neil", dbname="postgres")
    with psycopg.connect(host=str(c["sock"]), port=c["port"], user="postgres", dbname="postgres") as conn:
        roles = {r for (r,) in conn.execute("SELECT rolname FROM pg_roles")}
        reader = conn.execute("SELECT rolconfig FROM pg_roles WHERE rolname = 'openfinops_reader'").fetchone()[0]
    assert set(LOGINS) | {"postgres"} <= roles
    assert "default_transaction_read_only=on" in reader


def test_the_airflow_init_service_command_runs_against_the_embedded_stack(empty_db, tmp_path):
    """The compose file's airflow-init command, as written there, run here: metadata DB migrated (SQLite instead of
    the compose PostgreSQL), the admin's password file written from the environment, the warehouse tables synced."""
    import json
    import subprocess
    import sys

    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    command = compose["services"]["airflow-init"]["command"]
    assert command[:2] == ["bash", "-c"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENFINOPS_", "AIRFLOW"))} | {
        "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path}/airflow.db",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(tmp_path / "passwords.json"),
        "AIRFLOW_ADMIN_PASSWORD": "from-the-env-file", "OPENFINOPS_WAREHOUSE_URL": empty_db,
        "OPENFINOPS_CONFIG": str(ROOT / "config" / "openfinops.yaml"), "PYTHONPATH": str(ROOT),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((tmp_path / "passwords.json").read_text()) == {"admin": "from-the-env-file"}
    with psycopg.connect(empty_db) as conn:
        budgets = conn.execute("SELECT count(*) FROM config.budgets").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname IN ('raw', 'ops', 'alerts')"
                              ).fetchone()[0]
    assert budgets > 0 and tables > 10
