async def test_login_and_me(world, client):
    t = await world.tenant("acme")
    c = await world.login(t)
    r = await c.get("/api/v1/t/acme/me")
    assert r.status_code == 200, r.text
    assert r.json()["username"] == "admin"
    assert "users.manage" in r.json()["permissions"]
