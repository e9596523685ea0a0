"""Helpers for building test worlds: tenants, people, signed-in clients, database digests."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import sqlalchemy as sa

from kefu.core.actor import Actor
from kefu.core.db import Base, bind_tenant
from kefu.tenancy.actions import do_create_api_token, do_create_tenant, do_create_user
from kefu.tenancy.models import Tenant, User
from kefu.tenancy.rules import Permission

PASSWORD = "test pass phrase 1"

#: Columns that legitimately change on reads (session touch, token last use).
VOLATILE_COLUMNS = {("user_sessions", "last_seen_at"), ("api_tokens", "last_used_at")}


@dataclass
class TenantInfo:
    tenant: Tenant
    admin: User

    @property
    def id(self) -> uuid.UUID:
        return self.tenant.id

    @property
    def slug(self) -> str:
        return self.tenant.slug


class World:
    def __init__(self, ctx: Any, app: Any) -> None:
        self.ctx = ctx
        self.app = app
        self._clients: list[httpx.AsyncClient] = []
        self._write_listeners: list[Any] = []

    def session(self) -> Any:
        return self.ctx.session_factory()

    async def tenant(self, slug: str = "acme", name: str | None = None) -> TenantInfo:
        async with self.session() as s:
            tenant, admin = await do_create_tenant(
                s,
                Actor.system("test"),
                slug=slug,
                name=name or slug.title(),
                admin_username="admin",
                admin_password=PASSWORD,
                admin_display_name="Admin",
            )
            await s.commit()
        assert admin is not None
        return TenantInfo(tenant, admin)

    def admin_actor(self, tenant_id: uuid.UUID) -> Actor:
        return Actor(Actor.system("test").kind, tenant_id, None, "test", frozenset(Permission), roles=("tenant_admin",))

    async def user(
        self,
        t: TenantInfo,
        username: str,
        roles: list[str],
        *,
        password: str = PASSWORD,
        department_id: uuid.UUID | None = None,
        display_name: str | None = None,
    ) -> User:
        async with self.session() as s:
            await bind_tenant(s, t.id)
            user = await do_create_user(
                s,
                self.admin_actor(t.id),
                username=username,
                password=password,
                display_name=display_name or username,
                roles=roles,
                department_id=department_id,
            )
            await s.commit()
        return user

    def client(self) -> httpx.AsyncClient:
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://testserver")
        self._clients.append(c)
        return c

    async def login(self, t: TenantInfo, username: str = "admin", password: str = PASSWORD) -> httpx.AsyncClient:
        c = self.client()
        r = await c.post(f"/api/v1/t/{t.slug}/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return c

    async def token_client(self, t: TenantInfo, scopes: list[str]) -> httpx.AsyncClient:
        async with self.session() as s:
            await bind_tenant(s, t.id)
            _row, secret = await do_create_api_token(
                s, self.admin_actor(t.id), name=f"t-{uuid.uuid4().hex[:8]}", scopes=scopes, expires_in_days=None
            )
            await s.commit()
        c = self.client()
        c.headers["Authorization"] = f"Bearer {secret}"
        return c

    def capture_writes(self) -> list[str]:
        """Start recording every data-changing statement the app's engine runs; returns the live list.

        Reads are ignored, and so are the updates that reads legitimately make
        (a session's last-seen time, a token's last use).
        """
        from sqlalchemy import event

        writes: list[str] = []
        engine = self.ctx.services["engine"].sync_engine

        def listener(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            head = statement.lstrip().split(None, 3)
            verb = head[0].upper() if head else ""
            if verb not in ("INSERT", "UPDATE", "DELETE"):
                return
            table = (head[2] if verb != "UPDATE" else head[1]).strip('"').lower() if len(head) > 2 else ""
            if verb == "UPDATE" and table in ("user_sessions", "api_tokens") and (
                    "last_seen_at" in statement or "last_used_at" in statement) and "ended_at" not in statement:
                return
            writes.append(statement.split("\n")[0][:120])

        event.listen(engine, "before_cursor_execute", listener)
        self._write_listeners.append(listener)
        return writes

    async def digest(self, tenant_ids: list[uuid.UUID]) -> str:
        """A hash of every row of every table, as seen by each tenant in turn (plus untenanted tables)."""
        h = hashlib.sha256()
        async with self.session() as s:
            for tenant_id in [None, *tenant_ids]:
                await bind_tenant(s, tenant_id)
                for table in Base.metadata.sorted_tables:
                    if ("tenant_id" in table.c) == (tenant_id is None):
                        continue
                    cols = [c for c in table.c if (table.name, c.name) not in VOLATILE_COLUMNS]
                    stmt = sa.select(*cols)
                    if tenant_id is not None:
                        stmt = stmt.where(table.c.tenant_id == tenant_id)
                    rows = (await s.execute(stmt.order_by(*table.primary_key.columns))).all()
                    h.update(table.name.encode())
                    h.update(json.dumps([list(r) for r in rows], default=str, sort_keys=True).encode())
                await s.commit()
        return h.hexdigest()

    async def aclose(self) -> None:
        from sqlalchemy import event

        for c in self._clients:
            await c.aclose()
        engine = self.ctx.services["engine"].sync_engine
        for listener in self._write_listeners:
            event.remove(engine, "before_cursor_execute", listener)
