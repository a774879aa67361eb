"""scripts/pg.sh works for a normal user too (the suite itself usually runs as root, which uses a system user)."""

import os
import shutil
import subprocess
import tempfile

import pytest

from tests.conftest import ROOT

USER = "openfinops-test-user"


def as_normal_user(command: str, env: dict, cwd: str) -> subprocess.CompletedProcess:
    exports = " ".join(f"{k}={v}" for k, v in env.items())
    argv = ["bash", "-c", f"export {exports}; {command}"]
    if os.geteuid() == 0:  # root: run as a throw-away normal user
        if subprocess.run(["id", USER], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/bin/bash", USER], check=True)
        argv = ["runuser", "-u", USER, "--", *argv]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_pg_sh_as_a_normal_user_starts_its_own_cluster_with_three_databases():
    # The scripts are copied to a temporary folder: the checkout's parents may not be readable by that user.
    state = tempfile.mkdtemp(prefix="ofo-pg-user-")
    os.chmod(state, 0o777)
    os.makedirs(f"{state}/scripts")
    for name in ("lib.sh", "pg.sh"):
        shutil.copy(ROOT / "scripts" / name, f"{state}/scripts/{name}")
    env = {"OPENFINOPS_STATE_DIR": f"{state}/state", "OPENFINOPS_PG_PORT": "54401"}
    databases = "select string_agg(datname, ',' order by datname) from pg_database " \
                "where datname in ('openfinops', 'airflow', 'superset')"
    try:
        proc = as_normal_user('bash scripts/pg.sh start && eval "$(bash scripts/pg.sh env)" && '
                              'psql "$OPENFINOPS_WAREHOUSE_URL" -XAtc "select current_user, inet_server_port()" && '
                              f'psql "$OPENFINOPS_PG_ADMIN_URL" -XAtc "{databases}" && '
                              'psql "$OPENFINOPS_WAREHOUSE_URL" -XAtc "show synchronous_commit"', env, state)
        assert proc.returncode == 0, proc.stderr[-2000:]
        lines = proc.stdout.strip().splitlines()
        assert lines[-3] == "openfinops|54401"
        assert lines[-2] == "airflow,openfinops,superset"
        # a load or an alert row reported as committed survives a crash of the server
        assert lines[-1] == "on"
        owner = os.stat(f"{state}/state/pg/data").st_uid
        assert owner != 0, "the data directory must not belong to root"
    finally:
        as_normal_user("bash scripts/pg.sh stop", env, state)
        shutil.rmtree(state, ignore_errors=True)


def test_pg_sh_as_root_from_a_clone_the_server_user_cannot_enter():
    """A fresh clone in root's home (mode 700): the server user cannot reach it, so the cluster lives under
    /var/lib/openfinops-pg, and everything the server touches (data, socket, password file, log) is there."""
    if os.geteuid() != 0:
        pytest.skip("only root can clone where the server user cannot enter (CI runs as root)")
    home = tempfile.mkdtemp(prefix="ofo-root-home-")  # mkdtemp: mode 700, like /root
    clone = f"{home}/openfinops"
    os.makedirs(f"{clone}/scripts")
    for name in ("lib.sh", "pg.sh"):
        shutil.copy(ROOT / "scripts" / name, f"{clone}/scripts/{name}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENFINOPS_")} | {"OPENFINOPS_PG_PORT": "54403"}

    def run(command: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-c", command], cwd=clone, env=env, capture_output=True, text=True, timeout=180)

    try:
        assert oct(os.stat(home).st_mode & 0o777) == "0o700"
        proc = run('bash scripts/pg.sh start && eval "$(bash scripts/pg.sh env)" && '
                   'psql "$OPENFINOPS_WAREHOUSE_URL" -XAtc "select current_user, inet_server_port()"')
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.strip().splitlines()[-1] == "openfinops|54403"
        target = os.path.realpath(f"{clone}/.openfinops/pg")
        assert target.startswith("/var/lib/openfinops-pg/"), target
        assert os.path.isfile(f"{target}/data/PG_VERSION")
        # restart works too (the server's paths resolved, not through the unreachable clone)
        proc = run("bash scripts/pg.sh stop && bash scripts/pg.sh start")
        assert proc.returncode == 0, proc.stderr[-2000:]
    finally:
        run("bash scripts/pg.sh stop")
        target = os.path.realpath(f"{clone}/.openfinops/pg")
        shutil.rmtree(home, ignore_errors=True)
        if target.startswith("/var/lib/openfinops-pg/"):
            shutil.rmtree(target, ignore_errors=True)
