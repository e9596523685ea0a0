"""Users, roles and departments through the API, including the refusals."""

from __future__ import annotations

from support import PASSWORD


async def test_admin_creates_lists_and_updates_users(world):
    t = await world.tenant("acme")
    admin = await world.login(t)
    r = await admin.post("/api/v1/t/acme/departments", json={"name": "网络部", "code": "NET"})
    assert r.status_code == 201
    dep = r.json()["id"]
    r = await admin.post(
        "/api/v1/t/acme/users",
        json={
            "username": "LiNa",
            "display_name": "李娜",
            "password": PASSWORD,
            "roles": ["agent"],
            "department_id": dep,
        },
    )
    assert r.status_code == 201, r.text
    user = r.json()
    assert user["username"] == "lina" and user["department_id"] == dep and "password" not in r.text
    r = await admin.get("/api/v1/t/acme/users?limit=1")
    assert len(r.json()["items"]) == 1 and r.json()["next_after"]
    r2 = await admin.get(f"/api/v1/t/acme/users?limit=1&after={r.json()['next_after']}")
    assert r2.json()["items"][0]["id"] != r.json()["items"][0]["id"]
    r = await admin.get("/api/v1/t/acme/users?q=李")
    assert [u["username"] for u in r.json()["items"]] == ["lina"]
    r = await admin.patch(f"/api/v1/t/acme/users/{user['id']}", json={"roles": ["agent", "supervisor"]})
    assert r.status_code == 200 and r.json()["roles"] == ["agent", "supervisor"]
    # The new role takes effect at once for the user's next request.
    lina = await world.login(t, "lina")
    assert "users.read" in (await lina.get("/api/v1/t/acme/me")).json()["permissions"]


async def test_user_creation_refusals_change_nothing(world):
    t = await world.tenant("acme")
    admin = await world.login(t)
    before = await world.digest([t.id])
    cases = [
        ({"username": "admin", "display_name": "x", "password": PASSWORD, "roles": ["agent"]}, 409, "taken"),
        ({"username": "bob", "display_name": "x", "password": "short", "roles": ["agent"]}, 422, "at least 8"),
        ({"username": "bob", "display_name": "x", "password": "password1", "roles": ["agent"]}, 422, "too common"),
        ({"username": "bob", "display_name": "x", "password": PASSWORD, "roles": ["wizard"]}, 422, "unknown role"),
        ({"username": "b", "display_name": "x", "password": PASSWORD, "roles": ["agent"]}, 422, "username"),
        ({"username": "bob", "display_name": "x", "password": PASSWORD, "roles": []}, 422, "roles"),
        (
            {
                "username": "bob",
                "display_name": "x",
                "password": PASSWORD,
                "roles": ["agent"],
                "department_id": "00000000-0000-7000-8000-000000000000",
            },
            404,
            "No department",
        ),
        (
            {"username": "bob", "display_name": "x", "password": PASSWORD, "roles": ["agent"], "admin": True},
            422,
            "Unknown field 'admin'",
        ),
    ]
    for body, status, words in cases:
        r = await admin.post("/api/v1/t/acme/users", json=body)
        assert r.status_code == status, (body, r.text)
        assert words.lower() in r.json()["detail"].lower(), (body, r.json())
    assert await world.digest([t.id]) == before


async def test_only_a_tenant_admin_grants_privileged_roles(world):
    t = await world.tenant("acme")
    await world.user(t, "boss", ["supervisor"])
    boss = await world.token_client(t, ["users.manage", "users.read", "roles.assign"])
    r = await boss.post(
        "/api/v1/t/acme/users",
        json={"username": "mole", "display_name": "x", "password": PASSWORD, "roles": ["tenant_admin"]},
    )
    assert r.status_code == 403 and "tenant administrator" in r.json()["detail"]


async def test_admin_cannot_disable_or_demote_themselves(world):
    t = await world.tenant("acme")
    admin = await world.login(t)
    r = await admin.post(f"/api/v1/t/acme/users/{t.admin.id}/disable")
    assert r.status_code == 409
    r = await admin.patch(f"/api/v1/t/acme/users/{t.admin.id}", json={"roles": ["agent"]})
    assert r.status_code == 409


async def test_departments_tree_rules(world):
    t = await world.tenant("acme")
    admin = await world.login(t)
    top = (await admin.post("/api/v1/t/acme/departments", json={"name": "客服中心"})).json()
    team = (
        await admin.post("/api/v1/t/acme/departments", json={"name": "一组", "kind": "team", "parent_id": top["id"]})
    ).json()
    assert team["parent_id"] == top["id"]
    r = await admin.patch(f"/api/v1/t/acme/departments/{top['id']}", json={"parent_id": team["id"]})
    assert r.status_code == 422 and "inside itself" in r.json()["detail"]
    r = await admin.post("/api/v1/t/acme/departments", json={"name": "客服中心"})
    assert r.status_code == 409
    r = await admin.delete(f"/api/v1/t/acme/departments/{top['id']}")
    assert r.status_code == 409 and "team" in r.json()["detail"]
    assert (await admin.delete(f"/api/v1/t/acme/departments/{team['id']}")).status_code == 204
    assert (await admin.delete(f"/api/v1/t/acme/departments/{top['id']}")).status_code == 204
    assert (await admin.get(f"/api/v1/t/acme/departments/{top['id']}")).status_code == 404


async def test_settings_and_roles(world):
    t = await world.tenant("acme")
    admin = await world.login(t)
    r = await admin.patch("/api/v1/t/acme/settings", json={"timezone": "Mars/Olympus"})
    assert r.status_code == 422 and "time zone" in r.json()["detail"]
    r = await admin.patch("/api/v1/t/acme/settings", json={"name": "Acme 电信", "locale": "en"})
    assert r.status_code == 200 and r.json()["name"] == "Acme 电信"
    roles = {r["name"]: r["permissions"] for r in (await admin.get("/api/v1/t/acme/roles")).json()}
    assert "audit.read" in roles["security_auditor"] and "audit.read" not in roles["tenant_admin"]


async def test_platform_operator_creates_and_suspends_tenants(world):
    from kefu.core.actor import Actor
    from kefu.tenancy.actions import do_create_operator

    async with world.session() as s:
        await do_create_operator(s, Actor.system("test"), username="ops", password=PASSWORD)
        await s.commit()
    ops = world.client()
    assert (await ops.get("/api/v1/platform/tenants")).status_code == 401
    r = await ops.post("/api/v1/platform/auth/login", json={"username": "ops", "password": PASSWORD})
    assert r.status_code == 204
    r = await ops.post(
        "/api/v1/platform/tenants",
        json={"slug": "newco", "name": "New Co", "admin_username": "boss", "admin_password": PASSWORD},
    )
    assert r.status_code == 201, r.text
    tenant_id = r.json()["id"]
    r = await ops.post(
        "/api/v1/platform/tenants",
        json={"slug": "newco", "name": "Again", "admin_username": "boss", "admin_password": PASSWORD},
    )
    assert r.status_code == 409
    c = world.client()
    assert (
        await c.post("/api/v1/t/newco/auth/login", json={"username": "boss", "password": PASSWORD})
    ).status_code == 200
    assert (await ops.post(f"/api/v1/platform/tenants/{tenant_id}/suspend")).status_code == 200
    r = await c.get("/api/v1/t/newco/me")
    assert r.status_code == 404
