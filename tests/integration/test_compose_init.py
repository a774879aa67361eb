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
