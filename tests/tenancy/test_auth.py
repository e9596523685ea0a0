"""Sign-in, sessions, lockout, throttling, TOTP, API tokens and CSRF through the HTTP API."""

from __future__ import annotations

import pyotp
import pytest
import sqlalchemy as sa

from kefu.audit.models import AuditEvent
from kefu.core.db import bind_tenant
from kefu.tenancy.models import User, UserSession
from support import PASSWORD


async def _audit_actions(world, tenant_id) -> list[str]:
    async with world.session() as s:
        await bind_tenant(s, tenant_id)
        rows = (
            await s.execute(
                sa.select(AuditEvent.action).where(AuditEvent.tenant_id == tenant_id).order_by(AuditEvent.seq)
            )
        ).scalars()
        return list(rows)


async def test_login_sets_httponly_samesite_cookie_and_returns_csrf(world):
    t = await world.tenant("acme")
    c = world.client()
    r = await c.post("/api/v1/t/acme/auth/login", json={"username": "admin", "password": PASSWORD})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"].lower()
    assert "kefu_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert len(r.json()["csrf_token"]) >= 24
    assert "auth.login" in await _audit_actions(world, t.id)


async def test_wrong_password_and_unknown_user_get_the_same_answer_and_are_audited(world):
    t = await world.tenant("acme")
    c = world.client()
    wrong = await c.post("/api/v1/t/acme/auth/login", json={"username": "admin", "password": "nope nope"})
    unknown = await c.post("/api/v1/t/acme/auth/login", json={"username": "ghost", "password": "nope nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"] == "Wrong username or password."
    assert wrong.headers["content-type"] == "application/problem+json"
    assert (await _audit_actions(world, t.id)).count("auth.login_failed") == 2


@pytest.mark.settings(login_max_failures=3, login_lockout_minutes=15)
async def test_lockout_after_repeated_failures_with_a_clear_message(world, clock):
    t = await world.tenant("acme")
    c = world.client()
    for _ in range(2):
        r = await c.post("/api/v1/t/acme/auth/login", json={"username": "admin", "password": "bad password"})
        assert r.status_code == 401
    r = await c.post("/api/v1/t/acme/auth/login", json={"username": "admin", "password": "bad password"})
    assert r.status_code == 429
    assert r.json()["type"].endswith("/account-locked")
    assert "locked after 3 failed sign-ins" in r.json()["detail"]
    assert int(r.headers["retry-after"]) > 800
    # Even the right password is refused while locked.
    r = await c.post("/api/v1/t/acme/auth/login", json={"username": "admin", "password": PASSWORD})
    assert r.status_code == 429 and r.json()["type"].endswith("/account-locked")
    # After the lockout period the right password works again and resets the count.
    clock.advance(15 * 60 + 1)
    r = await c.post("/api/v1/t/acme/auth/login", json={"username": "admin", "password": PASSWORD})
    assert r.status_code == 200
    async with world.session() as s:
        await bind_tenant(s, t.id)
        user = (await s.execute(sa.select(User).where(User.username == "admin"))).scalar_one()
        assert user.failed_login_count == 0 and user.locked_until is None


@pytest.mark.settings(login_max_failures=2)
async def test_admin_unlocks_a_locked_user(world):
    t = await world.tenant("acme")
    agent = await world.user(t, "agent1", ["agent"])
    c = world.client()
    for _ in range(2):
        await c.post("/api/v1/t/acme/auth/login", json={"username": "agent1", "password": "bad password"})
    r = await c.post("/api/v1/t/acme/auth/login", json={"username": "agent1", "password": PASSWORD})
    assert r.status_code == 429
    admin = await world.login(t)
    r = await admin.post(f"/api/v1/t/acme/users/{agent.id}/unlock")
    assert r.status_code == 200 and r.json()["locked_until"] is None
    r = await c.post("/api/v1/t/acme/auth/login", json={"username": "agent1", "password": PASSWORD})
    assert r.status_code == 200


@pytest.mark.settings(login_rate_per_minute=3)
async def test_login_throttling_per_client_address(world, clock):
    await world.tenant("acme")
    c = world.client()
    for _ in range(3):
        r = await c.post("/api/v1/t/acme/auth/login", json={"username": "nobody", "password": "bad password"})
        assert r.status_code == 401
    r = await c.post("/api/v1/t/acme/auth/login", json={"username": "nobody", "password": "bad password"})
    assert r.status_code == 429 and r.json()["type"].endswith("/login-throttled")
    assert "Retry-After" in r.headers
    clock.advance(61)
    r = await c.post("/api/v1/t/acme/auth/login", json={"username": "nobody", "password": "bad password"})
    assert r.status_code == 401


async def test_disabling_a_user_ends_all_their_sessions(world):
    t = await world.tenant("acme")
    agent = await world.user(t, "agent1", ["agent"])
    phone, laptop = await world.login(t, "agent1"), await world.login(t, "agent1")
    assert (await phone.get("/api/v1/t/acme/me")).status_code == 200
    admin = await world.login(t)
    r = await admin.post(f"/api/v1/t/acme/users/{agent.id}/disable")
    assert r.status_code == 200 and r.json()["is_active"] is False
    for client in (phone, laptop):
        r = await client.get("/api/v1/t/acme/me")
        assert r.status_code == 401
        assert r.json()["type"].endswith("/session-ended")
        assert "disabled" in r.json()["detail"]
    r = await world.client().post("/api/v1/t/acme/auth/login", json={"username": "agent1", "password": PASSWORD})
    assert r.status_code == 401 and r.json()["type"].endswith("/account-disabled")
    async with world.session() as s:
        await bind_tenant(s, t.id)
        open_sessions = (
            await s.execute(
                sa.select(sa.func.count())
                .select_from(UserSession)
                .where(UserSession.user_id == agent.id, UserSession.ended_at.is_(None))
            )
        ).scalar_one()
    assert open_sessions == 0


@pytest.mark.settings(session_idle_minutes=30)
async def test_expired_session_gets_its_own_answer(world, clock):
    t = await world.tenant("acme")
    c = await world.login(t)
    clock.advance(31 * 60)
    r = await c.get("/api/v1/t/acme/me")
    assert r.status_code == 401
    assert r.json()["type"].endswith("/session-expired")
    assert "inactivity" in r.json()["detail"]
    # Asking again still says expired (the expiry was recorded).
    r = await c.get("/api/v1/t/acme/me")
    assert r.json()["type"].endswith("/session-ended") or r.json()["type"].endswith("/session-expired")


async def test_logout_ends_the_session(world):
    t = await world.tenant("acme")
    c = await world.login(t)
    assert (await c.post("/api/v1/t/acme/auth/logout")).status_code == 204
    r = await c.get("/api/v1/t/acme/me")
    assert r.status_code == 401


async def test_cookie_requests_without_csrf_token_are_refused_and_change_nothing(world):
    t = await world.tenant("acme")
    c = await world.login(t)
    before = await world.digest([t.id])
    del c.headers["X-CSRF-Token"]
    r = await c.post("/api/v1/t/acme/departments", json={"name": "网络部"})
    assert r.status_code == 403 and r.json()["type"].endswith("/csrf-failed")
    c.headers["X-CSRF-Token"] = "forged"
    r = await c.post("/api/v1/t/acme/departments", json={"name": "网络部"})
    assert r.status_code == 403
    assert await world.digest([t.id]) == before


async def test_session_of_one_tenant_is_not_valid_in_another(world):
    a = await world.tenant("acme")
    await world.tenant("beta")
    c = await world.login(a)
    r = await c.get("/api/v1/t/beta/me")
    assert r.status_code == 401


async def test_totp_second_factor(world, clock):
    t = await world.tenant("acme")
    c = await world.login(t)
    r = await c.post("/api/v1/t/acme/me/totp")
    assert r.status_code == 200
    secret = r.json()["secret"]
    assert r.json()["otpauth_uri"].startswith("otpauth://totp/")
    totp = pyotp.TOTP(secret)
    bad = await c.post(
        "/api/v1/t/acme/me/totp/confirm", json={"code": "000000" if totp.at(clock.now()) != "000000" else "111111"}
    )
    assert bad.status_code == 422
    r = await c.post("/api/v1/t/acme/me/totp/confirm", json={"code": totp.at(clock.now())})
    assert r.status_code == 204
    fresh = world.client()
    r = await fresh.post("/api/v1/t/acme/auth/login", json={"username": "admin", "password": PASSWORD})
    assert r.status_code == 401 and r.json()["type"].endswith("/totp-required")
    clock.advance(30)
    code = totp.at(clock.now())
    r = await fresh.post(
        "/api/v1/t/acme/auth/login", json={"username": "admin", "password": PASSWORD, "totp_code": code}
    )
    assert r.status_code == 200
    # The same code cannot be used twice.
    r = await world.client().post(
        "/api/v1/t/acme/auth/login", json={"username": "admin", "password": PASSWORD, "totp_code": code}
    )
    assert r.status_code == 401 and r.json()["type"].endswith("/invalid-totp")
    actions = await _audit_actions(world, t.id)
    assert "user.totp_enabled" in actions


async def test_api_tokens_are_shown_once_scoped_and_revocable(world):
    t = await world.tenant("acme")
    admin = await world.login(t)
    r = await admin.post("/api/v1/t/acme/api-tokens", json={"name": "crm", "scopes": ["users.read"]})
    assert r.status_code == 201
    secret = r.json()["token"]
    token_id = r.json()["id"]
    assert secret.startswith("kefu_")
    listed = (await admin.get("/api/v1/t/acme/api-tokens")).json()
    assert all("token" not in item for item in listed)
    assert listed[0]["prefix"] == secret[:12]

    machine = world.client()
    machine.headers["Authorization"] = f"Bearer {secret}"
    assert (await machine.get("/api/v1/t/acme/users")).status_code == 200
    r = await machine.post("/api/v1/t/acme/departments", json={"name": "x"})
    assert r.status_code == 403 and "departments.manage" in r.json()["detail"]

    r = await admin.post(f"/api/v1/t/acme/api-tokens/{token_id}/revoke")
    assert r.status_code == 200 and r.json()["revoked_at"]
    r = await machine.get("/api/v1/t/acme/users")
    assert r.status_code == 401 and r.json()["type"].endswith("/token-revoked")
    actions = await _audit_actions(world, t.id)
    assert "token.created" in actions and "token.revoked" in actions


async def test_expired_and_unknown_tokens_get_their_own_answers(world, clock):
    t = await world.tenant("acme")
    admin = await world.login(t)
    r = await admin.post(
        "/api/v1/t/acme/api-tokens", json={"name": "short", "scopes": ["users.read"], "expires_in_days": 1}
    )
    machine = world.client()
    machine.headers["Authorization"] = f"Bearer {r.json()['token']}"
    clock.advance(86400 + 1)
    r = await machine.get("/api/v1/t/acme/users")
    assert r.status_code == 401 and r.json()["type"].endswith("/token-expired")
    machine.headers["Authorization"] = "Bearer kefu_not-a-real-token"
    r = await machine.get("/api/v1/t/acme/users")
    assert r.status_code == 401 and r.json()["type"].endswith("/invalid-token")
    machine.headers["Authorization"] = "Basic abc"
    r = await machine.get("/api/v1/t/acme/users")
    assert r.status_code == 401


async def test_a_token_cannot_carry_scopes_its_creator_lacks(world):
    t = await world.tenant("acme")
    await world.user(t, "boss", ["supervisor"])
    admin = await world.login(t)
    r = await admin.post("/api/v1/t/acme/api-tokens", json={"name": "x", "scopes": ["audit.read"]})
    assert r.status_code == 403
    r = await admin.post("/api/v1/t/acme/api-tokens", json={"name": "x", "scopes": ["no.such.scope"]})
    assert r.status_code == 422 and "unknown scope" in r.json()["detail"]


async def test_password_change_keeps_this_session_and_ends_the_others(world):
    t = await world.tenant("acme")
    here, there = await world.login(t), await world.login(t)
    r = await here.post(
        "/api/v1/t/acme/me/password", json={"current_password": "wrong one!", "new_password": "brand new phrase"}
    )
    assert r.status_code == 422
    r = await here.post(
        "/api/v1/t/acme/me/password", json={"current_password": PASSWORD, "new_password": "brand new phrase"}
    )
    assert r.status_code == 204
    assert (await here.get("/api/v1/t/acme/me")).status_code == 200
    r = await there.get("/api/v1/t/acme/me")
    assert r.status_code == 401 and "password was changed" in r.json()["detail"]
