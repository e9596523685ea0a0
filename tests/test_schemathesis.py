"""Property-based fuzzing of the whole HTTP API from its OpenAPI schema (schemathesis).

Every operation gets a bounded number of generated requests, valid and
invalid, authenticated as a tenant administrator's API token. No request may
produce a server error, and every error response is an RFC 9457 problem.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from schemathesis.generation.modes import GenerationMode

from kefu.bootstrap import build_context, dispose_context
from kefu.core.actor import Actor
from kefu.core.db import bind_tenant
from kefu.settings import Settings
from kefu.tenancy.actions import do_create_api_token, do_create_department, do_create_tenant, do_create_user
from kefu.tenancy.rules import Permission
from kefu.web.app import create_app

EXAMPLES_PER_OPERATION = 8


def _seed(settings: Settings) -> dict[str, Any]:
    async def work() -> dict[str, Any]:
        ctx = build_context(settings)
        try:
            async with ctx.session_factory() as s:
                tenant, admin = await do_create_tenant(
                    s,
                    Actor.system("fuzz"),
                    slug="acme",
                    name="Acme",
                    admin_username="admin",
                    admin_password="fuzz pass phrase",
                )
                actor = Actor(
                    Actor.system("x").kind, tenant.id, None, "fuzz", frozenset(Permission), roles=("tenant_admin",)
                )
                await bind_tenant(s, tenant.id)
                dep = await do_create_department(s, actor, name="网络部")
                user = await do_create_user(
                    s, actor, username="agent1", display_name="A", roles=["agent"], password="fuzz pass phrase"
                )
                _, auth = await do_create_api_token(
                    s, actor, name="fuzz-auth", scopes=list(Permission), expires_in_days=None
                )
                other, _ = await do_create_api_token(
                    s, actor, name="fuzz-target", scopes=["users.read"], expires_in_days=None
                )
                await s.commit()
                return {
                    "token": auth,
                    "ids": {"user_id": user.id, "department_id": dep.id, "token_id": other.id, "tenant_id": tenant.id},
                }
        finally:
            await dispose_context(ctx)

    return asyncio.run(work())


def test_fuzzing_the_api_finds_no_server_error(settings):
    seed = _seed(settings)
    app = create_app(build_context(settings))
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz_operation(operation, mode, seed, failures)
    assert operations >= 25
    assert not failures, "\n".join(failures[:20])


def _fuzz_operation(operation: Any, mode: GenerationMode, seed: dict[str, Any], failures: list[str]) -> None:
    headers = {"Authorization": f"Bearer {seed['token']}"}

    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.generate],
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        params = case.path_parameters or {}
        if "tenant" in params and isinstance(params["tenant"], str) and len(params["tenant"]) % 4:
            params["tenant"] = "acme"  # mostly the real tenant, sometimes whatever was generated
        for name in list(params):
            if name in seed["ids"] and isinstance(params[name], str) and len(params[name]) % 3 == 0:
                params[name] = str(seed["ids"][name])
        response = case.call(headers=headers)
        label = f"{mode.value} {case.method} {case.formatted_path} -> {response.status_code}"
        if response.status_code >= 500:
            failures.append(f"{label}: {response.text[:300]}")
        elif response.status_code >= 400 and operation.path.startswith("/api/"):
            if response.headers.get("content-type", [""])[0] != "application/problem+json":
                failures.append(f"{label}: not a problem document ({response.headers.get('content-type')})")

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        # Nothing in this operation can be made invalid (no parameters or body): nothing to fuzz negatively.
        assert mode is GenerationMode.NEGATIVE, f"cannot generate requests for {operation.label}"


@pytest.fixture(autouse=True)
def _ids_are_uuids() -> None:
    uuid.UUID(int=0)  # keeps the import used when the test is collected alone
