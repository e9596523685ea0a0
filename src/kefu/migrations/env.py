"""Alembic environment: async engines, SQLite batch mode, PostgreSQL grants after upgrade."""

from __future__ import annotations

import asyncio
import logging

from alembic import context
from sqlalchemy import text

import kefu.models  # noqa: F401 - registers every table on Base.metadata
from kefu.core.db import Base, make_engine
from kefu.migrations import ensure_app_role_sql, grant_app_role_sql

log = logging.getLogger("kefu.migrations")
config = context.config
target_metadata = Base.metadata


def _grant_app_role(connection, app_role: str) -> None:  # type: ignore[no-untyped-def]
    can_create = connection.execute(
        text("select rolcreaterole or rolsuper from pg_roles where rolname = current_user")
    ).scalar()
    exists = connection.execute(text("select 1 from pg_roles where rolname = :r"), {"r": app_role}).scalar()
    if not exists and can_create:
        connection.execute(text(ensure_app_role_sql(app_role)))
        exists = True
    if not exists:
        log.warning("role %s does not exist and cannot be created here; create it and run the upgrade again", app_role)
        return
    for statement in grant_app_role_sql(app_role):
        connection.execute(text(statement))


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
        app_role = config.attributes.get("app_role")
        if connection.dialect.name == "postgresql" and app_role:
            _grant_app_role(connection, app_role)


async def _run_async() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "", pool_size=1)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline SQL generation is not supported; run `kefu db upgrade` against a database")
asyncio.run(_run_async())
