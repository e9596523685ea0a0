"""Tenant isolation and authorisation, generated from the route table.

For every tenant-scoped API route (``/api/v1/t/{tenant}/…``):

* no credentials → 401;
* an actor lacking the route's permission → 403, nothing changed;
* tenant B's administrator using tenant A's ids (in the path or in body fields)
  → 404, nothing changed;
* tenant B's credentials on tenant A's URL → 401;
* lists read by tenant B never contain tenant A's ids.

A new route is covered automatically. It fails here until it declares its
permission with ``Require`` (or is listed as public), has an example request
body, and every id it takes in its path has a factory below.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from kefu.core.db import bind_tenant
from kefu.tenancy.actions import do_create_api_token, do_create_department
from kefu.tenancy.rules import Permission
from kefu.web.deps import Require
from support import TenantInfo, World

TENANT_PREFIX = "/api/v1/t/{tenant}"
PUBLIC_ROUTES = {("POST", "/api/v1/t/{tenant}/auth/login")}


# ------------------------------------------------------------------ id factories (one per path parameter name)


async def _user(world: World, t: TenantInfo) -> uuid.UUID:
    return (await world.user(t, f"u{uuid.uuid4().hex[:8]}", ["agent"])).id


async def _department(world: World, t: TenantInfo) -> uuid.UUID:
    async with world.session() as s:
        await bind_tenant(s, t.id)
        dep = await do_create_department(s, world.admin_actor(t.id), name=f"d-{uuid.uuid4().hex[:8]}")
        await s.commit()
    return dep.id


async def _token(world: World, t: TenantInfo) -> uuid.UUID:
    async with world.session() as s:
        await bind_tenant(s, t.id)
        row, _ = await do_create_api_token(s, world.admin_actor(t.id), name=f"k-{uuid.uuid4().hex[:8]}",
                                           scopes=["users.read"], expires_in_days=None)
        await s.commit()
    return row.id


async def _sms_message(world: World, t: TenantInfo) -> uuid.UUID:
    from kefu.messaging import queue_sms

    async with world.session() as s:
        await bind_tenant(s, t.id)
        message = await queue_sms(s, tenant=t.tenant, to_number="13812341234", body="test", purpose="test")
        await s.commit()
    return message.id


ID_FACTORIES: dict[str, Callable[[World, TenantInfo], Awaitable[uuid.UUID]]] = {
    "user_id": _user,
    "department_id": _department,
    "parent_id": _department,
    "token_id": _token,
    "message_id": _sms_message,
}

# Customers and work orders (tests/workorders/wo_support.py).
from alerts.alerts_support import ALERT_FACTORIES  # noqa: E402
from calls.call_support import CALL_FACTORIES  # noqa: E402
from routing_api.routing_support import ROUTING_FACTORIES  # noqa: E402
from workorders.wo_support import ISOLATION_FACTORIES  # noqa: E402

ID_FACTORIES.update(ISOLATION_FACTORIES)
ID_FACTORIES.update(ROUTING_FACTORIES)
ID_FACTORIES.update(CALL_FACTORIES)
ID_FACTORIES.update(ALERT_FACTORIES)


# ------------------------------------------------------------------ route table


def tenant_routes(app: Any) -> list[tuple[str, APIRoute]]:
    routes = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.path.startswith(TENANT_PREFIX):
            for method in sorted(route.methods):
                routes.append((method, route))
    return routes


def required_permission(route: APIRoute) -> tuple[bool, Permission | None]:
    """(has a Require dependency, its permission) for a route, searching nested dependencies."""
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, Require):
            return True, dep.call.permission
        stack.extend(dep.dependencies)
    return False, None


def body_schema(app: Any, method: str, route: APIRoute) -> dict[str, Any] | None:
    if route.body_field is None:
        return None
    spec = app.openapi()
    op = spec["paths"][route.path][method.lower()]
    content = op.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema", {})
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].split("/")[-1]]
    return schema


def example_body(app: Any, method: str, route: APIRoute) -> dict[str, Any] | None:
    schema = body_schema(app, method, route)
    if schema is None:
        return None
    examples = schema.get("examples")
    assert examples, f"{method} {route.path}: give its body model an example (json_schema_extra examples)"
    return copy.deepcopy(examples[0])


def path_params(route: APIRoute) -> list[str]:
    return [p for p in re.findall(r"{(\w+)}", route.path) if p != "tenant"]


async def fill_path(world: World, route: APIRoute, slug: str, owner: TenantInfo,
                    cache: dict[tuple[uuid.UUID, str], uuid.UUID]) -> str:
    path = route.path.replace("{tenant}", slug)
    for name in path_params(route):
        factory = ID_FACTORIES.get(name)
        assert factory, f"{route.path}: no id factory for path parameter {name!r}; add one to ID_FACTORIES"
        key = (owner.id, name)
        if key not in cache:
            cache[key] = await factory(world, owner)
        path = path.replace("{" + name + "}", str(cache[key]))
    return path


async def send(client: Any, method: str, path: str, body: Any) -> Any:
    if body is None:
        return await client.request(method, path)
    return await client.request(method, path, content=json.dumps(body),
                                headers={"content-type": "application/json"})


# ------------------------------------------------------------------ the tests


async def test_every_tenant_route_declares_its_permission(app):
    missing = [f"{m} {r.path}" for m, r in tenant_routes(app)
               if (m, r.path) not in PUBLIC_ROUTES and not required_permission(r)[0]]
    assert not missing, f"routes without Require(...): {missing}"
    assert len(tenant_routes(app)) >= 20


async def test_unauthenticated_requests_get_401(world, app):
    a = await world.tenant("acme")
    cache: dict[tuple[uuid.UUID, str], uuid.UUID] = {}
    anonymous = world.client()
    requests = []
    for method, route in tenant_routes(app):
        if (method, route.path) not in PUBLIC_ROUTES:
            requests.append((method, await fill_path(world, route, "acme", a, cache), example_body(app, method, route)))
    before = await world.digest([a.id])
    writes = world.capture_writes()
    for method, path, body in requests:
        r = await send(anonymous, method, path, body)
        assert r.status_code == 401, f"{method} {path}: {r.status_code} {r.text}"
        assert r.headers["content-type"] == "application/problem+json"
        assert not writes, f"{method} {path} wrote {writes}"
    assert await world.digest([a.id]) == before
    assert len(requests) >= 20


async def test_actor_without_the_permission_gets_403(world, app):
    a = await world.tenant("acme")
    cache: dict[tuple[uuid.UUID, str], uuid.UUID] = {}
    requests = []
    clients: dict[Permission, Any] = {}
    for method, route in tenant_routes(app):
        if (method, route.path) in PUBLIC_ROUTES:
            continue
        _, permission = required_permission(route)
        if permission is None:
            continue  # any signed-in actor may call it
        if permission not in clients:
            clients[permission] = await world.token_client(a, [p.value for p in Permission if p != permission])
        requests.append((method, await fill_path(world, route, "acme", a, cache), example_body(app, method, route),
                         permission))
    before = await world.digest([a.id])
    writes = world.capture_writes()
    for method, path, body, permission in requests:
        r = await send(clients[permission], method, path, body)
        assert r.status_code == 403, f"{method} {path} without {permission}: {r.status_code} {r.text}"
        assert permission in r.json()["detail"]
        assert not writes, f"{method} {path} wrote {writes}"
    assert await world.digest([a.id]) == before
    assert len(requests) >= 15


async def test_a_role_without_the_permission_gets_403_through_a_session(world, app):
    a = await world.tenant("acme")
    await world.user(a, "agent1", ["agent"])
    agent = await world.login(a, "agent1")
    cache: dict[tuple[uuid.UUID, str], uuid.UUID] = {}
    from kefu.tenancy.rules import permissions_for

    held = permissions_for(["agent"])
    for method, route in tenant_routes(app):
        _, permission = required_permission(route)
        if permission is None or permission in held:
            continue
        path = await fill_path(world, route, "acme", a, cache)
        r = await send(agent, method, path, example_body(app, method, route))
        assert r.status_code == 403, f"{method} {path}: {r.status_code} {r.text}"


async def test_other_tenants_ids_are_not_found_and_change_nothing(world, app):
    a = await world.tenant("acme")
    b = await world.tenant("beta")
    b_admin = await world.token_client(b, [p.value for p in Permission])
    cache: dict[tuple[uuid.UUID, str], uuid.UUID] = {}
    requests = []
    for method, route in tenant_routes(app):
        if path_params(route):  # B's URL, A's ids
            requests.append((method, await fill_path(world, route, "beta", a, cache), example_body(app, method, route)))
    before = await world.digest([a.id, b.id])
    writes = world.capture_writes()
    for method, path, body in requests:
        r = await send(b_admin, method, path, body)
        assert r.status_code == 404, f"{method} {path}: {r.status_code} {r.text}"
        assert not writes, f"{method} {path} wrote {writes}"
    assert await world.digest([a.id, b.id]) == before
    assert len(requests) >= 10


async def test_other_tenants_ids_in_request_bodies_are_not_found(world, app):
    a = await world.tenant("acme")
    b = await world.tenant("beta")
    b_admin = await world.token_client(b, [p.value for p in Permission])
    cache: dict[tuple[uuid.UUID, str], uuid.UUID] = {}
    requests = []
    for method, route in tenant_routes(app):
        body = example_body(app, method, route)
        if body is None:
            continue
        properties = (body_schema(app, method, route) or {}).get("properties", {})
        for field in [f for f in properties if f.endswith("_id") and f in ID_FACTORIES]:
            key = (a.id, field)
            if key not in cache:
                cache[key] = await ID_FACTORIES[field](world, a)
            path = await fill_path(world, route, "beta", b, cache)
            requests.append((method, path, {**body, field: str(cache[key])}, field))
    before = await world.digest([a.id, b.id])
    writes = world.capture_writes()
    for method, path, body, field in requests:
        r = await send(b_admin, method, path, body)
        assert r.status_code == 404, f"{method} {path} with A's {field}: {r.status_code} {r.text}"
        assert not writes, f"{method} {path} wrote {writes}"
    assert await world.digest([a.id, b.id]) == before
    assert len(requests) >= 3


async def test_credentials_of_one_tenant_do_not_open_another(world, app):
    a = await world.tenant("acme")
    b = await world.tenant("beta")
    b_session = await world.login(b)
    b_token = await world.token_client(b, [p.value for p in Permission])
    cache: dict[tuple[uuid.UUID, str], uuid.UUID] = {}
    for method, route in tenant_routes(app):
        if (method, route.path) in PUBLIC_ROUTES:
            continue
        path = await fill_path(world, route, "acme", a, cache)
        for client in (b_session, b_token):
            r = await send(client, method, path, example_body(app, method, route))
            assert r.status_code == 401, f"{method} {path}: {r.status_code}"


async def test_lists_never_show_another_tenants_rows(world, app):
    a = await world.tenant("acme")
    b = await world.tenant("beta")
    cache: dict[tuple[uuid.UUID, str], uuid.UUID] = {}
    for name, factory in ID_FACTORIES.items():
        cache[(a.id, name)] = await factory(world, a)
    a_ids = {str(v) for v in cache.values()} | {str(a.admin.id), str(a.id)}
    b_admin = await world.token_client(b, [p.value for p in Permission])
    for method, route in tenant_routes(app):
        streaming = "text/event-stream" in str(route.responses.get(200, {}))
        if method != "GET" or path_params(route) or streaming:
            continue  # streams are covered by their own tests (tests/realtime)
        r = await b_admin.get(route.path.replace("{tenant}", "beta"))
        assert r.status_code == 200, f"GET {route.path}: {r.status_code} {r.text}"
        leaked = [i for i in a_ids if i in r.text]
        assert not leaked, f"GET {route.path} as beta shows acme's ids {leaked}"


@pytest.fixture(autouse=True)
async def _close_clients(world):
    yield
    await world.aclose()
