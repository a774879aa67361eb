"""The compose file's `superset-init` command, as written there, run against the embedded stack (no container engine
here): container paths are mapped through the service's own bind mounts, Superset's metadata goes to a fresh
PostgreSQL database. Run twice, the second time with another admin password from the env file: the stack comes up
initialised, the admin can log in with the password of the env file each time, and nothing is created twice."""

from __future__ import annotations

import os
import secrets
import subprocess
import uuid
from urllib.parse import urlsplit

import psycopg
import pytest
import yaml

from tests.superset.conftest import REPO, _with_database

SUPERSET_VENV = REPO / ".venv" / "superset" / "bin"
CHECK_PASSWORD = """
import sys
from werkzeug.security import check_password_hash
print("ok" if check_password_hash(sys.argv[1], sys.argv[2]) else "wrong")
"""


def _service():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return compose["services"]["superset-init"], compose["services"]["superset"]


def _host_path(value: str, mounts: dict[str, str]) -> str:
    for target, source in sorted(mounts.items(), key=lambda m: len(m[0]), reverse=True):
        value = value.replace(target, source)
    return value


def _password_is(hashed: str, password: str) -> bool:
    out = subprocess.run([str(SUPERSET_VENV / "python"), "-c", CHECK_PASSWORD, hashed, password],
                         capture_output=True, text=True, check=True).stdout.strip()
    return out == "ok"


@pytest.fixture
def metadata_db(superset_pg_env):
    admin = superset_pg_env["OPENFINOPS_PG_ADMIN_URL"]
    url = _with_database(superset_pg_env["OPENFINOPS_SUPERSET_DB_URL"], f"superset_compose_{uuid.uuid4().hex[:8]}")
    name, owner = urlsplit(url).path.lstrip("/"), urlsplit(url).username
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
    yield url.replace("+psycopg2", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_superset_init_service_initialises_and_follows_the_admin_password(metadata_db, tmp_path):
    init, superset = _service()
    assert init["image"] == superset["image"] and init["environment"] == superset["environment"]
    assert init["volumes"] == superset["volumes"]  # the init sees the config the server runs with
    mounts = {v.split(":")[1]: str(REPO / v.split(":")[0]) for v in init["volumes"] if v.startswith("./")}
    assert init["command"][:2] == ["bash", "-c"]
    command = _host_path(init["command"][2], mounts).replace("$$", "$")
    assert "/app/openfinops" not in command

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENFINOPS_", "SUPERSET", "AIRFLOW"))}
    env |= {
        # the variables the service declares, with values the env file would hold
        "SUPERSET_CONFIG_PATH": _host_path(init["environment"]["SUPERSET_CONFIG_PATH"], mounts),
        "SUPERSET_SECRET_KEY": secrets.token_urlsafe(32),
        "GUEST_TOKEN_JWT_SECRET": secrets.token_urlsafe(32),
        "OPENFINOPS_SUPERSET_DB_URL": metadata_db.replace("postgresql://", "postgresql+psycopg2://", 1),
        "SUPERSET_HOME": str(tmp_path / "home"),
        "PYTHONPATH": "",  # as in the image: the repo root (with its superset/ folder) is not importable
        "PATH": f"{SUPERSET_VENV}:{os.environ['PATH']}",
    }
    assert set(init["environment"]) <= set(env) | {"SUPERSET_ADMIN_PASSWORD"}

    def run(password: str) -> None:
        proc = subprocess.run(command, shell=True, executable="/bin/bash", cwd=tmp_path,
                              env=env | {"SUPERSET_ADMIN_PASSWORD": password}, capture_output=True, text=True,
                              timeout=900)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]

    def state(conn):
        users = conn.execute("""
            SELECT u.username, u.password, u.active, array_agg(r.name ORDER BY r.name)
            FROM ab_user u JOIN ab_user_role ur ON ur.user_id = u.id JOIN ab_role r ON r.id = ur.role_id
            GROUP BY u.username, u.password, u.active""").fetchall()
        roles = conn.execute("SELECT count(*) FROM ab_role").fetchone()[0]
        permissions = conn.execute("SELECT count(*) FROM ab_permission_view").fetchone()[0]
        version = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        return users, roles, permissions, version

    run("first-password")
    with psycopg.connect(metadata_db) as conn:
        users, roles, permissions, version = state(conn)
    assert len(version) == 1
    assert [(u[0], u[2], u[3]) for u in users] == [("admin", True, ["Admin"])]
    assert _password_is(users[0][1], "first-password")
    assert roles >= 5 and permissions > 100  # `superset init` made the built-in roles and their permissions

    run("changed-in-the-env-file")
    with psycopg.connect(metadata_db) as conn:
        users2, roles2, permissions2, version2 = state(conn)
    assert [(u[0], u[2], u[3]) for u in users2] == [("admin", True, ["Admin"])]
    assert _password_is(users2[0][1], "changed-in-the-env-file")
    assert not _password_is(users2[0][1], "first-password")
    assert (roles2, permissions2, version2) == (roles, permissions, version)
