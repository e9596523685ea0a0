"""Server-rendered pages: sign-in, language switch, user and department management."""

from __future__ import annotations

import re

from support import PASSWORD


def _field(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no {name} field"
    return match.group(1)


async def _browser_login(
    world, slug: str = "acme", username: str = "admin", password: str = PASSWORD, next_url: str = ""
):
    c = world.client()
    page = await c.get(f"/t/{slug}/login")
    token = _field(page.text, "csrf_token")
    r = await c.post(
        f"/t/{slug}/login", data={"username": username, "password": password, "csrf_token": token, "next": next_url}
    )
    return c, r


async def test_login_page_speaks_chinese_by_default_and_english_on_request(world):
    await world.tenant("acme")
    c = world.client()
    r = await c.get("/t/acme/login")
    assert r.status_code == 200 and "登录" in r.text and 'lang="zh-CN"' in r.text
    r = await c.get("/lang?to=en&next=/t/acme/login")
    assert r.status_code == 303 and r.headers["location"] == "/t/acme/login"
    r = await c.get("/t/acme/login")
    assert "Sign in" in r.text and 'lang="en"' in r.text
    r = await world.client().get("/t/acme/login", headers={"accept-language": "en-US,en;q=0.9"})
    assert "Sign in" in r.text


async def test_form_sign_in_and_its_refusals(world):
    await world.tenant("acme")
    c = world.client()
    r = await c.post("/t/acme/login", data={"username": "admin", "password": PASSWORD, "csrf_token": "forged"})
    assert r.status_code == 403 and "表单已过期" in r.text
    c, r = await _browser_login(world, password="wrong password")
    assert r.status_code == 401 and "用户名或密码错误" in r.text
    c, r = await _browser_login(world, next_url="/t/acme/admin/users")
    assert r.status_code == 303 and r.headers["location"] == "/t/acme/admin/users"
    assert "httponly" in r.headers["set-cookie"].lower()
    home = await c.get("/t/acme/")
    assert home.status_code == 200 and "欢迎" in home.text
    _, r = await _browser_login(world, next_url="//evil.example/steal")
    assert r.headers["location"] == "/t/acme/"


async def test_pages_need_a_session(world):
    await world.tenant("acme")
    r = await world.client().get("/t/acme/admin/users")
    assert r.status_code == 303 and r.headers["location"].startswith("/t/acme/login?next=")


async def test_admin_creates_a_user_from_the_form(world):
    t = await world.tenant("acme")
    c, _ = await _browser_login(world)
    page = await c.get("/t/acme/admin/users")
    token = _field(page.text, "csrf_token")
    r = await c.post(
        "/t/acme/admin/users",
        data={
            "username": "lina",
            "display_name": "李娜",
            "password": PASSWORD,
            "roles": ["agent"],
            "csrf_token": token,
        },
        headers={"hx-request": "true"},
    )
    assert r.status_code == 200 and 'data-username="lina"' in r.text and "已创建 lina" in r.text
    # The same form without the CSRF token is refused and creates nothing.
    r = await c.post(
        "/t/acme/admin/users", data={"username": "mole", "display_name": "x", "password": PASSWORD, "roles": ["agent"]}
    )
    assert r.status_code == 403
    # A duplicate shows the error in the form.
    r = await c.post(
        "/t/acme/admin/users",
        data={"username": "lina", "display_name": "x", "password": PASSWORD, "roles": ["agent"], "csrf_token": token},
    )
    assert r.status_code == 409 and "taken" in r.text
    users = (await (await world.login(t)).get("/api/v1/t/acme/users")).json()["items"]
    assert sorted(u["username"] for u in users) == ["admin", "lina"]


async def test_agent_cannot_open_user_management(world):
    t = await world.tenant("acme")
    await world.user(t, "agent1", ["agent"])
    c, _ = await _browser_login(world, username="agent1")
    r = await c.get("/t/acme/admin/users")
    assert r.status_code == 403 and "users.read" in r.text


async def test_departments_page(world):
    await world.tenant("acme")
    c, _ = await _browser_login(world)
    page = await c.get("/t/acme/admin/departments")
    token = _field(page.text, "csrf_token")
    r = await c.post("/t/acme/admin/departments", data={"name": "网络部", "kind": "department", "csrf_token": token})
    assert r.status_code == 200 and "网络部" in r.text


async def test_security_headers(world):
    await world.tenant("acme")
    r = await world.client().get("/t/acme/login")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"
