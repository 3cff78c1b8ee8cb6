"""Creates the Superset admin user, or resets its password to SUPERSET_ADMIN_PASSWORD (run by start.sh)."""

from __future__ import annotations

import os

from superset.app import create_app

app = create_app()
with app.app_context():
    from superset.extensions import db

    from superset import security_manager

    password = os.environ["SUPERSET_ADMIN_PASSWORD"]
    user = security_manager.find_user(username="admin")
    if user is None:
        role = security_manager.find_role("Admin")
        if role is None:
            raise SystemExit("the Admin role is missing: run `superset init` first")
        if not security_manager.add_user("admin", "Superset", "Admin", "admin@localhost", role, password=password):
            raise SystemExit("could not create the admin user")
        print("admin user created")
    else:
        security_manager.reset_password(user.id, password)
        print("admin password reset from SUPERSET_ADMIN_PASSWORD")
    db.session.commit()
