"""Two PostgreSQL roles: a migration owner that owns every table and an application
role that cannot change the audit trail (README 'Production', docs/security.md)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import errors
from sqlalchemy import text

from app import create_app
from data.db import DatabaseConfigError, create_db_engine, upgrade
from data.roles import RoleError, audit_trail_exposure
from tests.security.test_http_security import _login
from tests.support.apps import FROZEN_NOW, settings_for
from tests.support.auth import DEFAULT_PASSWORD
from tests.support.clock import MovableClock

ROOT = Path(__file__).resolve().parents[2]
SECRET = "9f1c2b7e4d6a8c0e3b5d7f9a1c3e5b7d9f0a2c4e6b8d0f1a"


@pytest.fixture
def two_roles(pg_server):  # noqa: ANN001, ANN201
    tag = uuid.uuid4().hex[:8]
    owner, app_role, db = f"cc_owner_{tag}", f"cc_app_{tag}", f"cc_roles_{tag}"
    pg_server.execute(f"CREATE ROLE {owner} LOGIN NOSUPERUSER")
    pg_server.execute(f"CREATE ROLE {app_role} LOGIN NOSUPERUSER")
    pg_server.execute(f"CREATE DATABASE {db} OWNER {owner}")

    def url(user: str) -> str:
        return f"postgresql+psycopg://{user}@127.0.0.1:{pg_server.port}/{db}"

    def dsn(user: str) -> str:
        return f"host=127.0.0.1 port={pg_server.port} user={user} dbname={db}"

    yield {"owner": owner, "app": app_role, "url": url, "dsn": dsn, "db": db}
    pg_server.execute(
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'"
    )
    pg_server.execute(f"DROP DATABASE IF EXISTS {db}")
    pg_server.execute(f"DROP ROLE IF EXISTS {app_role}")
    pg_server.execute(f"DROP ROLE IF EXISTS {owner}")


def _flask(args: list[str], env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "SECRET_KEY": SECRET,
        "COMMAND_CENTRE_HL7_KEY": SECRET,
        "COMMAND_CENTRE_DEMO": "0",
        "COMMAND_CENTRE_SECURE_COOKIES": "0",
        **env_extra,
    }
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _upgrade_as_owner(roles: dict) -> subprocess.CompletedProcess:
    return _flask(
        ["upgrade-db"],
        {"DATABASE_URL": roles["url"](roles["owner"]),
         "COMMAND_CENTRE_APP_ROLE": roles["app"]},
    )  # fmt: skip


def test_rol001_app_role_works_and_cannot_change_the_audit_trail(two_roles):
    roles = two_roles
    done = _upgrade_as_owner(roles)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "database schema is up to date" in done.stdout
    assert "can change the audit trail" not in done.stderr  # the owner, upgrading

    with psycopg.connect(roles["dsn"](roles["owner"]), autocommit=True) as conn:
        owners = {
            r[0]
            for r in conn.execute(
                "SELECT tableowner FROM pg_tables WHERE schemaname = 'public'"
            )
        }
    assert owners == {roles["owner"]}

    # The app role creates the first admin, starts the app and signs in (audited).
    done = _flask(
        ["create-user", "ada.admin", "--role", "admin", "--name", "Ada Admin",
         "--password", DEFAULT_PASSWORD],
        {"DATABASE_URL": roles["url"](roles["app"])},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    app = create_app(
        settings_for(
            roles["url"](roles["app"]),
            auth_required=True,
            clock=MovableClock(FROZEN_NOW),
        ),
        prepare=True,
    )
    client = app.server.test_client()
    assert _login(client, "ada.admin").status_code == 302
    assert client.get("/api/v1/beds").status_code == 200
    app.server.extensions["command_centre"].engine.dispose()

    with psycopg.connect(roles["dsn"](roles["app"])) as conn:
        actions = [
            r[0] for r in conn.execute("SELECT action FROM audit_event ORDER BY id")
        ]
        assert "sign_in" in actions
        # operational tables are writable (rolled back)
        conn.execute("UPDATE app_user SET display_name = 'x'")
        conn.rollback()

    attacks = [
        "UPDATE audit_event SET actor_username = 'eve'",
        "DELETE FROM audit_event",
        "TRUNCATE audit_event",
        "ALTER TABLE audit_event DISABLE TRIGGER USER",
        "ALTER TABLE audit_event DISABLE TRIGGER ALL",
        "DROP TRIGGER audit_event_no_change ON audit_event",
        "CREATE TRIGGER t AFTER INSERT ON audit_event "
        "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()",
        "DROP TABLE audit_event",
        "ALTER TABLE audit_event RENAME TO audit_old",
        f"ALTER TABLE audit_event OWNER TO {roles['app']}",
        "DROP FUNCTION audit_event_append_only() CASCADE",
        "CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
        "UPDATE alembic_version SET version_num = 'x'",
        "CREATE TABLE audit_copy (id int)",
    ]
    for statement in attacks:
        with (
            psycopg.connect(roles["dsn"](roles["app"])) as conn,
            pytest.raises(errors.InsufficientPrivilege),
        ):
            conn.execute(statement)

    with psycopg.connect(roles["dsn"](roles["app"])) as conn:
        assert conn.execute("SELECT count(*) FROM audit_event").fetchone()[0] == len(
            actions
        )

    engine = create_db_engine(roles["url"](roles["app"]))
    with engine.connect() as conn:
        assert audit_trail_exposure(conn) == []
        assert conn.execute(text("SELECT current_user")).scalar() == roles["app"]
    engine.dispose()
    engine = create_db_engine(roles["url"](roles["owner"]))
    with engine.connect() as conn:
        assert audit_trail_exposure(conn) == [f"{roles['owner']} owns audit_event"]
    engine.dispose()


def test_rol002_owner_still_upgrades_and_later_tables_are_granted(two_roles):
    roles = two_roles
    assert _upgrade_as_owner(roles).returncode == 0
    done = _upgrade_as_owner(roles)  # again: idempotent
    assert done.returncode == 0, done.stderr[-2000:]
    # a table a later migration adds is granted to the app role by default privileges
    with psycopg.connect(roles["dsn"](roles["owner"]), autocommit=True) as conn:
        conn.execute("CREATE TABLE later_feature (id serial PRIMARY KEY, note text)")
    with psycopg.connect(roles["dsn"](roles["app"]), autocommit=True) as conn:
        conn.execute("INSERT INTO later_feature (note) VALUES ('x')")
        conn.execute("UPDATE later_feature SET note = 'y'")
        conn.execute("DELETE FROM later_feature")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("DROP TABLE later_feature")
    # The owner can still change the trail (what is not guaranteed, docs/security.md)
    with psycopg.connect(roles["dsn"](roles["owner"])) as conn:
        conn.execute("ALTER TABLE audit_event DISABLE TRIGGER USER")
        conn.execute("DELETE FROM audit_event")
        conn.rollback()


def test_rol003_app_role_on_an_old_schema_says_who_must_upgrade(two_roles):
    roles = two_roles
    with pytest.raises(DatabaseConfigError, match="migration owner"):
        create_app(settings_for(roles["url"](roles["app"])), prepare=True)


def test_rol004_app_start_warns_when_its_account_owns_the_audit_trail(
    two_roles, caplog
):
    roles = two_roles
    app = create_app(settings_for(roles["url"](roles["owner"])), prepare=True)
    app.server.extensions["command_centre"].engine.dispose()
    assert any(
        "can change the audit trail" in r.getMessage() and r.levelname == "WARNING"
        for r in caplog.records
    )


def test_rol005_a_missing_app_role_stops_the_upgrade_with_one_line(two_roles):
    roles = two_roles
    done = _flask(
        ["upgrade-db"],
        {"DATABASE_URL": roles["url"](roles["owner"]),
         "COMMAND_CENTRE_APP_ROLE": "no_such_role"},
    )  # fmt: skip
    assert done.returncode == 2
    assert "no such role" in done.stderr
    assert "Traceback" not in done.stderr


def test_rol006_an_app_role_acting_as_the_owner_stops_the_upgrade(two_roles, pg_server):
    roles = two_roles
    pg_server.execute(f"GRANT {roles['owner']} TO {roles['app']}")
    engine = create_db_engine(roles["url"](roles["owner"]))
    with pytest.raises(RoleError, match="could still change the audit trail"):
        upgrade(engine, app_role=roles["app"])
    engine.dispose()
    pg_server.execute(f"REVOKE {roles['owner']} FROM {roles['app']}")
