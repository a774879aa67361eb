"""Superset users: production users from `superset.users` in config/openfinops.yaml (password from the environment
variable named by `password_env`), and for the demo one user per role with a generated password kept in
$OPENFINOPS_CREDENTIALS_DIR/superset_users.json (mode 600). Users are created or updated through the FAB security
API (/api/v1/security/users/); their roles are set exactly; deploy never deletes a user."""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .access import AccessPlan, AccessPolicyError
from .bundle import ROOT
from .client import DeployError, SupersetClient

log = logging.getLogger("openfinops.superset.users")

DEMO_USERS_FILE = "superset_users.json"
DEMO_EMAIL_DOMAIN = "demo.openfinops.local"


@dataclass(frozen=True)
class UserSpec:
    username: str
    first_name: str
    last_name: str
    email: str
    roles: tuple[str, ...]  # policy roles (CFO, Team Payments, ...); the base roles are added on apply
    password: str | None  # None: keep the current password (a new user gets a random one nobody knows)


def credentials_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("OPENFINOPS_CREDENTIALS_DIR"):
        return Path(env["OPENFINOPS_CREDENTIALS_DIR"])
    return Path(env.get("OPENFINOPS_STATE_DIR") or ROOT / ".openfinops") / "credentials"


def config_users(
    cfg: Any, plan: AccessPlan, config_path: str | Path, env: Mapping[str, str] | None = None
) -> list[UserSpec]:
    """The users of ``cfg.superset.users``. Every role must be in the access plan and every ``password_env`` must be
    set; otherwise AccessPolicyError / DeployError naming the config file, the user and the key or variable."""
    env = os.environ if env is None else env
    errors, missing_env, out = [], [], []
    for i, user in enumerate(cfg.superset.users):
        unknown = [r for r in user.roles if r not in plan.roles]
        if unknown:
            errors.append(
                f"{config_path}: superset.users[{i}].roles: unknown role(s) {unknown} for user {user.username!r}; "
                f"{plan.source.name} defines {sorted(plan.roles)}"
            )
        password = None
        if user.password_env:
            password = env.get(user.password_env)
            if not password:
                missing_env.append(f"user {user.username!r}: environment variable {user.password_env} is not set")
        out.append(
            UserSpec(user.username, user.first_name or user.username, user.last_name or "-", user.email,
                     tuple(user.roles), password)
        )
    if errors:
        raise AccessPolicyError(errors)
    if missing_env:
        raise DeployError(f"{config_path}: superset.users: missing passwords:\n  - " + "\n  - ".join(missing_env))
    return out


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def demo_users(plan: AccessPlan, creds_dir: str | Path | None = None) -> tuple[list[UserSpec], Path]:
    """One user per role of the plan (`cfo`, `analyst`, `team-payments`, ...). Passwords already in the demo users
    file are reused; new ones are generated and the file is rewritten (mode 600, folder 700). Returns (users, file).
    """
    path = Path(creds_dir or credentials_dir()) / DEMO_USERS_FILE
    stored: dict[str, Any] = {}
    if path.exists():
        try:
            stored = json.loads(path.read_text(encoding="utf-8")).get("users", {})
        except (ValueError, AttributeError) as exc:
            raise DeployError(f"{path}: not a demo users file ({exc}); delete it to generate new passwords") from None
    users, entries = [], {}
    for role in plan.roles.values():
        name = role.demo_username
        password = (stored.get(name) or {}).get("password") or secrets.token_urlsafe(18)
        entries[name] = {"role": role.name, "password": password}
        users.append(UserSpec(name, "Demo", role.name, f"{name}@{DEMO_EMAIL_DOMAIN}", (role.name,), password))
    document = {
        "comment": "Demo Superset users created by superset/deploy.py --demo-users (one per role). Keep private.",
        "users": entries,
    }
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        _write_private(path, text)
    else:
        os.chmod(path, 0o600)
        os.chmod(path.parent, 0o700)
    return users, path


def apply_users(client: SupersetClient, plan: AccessPlan, users: list[UserSpec]) -> dict[str, int]:
    """Create or update each user with exactly ``plan.superset_roles(user.roles)``. A user's password is set when it
    has one (demo file or password_env); otherwise an existing user's password is left alone. Returns
    {username: id}."""
    dupes = sorted({u.username for u in users if [v.username for v in users].count(u.username) > 1})
    if dupes:
        raise DeployError(f"users defined twice (config and demo users?): {dupes}")
    role_ids = {r["name"]: r["id"] for r in client.list_all("security/roles", ["id", "name"])}
    columns = ["id", "username", "first_name", "last_name", "email", "active", "roles.id"]
    existing = {u["username"]: u for u in client.list_all("security/users", columns)}
    out = {}
    for user in users:
        names = plan.superset_roles(user.roles)
        missing = [n for n in names if n not in role_ids]
        if missing:
            raise DeployError(f"user {user.username!r}: Superset has no role(s) {missing} (run `superset init`)")
        fields = {
            "first_name": user.first_name,
            "last_name": user.last_name,
            "email": user.email,
            "active": True,
            "roles": sorted(role_ids[n] for n in names),
        }
        have = existing.get(user.username)
        if have is None:
            body = {"username": user.username, **fields, "password": user.password or secrets.token_urlsafe(32)}
            out[user.username] = client.post("/api/v1/security/users/", json=body).json()["id"]
            log.info("created user %s (%s)", user.username, ", ".join(names))
            continue
        out[user.username] = have["id"]
        current = {k: have.get(k) for k in fields if k != "roles"}
        current["roles"] = sorted(r["id"] for r in have.get("roles") or [])
        changed = current != fields
        if changed or user.password:
            body = {**fields, **({"password": user.password} if user.password else {})}
            client.put(f"/api/v1/security/users/{have['id']}", json=body)
            if changed:
                log.info("updated user %s (%s)", user.username, ", ".join(names))
    return out
