"""The router host: one live :class:`Router` per tenant in this process, made durable.

* **Loading.** A tenant's router is built on first use: its configuration comes
  from the tables (queues, agent profiles, policies) and its state from folding
  the tenant's ``routing_events`` (``Router.restore``). Waiting tasks are back
  at their old places; agents get their statuses back; offers that were
  pending at the crash are withdrawn and made again.
* **Durability.** Every event the router emits gets the tenant's next sequence
  number and is appended to ``routing_events``. A command issued through
  :meth:`RouterHost.command` returns only after its events are stored (group
  commit: one transaction carries every event pending at that moment), so an
  accepted request is never lost. Events from timers (offer timeouts, wrap-up
  ends) are stored within ``flush_interval`` seconds; if the
  process dies before that, restoring re-derives them (an expired offer is
  withdrawn and made again).
* **Listeners.** Other parts of the process (the call controller, wallboard
  publishers) subscribe to a tenant's events with :meth:`RouterHost.listen`;
  they are called on the next turn of the event loop, never from inside the router.

One process hosts a tenant at a time (single writer). Running several
processes means sharding tenants between them; that is not built yet.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa

from kefu.core.context import Context
from kefu.core.db import bind_tenant
from kefu.core.time import to_datetime
from kefu.routing.engine import Router
from kefu.routing.errors import RoutingError
from kefu.routing.events import Event, event_from_dict, fold
from kefu.routing.models import AgentProfile, Queue, RoutingEvent, RoutingPolicyRow
from kefu.routing.rules import AgentConfig, QueueConfig, RouterSettings, RoutingPolicy
from kefu.tenancy.models import Tenant

log = logging.getLogger("kefu.routing")
T = TypeVar("T")
Listener = Callable[[uuid.UUID, Event], None]

_ID_FIELDS = ("task_id", "agent_id", "queue_id")
_BATCH = 5000


def queue_config(row: Queue) -> QueueConfig:
    return QueueConfig.from_dict({**row.config, "id": str(row.id), "name": row.name})


def agent_config(row: AgentProfile, name: str = "") -> AgentConfig:
    return AgentConfig(
        id=str(row.user_id), skills=dict(row.skills), capacity=dict(row.capacity) or {"voice": 1}, name=name
    )


def policy_config(row: RoutingPolicyRow) -> RoutingPolicy:
    return RoutingPolicy.from_dict({**row.definition, "id": str(row.id), "name": row.name})


def router_settings(tenant: Tenant) -> RouterSettings:
    routing = (tenant.settings or {}).get("routing", {})
    return RouterSettings(
        timezone=tenant.timezone,
        max_consecutive_misses=int(routing.get("max_consecutive_misses", 3)),
        missed_offer_delay_s=float(routing.get("missed_offer_delay_s", 0.0)),
        short_abandon_s=float(routing.get("short_abandon_s", 5.0)),
    )


@dataclass
class TenantRouter:
    tenant_id: uuid.UUID
    router: Router
    next_seq: int
    pending: list[tuple[int, Event]] = field(default_factory=list)
    flush_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    flush_scheduled: bool = False


class RouterHost:
    def __init__(self, ctx: Context, *, flush_interval: float = 0.1) -> None:
        self.ctx = ctx
        self.flush_interval = flush_interval
        self._routers: dict[uuid.UUID, TenantRouter] = {}
        self._loading: dict[uuid.UUID, asyncio.Lock] = {}
        self._listeners: list[Listener] = []
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ access

    def listen(self, listener: Listener) -> None:
        """Call ``listener(tenant_id, event)`` for every routing event of every tenant (after the fact)."""
        self._listeners.append(listener)

    def loaded(self, tenant_id: uuid.UUID) -> TenantRouter | None:
        return self._routers.get(tenant_id)

    async def get(self, tenant_id: uuid.UUID) -> TenantRouter:
        hosted = self._routers.get(tenant_id)
        if hosted is not None:
            return hosted
        lock = self._loading.setdefault(tenant_id, asyncio.Lock())
        async with lock:
            hosted = self._routers.get(tenant_id)
            if hosted is None:
                hosted = await self._load(tenant_id)
                self._routers[tenant_id] = hosted
        return hosted

    async def command(self, tenant_id: uuid.UUID, fn: Callable[[Router], T]) -> T:
        """Run ``fn(router)`` (a synchronous router command) and wait until its events are stored."""
        hosted = await self.get(tenant_id)
        result = fn(hosted.router)
        await self.flush(hosted)
        return result

    async def read(self, tenant_id: uuid.UUID, fn: Callable[[Router], T]) -> T:
        hosted = await self.get(tenant_id)
        return fn(hosted.router)

    # ------------------------------------------------------------------ loading

    async def _load(self, tenant_id: uuid.UUID) -> TenantRouter:
        assert self.ctx.session_factory is not None
        async with self.ctx.session_factory() as session:
            await bind_tenant(session, tenant_id)
            tenant = await session.get(Tenant, tenant_id)
            if tenant is None:
                raise LookupError(f"no tenant {tenant_id}")
            settings = router_settings(tenant)
            queues = [
                queue_config(q)
                for q in (await session.execute(sa.select(Queue).where(Queue.tenant_id == tenant_id))).scalars()
            ]
            agents = [
                agent_config(a)
                for a in (
                    await session.execute(sa.select(AgentProfile).where(AgentProfile.tenant_id == tenant_id))
                ).scalars()
            ]
            policies = [
                policy_config(p)
                for p in (
                    await session.execute(sa.select(RoutingPolicyRow).where(RoutingPolicyRow.tenant_id == tenant_id))
                ).scalars()
            ]
            events: list[Event] = []
            last_seq = 0
            while True:
                rows = (
                    await session.execute(
                        sa.select(RoutingEvent.seq, RoutingEvent.data)
                        .where(RoutingEvent.tenant_id == tenant_id, RoutingEvent.seq > last_seq)
                        .order_by(RoutingEvent.seq)
                        .limit(_BATCH)
                    )
                ).all()
                if not rows:
                    break
                events.extend(event_from_dict(data) for _seq, data in rows)
                last_seq = rows[-1][0]
            await session.commit()
        state = fold(events, timezone=settings.timezone, retention=settings.terminal_retention)
        hosted = TenantRouter(tenant_id, None, last_seq + 1)  # type: ignore[arg-type]
        sink = self._sink_for(hosted)
        router = Router.restore(state, self.ctx.clock, sink, settings=settings)
        self._reconcile(router, queues, agents, policies)
        hosted.router = router
        log.info("tenant %s: router restored from %d events (%d live tasks)", tenant_id, len(events), len(state.tasks))
        if hosted.pending:
            await self.flush(hosted)
        return hosted

    @staticmethod
    def _reconcile(
        router: Router, queues: list[QueueConfig], agents: list[AgentConfig], policies: list[RoutingPolicy]
    ) -> None:
        """Bring the restored router's configuration in line with the tables.

        Changes go through the router's own upserts and removals, so they are
        events in the log too and a later fold sees the same configuration.
        Anything still holding live tasks is kept (and logged) rather than
        removed, so no task is lost.
        """
        for queue in queues:
            router.upsert_queue(queue)
        for policy in policies:
            router.upsert_policy(policy)
        for agent in agents:
            router.upsert_agent(agent)
        wanted = ({p.id for p in policies}, {a.id for a in agents}, {q.id for q in queues})
        for policy_id in [p for p in router.state().policies if p not in wanted[0]]:
            _try_remove(router.remove_policy, policy_id)
        for agent_id in [a for a in router.agent_ids() if a not in wanted[1]]:
            _try_remove(router.remove_agent, agent_id)
        for queue_id in [q for q in router.queue_ids() if q not in wanted[2]]:
            _try_remove(router.remove_queue, queue_id)

    def _sink_for(self, hosted: TenantRouter) -> Callable[[Event], None]:
        clock = self.ctx.clock

        def sink(event: Event) -> None:
            seq = hosted.next_seq
            hosted.next_seq = seq + 1
            hosted.pending.append((seq, event))
            if not hosted.flush_scheduled:
                self._schedule_flush(hosted)
            if not self._listeners:
                return
            try:
                call_soon = asyncio.get_running_loop().call_soon
            except RuntimeError:  # no loop: defer on the clock (never call back into the router here)
                for listener in self._listeners:
                    clock.call_later(0, listener, hosted.tenant_id, event)
                return
            for listener in self._listeners:
                call_soon(listener, hosted.tenant_id, event)

        return sink

    def _schedule_flush(self, hosted: TenantRouter) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a synchronous caller): the next command's flush stores the events
        hosted.flush_scheduled = True

        def spawn() -> None:
            hosted.flush_scheduled = False
            task = loop.create_task(self._background_flush(hosted))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        loop.call_later(self.flush_interval, spawn)

    async def _background_flush(self, hosted: TenantRouter) -> None:
        try:
            await self.flush(hosted)
        except Exception:
            log.exception("storing routing events of tenant %s failed; retrying", hosted.tenant_id)
            await asyncio.sleep(1.0)
            if hosted.pending and not hosted.flush_scheduled:
                self._schedule_flush(hosted)

    # ------------------------------------------------------------------ durability

    async def flush(self, hosted: TenantRouter) -> None:
        """Store every pending event of this tenant (in seq order, one transaction)."""
        async with hosted.flush_lock:
            if not hosted.pending:
                return
            batch = hosted.pending
            hosted.pending = []
            rows = []
            for seq, event in batch:
                data = event.to_dict()
                rows.append(
                    {
                        "id": uuid.uuid4(),
                        "tenant_id": hosted.tenant_id,
                        "seq": seq,
                        "at": to_datetime(event.at),
                        "type": event.type,
                        "data": data,
                        **{name: _short_id(data.get(name)) for name in _ID_FIELDS},
                    }
                )
            try:
                assert self.ctx.session_factory is not None
                async with self.ctx.session_factory() as session:
                    await bind_tenant(session, hosted.tenant_id)
                    await session.execute(sa.insert(RoutingEvent), rows)
                    await session.commit()
            except BaseException:
                hosted.pending[:0] = batch  # keep them for the next attempt, in order
                raise

    async def flush_all(self) -> None:
        for hosted in list(self._routers.values()):
            await self.flush(hosted)

    async def close(self) -> None:
        """Store what is pending (called when the process shuts down)."""
        for task in list(self._tasks):
            await asyncio.gather(task, return_exceptions=True)
        await self.flush_all()


def _try_remove(remove: Callable[[str], None], key: str) -> None:
    try:
        remove(key)
    except RoutingError as exc:
        log.warning("kept %s after a restart: %s", key, exc.message)


def _short_id(value: Any) -> str | None:
    if value is None or isinstance(value, list | tuple | dict):
        return None
    return str(value)[:64]


def host_of(ctx: Context) -> RouterHost:
    host: RouterHost = ctx.services["router_host"]
    return host


async def tenant_router(session: Any, tenant_id: uuid.UUID) -> TenantRouter:
    """The loaded router of a tenant, for code that holds a request session.

    Loading reads the database in a session of its own; the request's
    transaction is ended first so that (on SQLite) the two never wait on each
    other's write lock. Nothing is lost: a request reaches this point before it
    writes anything that needs to stay uncommitted.
    """
    from kefu.core.context import context_of
    from kefu.core.db import commit

    host = host_of(context_of(session))
    hosted = host.loaded(tenant_id)
    if hosted is None:
        if session.in_transaction():
            await commit(session)
        hosted = await host.get(tenant_id)
    return hosted
