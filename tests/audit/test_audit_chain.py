"""The audit log: what is recorded, append-only protection, and `kefu audit verify` catching tampering."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from kefu.audit import verify_tenant_chain
from kefu.audit.models import AuditEvent
from kefu.bootstrap import build_context, dispose_context
from kefu.cli.main import app as cli
from kefu.core.actor import Actor
from kefu.core.db import bind_tenant
from kefu.settings import Settings
from kefu.tenancy.actions import do_create_tenant, do_create_user, do_update_user
from support import PASSWORD


def _env(settings: Settings) -> dict[str, str]:
    env = {
        "KEFU_DATA_DIR": str(settings.data_dir),
        "KEFU_SECRET_KEY": settings.secret_key.get_secret_value() if settings.secret_key else "",
    }
    if settings.database_url:
        env["KEFU_DATABASE_URL"] = settings.database_url
        env["KEFU_DATABASE_OWNER_URL"] = settings.database_owner_url or settings.database_url
    return env


def _seed(settings: Settings, events: int = 6) -> Any:
    """A tenant with a handful of audited changes; returns its id."""

    async def work() -> Any:
        ctx = build_context(settings)
        try:
            async with ctx.session_factory() as s:
                tenant, _ = await do_create_tenant(
                    s, Actor.system("test"), slug="acme", name="Acme", admin_username="admin", admin_password=PASSWORD
                )
                admin = Actor(
                    Actor.system("t").kind,
                    tenant.id,
                    None,
                    "test",
                    frozenset({"users.manage", "roles.assign"}),
                    roles=("tenant_admin",),
                )
                for i in range(events):
                    user = await do_create_user(
                        s, admin, username=f"agent{i}", display_name=f"A{i}", password=PASSWORD, roles=["agent"]
                    )
                await do_update_user(s, admin, user.id, {"roles": ["agent", "supervisor"]})
                await s.commit()
                return tenant.id
        finally:
            await dispose_context(ctx)

    return asyncio.run(work())


def _tamper(settings: Settings, statements: list[str]) -> None:
    """Change the database behind the application's back (as an attacker with database access would)."""
    if settings.is_embedded_database:
        conn = sqlite3.connect(settings.data_dir / "kefu.db")
        conn.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        conn.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
        for statement in statements:
            conn.execute(statement)
        conn.commit()
        conn.close()
        return
    import asyncpg

    from conftest import _asyncpg_dsn, pg_superuser_url

    async def work() -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(pg_superuser_url(settings)))
        try:
            await conn.execute("SET session_replication_role = replica")
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(work())


def _verify(settings: Settings) -> Any:
    return CliRunner().invoke(cli, ["audit", "verify"], env=_env(settings))


def test_verify_reports_ok_for_an_intact_log(settings):
    _seed(settings)
    result = _verify(settings)
    assert result.exit_code == 0, result.output
    assert "OK      tenant acme: 9 events, chain intact" in result.output
    assert "every audit chain is intact" in result.output


def test_verify_detects_a_modified_row(settings):
    _seed(settings)
    _tamper(settings, ["UPDATE audit_events SET actor_name = 'someone-else' WHERE seq = 4"])
    result = _verify(settings)
    assert result.exit_code == 1
    assert (
        "BROKEN  tenant acme: first broken link at seq 4: content does not match its hash (modified)" in result.output
    )


def test_verify_detects_a_deleted_row(settings):
    _seed(settings)
    _tamper(settings, ["DELETE FROM audit_events WHERE seq = 3"])
    result = _verify(settings)
    assert result.exit_code == 1
    assert "first broken link at seq 3: event(s) 3 missing (deleted)" in result.output


def test_verify_detects_a_cut_off_tail(settings):
    _seed(settings)
    _tamper(settings, ["DELETE FROM audit_events WHERE seq >= 8"])
    result = _verify(settings)
    assert result.exit_code == 1
    assert "first broken link at seq 8: event(s) 8..9 missing (tail cut off)" in result.output


def test_verify_detects_a_forged_head_after_cutting_the_tail(settings):
    _seed(settings)
    _tamper(
        settings,
        [
            "DELETE FROM audit_events WHERE seq >= 8",
            "UPDATE audit_chain_heads SET seq = 7, hash = (SELECT hash FROM audit_events WHERE seq = 7)",
        ],
    )
    result = _verify(settings)
    assert result.exit_code == 1
    assert "chain head signature is invalid" in result.output


