"""Helpers for migration scripts: tenant row-level security and append-only tables.

Every migration that creates a table with a ``tenant_id`` column calls
:func:`enable_tenant_rls` for it; ``tests/test_rls.py`` fails when a tenant
table has no policy.
"""

from __future__ import annotations

from alembic import op

from kefu.core.db import rls_policy_sql


def _dialect() -> str:
    return op.get_bind().dialect.name


def enable_tenant_rls(*tables: str) -> None:
    if _dialect() != "postgresql":
        return
    for table in tables:
        for statement in rls_policy_sql(table):
            op.execute(statement)


def disable_tenant_rls(*tables: str) -> None:
    if _dialect() != "postgresql":
        return
    for table in tables:
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")


def make_append_only(table: str) -> None:
    """Reject UPDATE, DELETE (and TRUNCATE on PostgreSQL) with a trigger."""
    if _dialect() == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION kefu_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'table % is append-only', TG_TABLE_NAME; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION kefu_reject_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION kefu_reject_change()"
        )
    elif _dialect() == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'table {table} is append-only'); END"
            )


def drop_append_only(table: str) -> None:
    if _dialect() == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    elif _dialect() == "sqlite":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
