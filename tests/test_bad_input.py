"""Malformed, oversized, wrongly typed and empty requests: clear 4xx problem details, nothing changed."""

from __future__ import annotations

import pytest


@pytest.fixture
async def admin(world):
    t = await world.tenant("acme")
    client = await world.login(t)
    client.tenant = t
    return client


async def _assert_problem(r, status: int, words: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status and body["type"].startswith("https://kefu.dev/problems/")
    assert words.lower() in body["detail"].lower(), body


async def test_malformed_json(world, admin):
    before = await world.digest([admin.tenant.id])
    r = await admin.post(
        "/api/v1/t/acme/departments", content=b"{not json", headers={"content-type": "application/json"}
    )
    await _assert_problem(r, 422, "not valid JSON")
    r = await admin.post("/api/v1/t/acme/departments", content=b"", headers={"content-type": "application/json"})
    assert r.status_code == 422
    r = await admin.post("/api/v1/t/acme/departments", json=["a", "list"])
    assert r.status_code == 422
    assert await world.digest([admin.tenant.id]) == before


async def test_wrong_types_and_unknown_fields(world, admin):
    before = await world.digest([admin.tenant.id])
    r = await admin.post("/api/v1/t/acme/departments", json={"name": 42})
    await _assert_problem(r, 422, "'name'")
    r = await admin.post("/api/v1/t/acme/departments", json={"name": "x", "colour": "red"})
    await _assert_problem(r, 422, "Unknown field 'colour'")
    r = await admin.post("/api/v1/t/acme/departments", json={"name": ""})
    await _assert_problem(r, 422, "'name'")
    r = await admin.get("/api/v1/t/acme/users/not-a-uuid")
    await _assert_problem(r, 422, "user_id")
    r = await admin.get("/api/v1/t/acme/users?limit=100000")
    await _assert_problem(r, 422, "limit")
    assert await world.digest([admin.tenant.id]) == before


async def test_oversized_bodies_are_refused(world, admin):
    before = await world.digest([admin.tenant.id])
    big = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    r = await admin.post("/api/v1/t/acme/departments", content=big, headers={"content-type": "application/json"})
    await _assert_problem(r, 413, "larger than")

    async def chunks():
        for _ in range(40):
            yield b"x" * 65536

    r = await admin.post("/api/v1/t/acme/departments", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert await world.digest([admin.tenant.id]) == before


async def test_unknown_tenant_route_and_method(world, admin):
    r = await admin.get("/api/v1/t/nowhere/users")
    await _assert_problem(r, 404, "No organisation called 'nowhere'")
    r = await admin.get("/api/v1/t/acme/no-such-thing")
    await _assert_problem(r, 404, "nothing at this address")
    r = await admin.put("/api/v1/t/acme/users")
    await _assert_problem(r, 405, "not allowed")


async def test_openapi_document_is_served(client):
    r = await client.get("/api/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/t/{tenant}/users" in spec["paths"]