def test_verify_detects_a_rewritten_row_with_a_recomputed_hash(settings):
    """Recomputing one row's hash breaks the next row's link."""
    _seed(settings)
    _tamper(settings, ["UPDATE audit_events SET actor_name = 'x', hash = 'f' || substr(hash, 2) WHERE seq = 5"])
    result = _verify(settings)
    assert result.exit_code == 1
    assert "first broken link at seq 5" in result.output


async def test_audit_rows_cannot_be_changed_through_the_application_connection(world):
    t = await world.tenant("acme")
    async with world.session() as s:
        await bind_tenant(s, t.id)
        with pytest.raises(sa.exc.DBAPIError):
            await s.execute(sa.update(AuditEvent).where(AuditEvent.tenant_id == t.id).values(actor_name="x"))
            await s.flush()
        await s.rollback()
    async with world.session() as s:
        await bind_tenant(s, t.id)
        with pytest.raises(sa.exc.DBAPIError):
            await s.execute(sa.delete(AuditEvent).where(AuditEvent.tenant_id == t.id))
        await s.rollback()
    async with world.session() as s:
        await bind_tenant(s, t.id)
        report = await verify_tenant_chain(s, t.id, "acme")
    assert report.ok


async def test_security_relevant_actions_are_recorded_with_who_what_when_where(world):
    t = await world.tenant("acme")
    c = world.client()
    await c.post(
        "/api/v1/t/acme/auth/login",
        json={"username": "admin", "password": "wrong password"},
        headers={"user-agent": "pytest-browser"},
    )
    admin = await world.login(t)
    r = await admin.post(
        "/api/v1/t/acme/users",
        json={"username": "lina", "display_name": "李娜", "password": PASSWORD, "roles": ["agent"]},
    )
    user_id = r.json()["id"]
    await admin.patch(f"/api/v1/t/acme/users/{user_id}", json={"roles": ["agent", "supervisor"]})
    r = await admin.post("/api/v1/t/acme/api-tokens", json={"name": "crm", "scopes": ["users.read"]})
    await admin.post(f"/api/v1/t/acme/api-tokens/{r.json()['id']}/revoke")
    await admin.patch("/api/v1/t/acme/settings", json={"timezone": "Asia/Urumqi"})
    await admin.post(f"/api/v1/t/acme/users/{user_id}/disable")
    async with world.session() as s:
        await bind_tenant(s, t.id)
        rows = list(
            (
                await s.execute(sa.select(AuditEvent).where(AuditEvent.tenant_id == t.id).order_by(AuditEvent.seq))
            ).scalars()
        )
    by_action = {r.action: r for r in rows}
    for action in (
        "tenant.created",
        "user.created",
        "auth.login_failed",
        "auth.login",
        "user.roles_changed",
        "token.created",
        "token.revoked",
        "settings.changed",
        "user.disabled",
    ):
        assert action in by_action, f"{action} not audited; got {sorted(by_action)}"
    failed = by_action["auth.login_failed"]
    assert failed.outcome == "failure" and failed.user_agent == "pytest-browser" and failed.ip
    roles = by_action["user.roles_changed"]
    assert roles.details["roles"] == {"before": ["agent"], "after": ["agent", "supervisor"]}
    assert roles.actor_name == "admin" and roles.target_id == user_id
    assert by_action["settings.changed"].details["after"] == {"timezone": "Asia/Urumqi"}
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))


async def test_auditor_reads_and_verifies_the_log_admin_cannot(world):
    t = await world.tenant("acme")
    await world.user(t, "shenji", ["security_auditor"])
    auditor = await world.login(t, "shenji")
    admin = await world.login(t)
    assert (await admin.get("/api/v1/t/acme/audit/events")).status_code == 403
    r = await auditor.get("/api/v1/t/acme/audit/events?limit=2")
    assert r.status_code == 200
    page = r.json()
    assert len(page["items"]) == 2 and page["next_before_seq"]
    r = await auditor.get(f"/api/v1/t/acme/audit/events?before_seq={page['next_before_seq']}")
    assert r.status_code == 200 and r.json()["items"]
    r = await auditor.get("/api/v1/t/acme/audit/verify")
    assert r.status_code == 200 and r.json()["ok"] is True
