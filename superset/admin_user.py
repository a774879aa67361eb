"""Create Superset's admin user or bring an existing one in line: password from $SUPERSET_ADMIN_PASSWORD, active,
Admin role.

`superset fab create-admin` leaves an existing user's password alone, so a password changed in the env file (or
fresh credentials against a kept metadata DB) would never take effect. Run after `superset db upgrade`, with
Superset's own Python (scripts/superset.sh init and the compose `superset-init` service):

    SUPERSET_ADMIN_PASSWORD=... python superset/admin_user.py admin
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: admin_user.py USERNAME  (password in $SUPERSET_ADMIN_PASSWORD)", file=sys.stderr)
        return 2
    name = argv[0]
    password = os.environ.get("SUPERSET_ADMIN_PASSWORD", "")
    if not password:
        print("SUPERSET_ADMIN_PASSWORD is not set: expected the admin user's password", file=sys.stderr)
        return 2
    from superset.app import create_app
    from werkzeug.security import generate_password_hash

    app = create_app()
    with app.app_context():
        sm = app.appbuilder.sm
        role = sm.find_role("Admin") or sm.add_role("Admin")
        user = sm.find_user(username=name)
        if user is None:
            if not sm.add_user(name, "OpenFinOps", "Admin", f"{name}@openfinops.local", role, password=password):
                print(f"could not create the admin user {name!r}", file=sys.stderr)
                return 1
            print(f"created user {name}")
        else:
            user.password = generate_password_hash(password)
            user.active = True
            if role not in user.roles:
                user.roles.append(role)
            sm.update_user(user)
            print(f"updated user {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
