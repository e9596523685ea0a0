"""Schema migrations (Alembic). ``kefu db upgrade`` runs :func:`upgrade`.

Migrations run as the tables' owner (``KEFU_DATABASE_OWNER_URL``). On
PostgreSQL they also put every tenant table under row-level security and
grant the application role (``KEFU_DATABASE_APP_ROLE``) plain DML, minus
UPDATE/DELETE on the append-only audit tables.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from kefu.core.db import make_engine
from kefu.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent


def alembic_config(url: str, app_role: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["app_role"] = app_role
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (idempotent). Must not be called from a running event loop."""
    if settings.is_embedded_database:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings.resolved_owner_url, settings.database_app_role), revision)


async def _current_revision(url: str) -> str | None:
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
    finally:
        await engine.dispose()


def current_revision(settings: Settings) -> str | None:
    if settings.is_embedded_database:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return asyncio.run(_current_revision(settings.resolved_owner_url))


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def grant_app_role_sql(app_role: str) -> list[str]:
    from kefu.audit.models import APPEND_ONLY_TABLES
    from kefu.core.db import quote_ident

    role = quote_ident(app_role)
    statements = [
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        f"REVOKE ALL ON alembic_version FROM {role}",
        f"GRANT SELECT ON alembic_version TO {role}",
    ]
    statements += [f"REVOKE UPDATE, DELETE, TRUNCATE ON {t} FROM {role}" for t in APPEND_ONLY_TABLES]
    return statements


def ensure_app_role_sql(app_role: str) -> str:
    from kefu.core.db import quote_ident

    role = quote_ident(app_role)  # validates the name: letters, digits and '_' only
    name = app_role
    return (
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '"  # noqa: S608 - validated identifier
        + name
        + "') THEN "
        f"CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE; "
        "END IF; END $$"
    )


__all__ = ["alembic_config", "current_revision", "head_revision", "sa", "upgrade"]
