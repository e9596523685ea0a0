"""PostgreSQL row-level security, checked as the application's own non-owner role."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from kefu.core.db import Base, bind_tenant, tenant_tables
from kefu.tenancy.models import Department, User

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def backend() -> str:  # these tests only make sense on PostgreSQL
    from conftest import PG_URL

    if not PG_URL:
        pytest.skip("KEFU_TEST_DATABASE_URL not set")
    return "postgresql"


async def test_every_tenant_table_has_forced_rls_and_a_policy(world):
    expected = set(tenant_tables(Base.metadata))
    assert {"users", "departments", "audit_events"} <= expected
    async with world.session() as s:
        rows = (
            await s.execute(
                sa.text(
                    "select c.relname, c.relrowsecurity, c.relforcerowsecurity, "
                    "(select count(*) from pg_policy p where p.polrelid = c.oid) "
                    "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                    "where n.nspname = 'public' and c.relkind = 'r'"
                )
            )
        ).all()
        columns = (
            (
                await s.execute(
                    sa.text(
                        "select table_name from information_schema.columns "
                        "where table_schema = 'public' and column_name = 'tenant_id'"
                    )
                )
            )
            .scalars()
            .all()
        )
    info = {name: (enabled, forced, policies) for name, enabled, forced, policies in rows}
    # Every table with a tenant_id column in the live database, not only those the models know.
    for table in set(columns) | expected:
        enabled, forced, policies = info[table]
        assert enabled and forced and policies >= 1, (
            f"{table}: RLS enabled={enabled} forced={forced} policies={policies}"
        )


async def test_app_role_is_neither_owner_nor_superuser(world):
    async with world.session() as s:
        su, bypass = (
            await s.execute(sa.text("select rolsuper, rolbypassrls from pg_roles where rolname = current_user"))
        ).one()
        owned = (
            await s.execute(
                sa.text("select count(*) from pg_tables where schemaname='public' and tableowner = current_user")
            )
        ).scalar()
    assert not su and not bypass and owned == 0


async def test_missing_tenant_sees_zero_rows(world):
    t = await world.tenant("acme")
    await world.user(t, "agent1", ["agent"])
    async with world.session() as s:
        assert (await s.execute(sa.select(sa.func.count()).select_from(User))).scalar() == 0
        await bind_tenant(s, t.id)
        assert (await s.execute(sa.select(sa.func.count()).select_from(User))).scalar() == 2


async def test_other_tenants_rows_are_invisible_even_without_a_where_clause(world):
    a = await world.tenant("acme")
    b = await world.tenant("beta")
    await world.user(a, "only-in-a", ["agent"])
    async with world.session() as s:
        await bind_tenant(s, b.id)
        names = (await s.execute(sa.select(User.username))).scalars().all()
    assert names == ["admin"]


async def test_writes_into_another_tenant_are_refused(world):
    a = await world.tenant("acme")
    b = await world.tenant("beta")
    async with world.session() as s:
        await bind_tenant(s, b.id)
        s.add(Department(id=uuid.uuid4(), tenant_id=a.id, name="smuggled"))
        with pytest.raises(sa.exc.DBAPIError, match="row-level security"):
            await s.flush()
        await s.rollback()
    async with world.session() as s:
        await bind_tenant(s, b.id)
        # Updating A's rows from B's context touches nothing.
        result = await s.execute(sa.update(User).where(User.tenant_id == a.id).values(display_name="pwned"))
        assert result.rowcount == 0
        await s.commit()


async def test_tenant_setting_does_not_leak_to_the_next_transaction_on_a_pooled_connection(world):
    a = await world.tenant("acme")
    async with world.session() as s:
        await bind_tenant(s, a.id)
        assert (await s.execute(sa.select(sa.func.count()).select_from(User))).scalar() == 1
        await s.commit()
    for _ in range(5):  # the pool hands the same connections out again
        async with world.session() as s:
            assert (await s.execute(sa.select(sa.func.count()).select_from(User))).scalar() == 0
