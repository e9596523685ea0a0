"""Database kernel: declarative base, column types, engines, sessions, tenant binding.

Rules this module enforces (DESIGN §4, §6):

* Every tenant-owned table has a ``tenant_id`` column (use :class:`TenantOwned`).
  On PostgreSQL each such table has row-level security (``FORCE``), and the
  tenant of the current transaction is set with ``set_config('app.tenant_id',
  …, true)`` as the first statement of every transaction (see
  :func:`bind_tenant`). A transaction without a tenant sees zero tenant rows.
* All timestamps are timezone-aware UTC (:class:`UTCDateTime`).
* The entrypoint (request, job, CLI command) owns the transaction; actions
  only ``flush``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.types import TypeDecorator

from kefu.core.ids import new_id

TENANT_SETTING = "app.tenant_id"

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as UTC and always returned timezone-aware."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database: use aware UTC datetimes")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


#: JSON column: JSONB on PostgreSQL, JSON text elsewhere.
JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
        list[Any]: JSONType,
    }


class IdPrimaryKey:
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=new_id)


class TenantOwned(IdPrimaryKey):
    """Mixin for every row that belongs to a tenant."""

    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("tenants.id", ondelete="CASCADE"), index=True)


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(default=lambda: datetime.now(UTC))
    updated_at: Mapped[datetime] = mapped_column(default=lambda: datetime.now(UTC), onupdate=lambda: datetime.now(UTC))


def tenant_tables(metadata: sa.MetaData | None = None) -> list[str]:
    """Names of all tables that have a ``tenant_id`` column (each needs an RLS policy)."""
    metadata = metadata or Base.metadata
    return sorted(t.name for t in metadata.sorted_tables if "tenant_id" in t.c)


# --------------------------------------------------------------------------- engines


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    """An async engine with kefu's connection rules for SQLite or PostgreSQL."""
    if url.startswith("sqlite"):
        engine = create_async_engine(
            url,
            echo=echo,
            connect_args={"timeout": 30},
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        _configure_sqlite(engine)
        return engine
    return create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size * 2,
        pool_pre_ping=True,
    )


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let us emit BEGIN ourselves (SQLAlchemy's documented recipe for pysqlite).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # IMMEDIATE takes the write lock up front: a transaction that reads and
        # then writes can never fail with SQLITE_BUSY_SNAPSHOT, so SQLite gives
        # the same serialisable behaviour for counters and audit chains that
        # SELECT … FOR UPDATE gives on PostgreSQL.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


# --------------------------------------------------------------------------- tenant binding


@event.listens_for(Session, "after_begin")
def _set_tenant_on_begin(session: Session, _transaction: Any, connection: sa.Connection) -> None:
    if connection.dialect.name != "postgresql":
        return
    tenant_id = session.info.get("tenant_id")
    connection.execute(
        sa.text("select set_config(:name, :value, true)"),
        {"name": TENANT_SETTING, "value": str(tenant_id) if tenant_id else ""},
    )


async def bind_tenant(session: AsyncSession, tenant_id: uuid.UUID | None) -> None:
    """Make ``tenant_id`` the tenant of this session's transactions.

    Applies to the transaction in progress (if any) and to every later one.
    ``None`` unbinds: tenant tables then show zero rows on PostgreSQL.
    """
    session.info["tenant_id"] = tenant_id
    if session.in_transaction():
        conn = await session.connection()
        if conn.dialect.name == "postgresql":
            await conn.execute(
                sa.text("select set_config(:name, :value, true)"),
                {"name": TENANT_SETTING, "value": str(tenant_id) if tenant_id else ""},
            )


def bound_tenant(session: AsyncSession) -> uuid.UUID | None:
    return session.info.get("tenant_id")


# --------------------------------------------------------------------------- after-commit hooks


def after_commit(session: AsyncSession, hook: Any) -> None:
    """Run ``hook()`` (sync or async) once this session's transaction has committed.

    Changes that notify the world outside the database (live router
    configuration, real-time pushes) go here, so a rolled-back request notifies
    nobody. Hooks are dropped on rollback.
    """
    session.info.setdefault("after_commit", []).append(hook)


async def commit(session: AsyncSession) -> None:
    """Commit, then run the after-commit hooks registered on the session."""
    await session.commit()
    hooks = session.info.pop("after_commit", [])
    for hook in hooks:
        result = hook()
        if hasattr(result, "__await__"):
            await result


async def rollback(session: AsyncSession) -> None:
    session.info.pop("after_commit", None)
    await session.rollback()


# --------------------------------------------------------------------------- migrations helpers


def rls_policy_sql(table: str) -> list[str]:
    """SQL that puts a table under tenant row-level security (PostgreSQL only)."""
    expr = f"tenant_id = nullif(current_setting('{TENANT_SETTING}', true), '')::uuid"
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {table} USING ({expr}) WITH CHECK ({expr})",
    ]


def quote_ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unsafe SQL identifier: {name!r}")
    return f'"{name}"'


def iter_chunks(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
