"""Writes of the routing domain.

Configuration actions (skills, queues, agent profiles, policies) validate with
the engine's own rules, write the tables, audit, and apply the change to the
live router after the transaction commits (``after_commit``), so a rolled-back
request changes nothing anywhere. Router commands (agent status, tasks,
offers) go through the :class:`~kefu.routing.host.RouterHost`, which stores
their events before they return.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kefu import audit
from kefu.core.actor import Actor
from kefu.core.context import context_of
from kefu.core.db import after_commit, commit
from kefu.core.errors import Conflict, InvalidInput, NotFound
from kefu.core.ids import new_id
from kefu.core.time import from_datetime
from kefu.routing.access import access_policy_by_id, access_queue_by_id, access_skill_by_id
from kefu.routing.errors import RoutingError
from kefu.routing.host import agent_config, host_of, policy_config, queue_config, tenant_router
from kefu.routing.models import AgentProfile, Queue, RoutingPolicyRow, Skill
from kefu.routing.rules import (
    AgentConfig,
    ExceptionRule,
    OpeningHours,
    PolicyStep,
    QueueConfig,
    RoutingPolicy,
    parse_requirement,
    validate_agent_config,
    validate_policy,
    validate_queue_config,
)
from kefu.tenancy import Permission, access_user_by_id, require


def _invalid(error: Exception, field: str | None = None) -> InvalidInput:
    message = error.message if isinstance(error, RoutingError) else str(error)
    return InvalidInput(
        message[:1].upper() + message[1:], errors=[{"field": field, "message": message}] if field else []
    )


async def _catalogue(session: AsyncSession, actor: Actor) -> set[str]:
    return set((await session.execute(sa.select(Skill.name).where(Skill.tenant_id == actor.tenant_id))).scalars())


async def _queue_configs(session: AsyncSession, actor: Actor) -> dict[str, QueueConfig]:
    rows = (await session.execute(sa.select(Queue).where(Queue.tenant_id == actor.tenant_id))).scalars()
    return {str(q.id): queue_config(q) for q in rows}


def _apply_later(session: AsyncSession, actor: Actor, change: Any) -> None:
    """Apply ``change(router)`` to the live router once the transaction commits (if it is loaded)."""
    host = host_of(context_of(session))
    tenant_id = actor.tenant_id
    assert tenant_id is not None

    async def apply() -> None:
        if host.loaded(tenant_id) is not None:
            await host.command(tenant_id, change)

    after_commit(session, apply)


# --------------------------------------------------------------------------- skills


async def do_create_skill(session: AsyncSession, actor: Actor, *, name: str, description: str = "") -> Skill:
    require(actor, Permission.ROUTING_MANAGE)
    exists = (
        await session.execute(sa.select(Skill.id).where(Skill.tenant_id == actor.tenant_id, Skill.name == name))
    ).first()
    if exists:
        raise Conflict(f"A skill named {name!r} already exists.")
    assert actor.tenant_id is not None
    skill = Skill(tenant_id=actor.tenant_id, name=name, description=description)
    session.add(skill)
    await session.flush()
    await audit.record(
        session, actor, "routing.skill_created", target_type="skill", target_id=skill.id, details={"name": name}
    )
    return skill


async def do_delete_skill(session: AsyncSession, actor: Actor, skill_id: uuid.UUID) -> None:
    require(actor, Permission.ROUTING_MANAGE)
    skill = await access_skill_by_id(session, actor, skill_id)
    users = [
        p
        for p in (
            await session.execute(sa.select(AgentProfile).where(AgentProfile.tenant_id == actor.tenant_id))
        ).scalars()
        if skill.name in (p.skills or {})
    ]
    queues = [
        q.name
        for q in (await session.execute(sa.select(Queue).where(Queue.tenant_id == actor.tenant_id))).scalars()
        if skill.name in parse_requirement(q.config.get("eligibility", "")).skills
    ]
    if users or queues:
        raise Conflict(
            f"Skill {skill.name!r} is still used by {len(users)} agent(s) and queue(s) "
            f"{', '.join(queues) or '-'}; remove it there first."
        )
    await session.delete(skill)
    await audit.record(
        session, actor, "routing.skill_deleted", target_type="skill", target_id=skill_id, details={"name": skill.name}
    )
    await session.flush()


# --------------------------------------------------------------------------- queues


def _queue_fields(data: dict[str, Any], existing: dict[str, Any] | None = None) -> dict[str, Any]:
    """Table JSON for a queue from API input (exception rules get stable ids)."""
    config = dict(existing or {})
    for key in ("eligibility", "mode", "wrap_up_s", "sl_threshold_s", "max_length", "offer_timeout_s", "hours"):
        if key in data:
            config[key] = data[key]
    if "exception_rules" in data and data["exception_rules"] is not None:
        config["exception_rules"] = [
            {
                "id": f"rule{i + 1}",
                "trigger": r["trigger"],
                "action": r["action"],
                "threshold": r["threshold"],
                "target_queue_id": str(r["target_queue_id"]) if r.get("target_queue_id") else None,
                "message": r.get("message", ""),
            }
            for i, r in enumerate(data["exception_rules"])
        ]
    config.setdefault("exception_rules", [])
    return config


def _build_queue(queue_id: uuid.UUID, name: str, config: dict[str, Any]) -> QueueConfig:
    try:
        return QueueConfig(
            id=str(queue_id),
            name=name,
            eligibility=config.get("eligibility", ""),
            mode=config.get("mode", "longest_idle"),
            wrap_up_s=float(config.get("wrap_up_s", 0)),
            sl_threshold_s=float(config.get("sl_threshold_s", 20)),
            max_length=config.get("max_length"),
            hours=OpeningHours.from_dict(config.get("hours")),
            offer_timeout_s=float(config.get("offer_timeout_s", 20)),
            exception_rules=tuple(ExceptionRule.from_dict(r) for r in config.get("exception_rules", [])),
        )
    except RoutingError as exc:
        raise _invalid(exc) from None


async def _check_queue(session: AsyncSession, actor: Actor, config: QueueConfig) -> None:
    try:
        validate_queue_config(config, await _queue_configs(session, actor), await _catalogue(session, actor))
    except RoutingError as exc:
        raise _invalid(exc, "eligibility" if "skill" in exc.code or "expression" in exc.code else None) from None


async def do_create_queue(session: AsyncSession, actor: Actor, *, name: str, **settings: Any) -> Queue:
    require(actor, Permission.ROUTING_MANAGE)
    if (
        await session.execute(sa.select(Queue.id).where(Queue.tenant_id == actor.tenant_id, Queue.name == name))
    ).first():
        raise Conflict(f"A queue named {name!r} already exists.")
    queue_id = new_id()
    fields = _queue_fields(settings)
    config = _build_queue(queue_id, name, fields)
    await _check_queue(session, actor, config)
    assert actor.tenant_id is not None
    row = Queue(id=queue_id, tenant_id=actor.tenant_id, name=name, config=fields)
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        actor,
        "routing.queue_created",
        target_type="queue",
        target_id=row.id,
        details={"name": name, "config": fields},
    )
    _apply_later(session, actor, lambda router: router.upsert_queue(config))
    return row


async def do_update_queue(session: AsyncSession, actor: Actor, queue_id: uuid.UUID, changes: dict[str, Any]) -> Queue:
    require(actor, Permission.ROUTING_MANAGE)
    row = await access_queue_by_id(session, actor, queue_id)
    name = changes.get("name") or row.name
    if (
        name != row.name
        and (
            await session.execute(sa.select(Queue.id).where(Queue.tenant_id == actor.tenant_id, Queue.name == name))
        ).first()
    ):
        raise Conflict(f"A queue named {name!r} already exists.")
    fields = _queue_fields({k: v for k, v in changes.items() if k != "name"}, row.config)
    config = _build_queue(row.id, name, fields)
    await _check_queue(session, actor, config)
    before = {"name": row.name, "config": row.config}
    row.name = name
    row.config = fields
    await session.flush()
    await audit.record(
        session,
        actor,
        "routing.queue_changed",
        target_type="queue",
        target_id=row.id,
        details={"before": before, "after": {"name": name, "config": fields}},
    )
    _apply_later(session, actor, lambda router: router.upsert_queue(config))
    return row


async def do_delete_queue(session: AsyncSession, actor: Actor, queue_id: uuid.UUID) -> None:
    require(actor, Permission.ROUTING_MANAGE)
    row = await access_queue_by_id(session, actor, queue_id)
    key = str(row.id)
    policies = [
        p.name
        for p in (
            await session.execute(sa.select(RoutingPolicyRow).where(RoutingPolicyRow.tenant_id == actor.tenant_id))
        ).scalars()
        if any(step.get("queue_id") == key for step in p.definition.get("steps", []))
    ]
    overflowing = [
        q.name
        for q in (
            await session.execute(sa.select(Queue).where(Queue.tenant_id == actor.tenant_id, Queue.id != row.id))
        ).scalars()
        if any(r.get("target_queue_id") == key for r in q.config.get("exception_rules", []))
    ]
    if policies or overflowing:
        raise Conflict(
            f"Queue {row.name!r} is used by routing policies {policies or '-'} and overflow rules of "
            f"{overflowing or '-'}; change those first."
        )
    host = host_of(context_of(session))
    assert actor.tenant_id is not None
    hosted = host.loaded(actor.tenant_id)
    if hosted is not None:
        stats = hosted.router.queue_stats(key) if hosted.router.has_queue(key) else None
        if stats is not None and stats.waiting:
            raise Conflict(f"Queue {row.name!r} still has {stats.waiting} waiting task(s); move them first.")
    await session.delete(row)
    await audit.record(
        session, actor, "routing.queue_deleted", target_type="queue", target_id=queue_id, details={"name": row.name}
    )
    await session.flush()

    def remove(router: Any) -> None:
        if router.has_queue(key):
            router.remove_queue(key)

    _apply_later(session, actor, remove)


# --------------------------------------------------------------------------- agents


async def do_set_agent_profile(
    session: AsyncSession, actor: Actor, user_id: uuid.UUID, *, skills: dict[str, int], capacity: dict[str, int]
) -> AgentProfile:
    require(actor, Permission.ROUTING_MANAGE)
    user = await access_user_by_id(session, actor, user_id)
    config = AgentConfig(id=str(user.id), skills=skills, capacity=capacity or {"voice": 1}, name=user.display_name)
    try:
        validate_agent_config(config, await _catalogue(session, actor))
    except RoutingError as exc:
        raise _invalid(exc, "skills" if exc.code in ("invalid_skill", "invalid_level") else "capacity") from None
    row = (
        await session.execute(
            sa.select(AgentProfile).where(AgentProfile.tenant_id == actor.tenant_id, AgentProfile.user_id == user.id)
        )
    ).scalar_one_or_none()
    before = None if row is None else {"skills": row.skills, "capacity": row.capacity}
    if row is None:
        row = AgentProfile(tenant_id=user.tenant_id, user_id=user.id, skills=skills, capacity=config.capacity)
        session.add(row)
    else:
        row.skills = skills
        row.capacity = dict(config.capacity)
    await session.flush()
    await audit.record(
        session,
        actor,
        "routing.agent_profile_changed",
        target_type="user",
        target_id=user.id,
        details={"before": before, "after": {"skills": skills, "capacity": dict(config.capacity)}},
    )
    _apply_later(session, actor, lambda router: router.upsert_agent(agent_config(row, user.display_name)))
    return row


# --------------------------------------------------------------------------- policies


def _policy_definition(steps: list[dict[str, Any]], fallback: uuid.UUID | None) -> dict[str, Any]:
    return {
        "steps": [
            {
                "queue_id": str(s["queue_id"]),
                "priority": s.get("priority"),
                "requirements": s.get("requirements", ""),
                "expires_after_s": s.get("expires_after_s"),
            }
            for s in steps
        ],
        "fallback_policy_id": str(fallback) if fallback else None,
    }


async def _check_policy(session: AsyncSession, actor: Actor, policy: RoutingPolicy) -> None:
    queues = await _queue_configs(session, actor)
    policies = {
        str(p.id): policy_config(p)
        for p in (
            await session.execute(sa.select(RoutingPolicyRow).where(RoutingPolicyRow.tenant_id == actor.tenant_id))
        ).scalars()
    }
    policies[policy.id] = policy
    try:
        validate_policy(policy, queues.keys(), policies, await _catalogue(session, actor))
    except RoutingError as exc:
        raise _invalid(exc, "steps") from None


def _build_policy(policy_id: uuid.UUID, name: str, definition: dict[str, Any]) -> RoutingPolicy:
    try:
        return RoutingPolicy(
            id=str(policy_id),
            name=name,
            steps=tuple(
                PolicyStep(
                    queue_id=s["queue_id"],
                    priority=s.get("priority"),
                    requirements=s.get("requirements", ""),
                    expires_after_s=s.get("expires_after_s"),
                )
                for s in definition["steps"]
            ),
            fallback_policy_id=definition.get("fallback_policy_id"),
        )
    except RoutingError as exc:
        raise _invalid(exc, "steps") from None


async def do_create_policy(
    session: AsyncSession,
    actor: Actor,
    *,
    name: str,
    steps: list[dict[str, Any]],
    fallback_policy_id: uuid.UUID | None = None,
) -> RoutingPolicyRow:
    require(actor, Permission.ROUTING_MANAGE)
    if (
        await session.execute(
            sa.select(RoutingPolicyRow.id).where(
                RoutingPolicyRow.tenant_id == actor.tenant_id, RoutingPolicyRow.name == name
            )
        )
    ).first():
        raise Conflict(f"A routing policy named {name!r} already exists.")
    policy_id = new_id()
    definition = _policy_definition(steps, fallback_policy_id)
    policy = _build_policy(policy_id, name, definition)
    await _check_policy(session, actor, policy)
    assert actor.tenant_id is not None
    row = RoutingPolicyRow(id=policy_id, tenant_id=actor.tenant_id, name=name, definition=definition)
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        actor,
        "routing.policy_created",
        target_type="routing_policy",
        target_id=row.id,
        details={"name": name, "definition": definition},
    )
    _apply_later(session, actor, lambda router: router.upsert_policy(policy))
    return row


async def do_update_policy(
    session: AsyncSession, actor: Actor, policy_id: uuid.UUID, changes: dict[str, Any]
) -> RoutingPolicyRow:
    require(actor, Permission.ROUTING_MANAGE)
    row = await access_policy_by_id(session, actor, policy_id)
    name = changes.get("name") or row.name
    steps = changes.get("steps") or row.definition["steps"]
    fallback = (
        changes["fallback_policy_id"] if "fallback_policy_id" in changes else row.definition.get("fallback_policy_id")
    )
    definition = _policy_definition(steps, uuid.UUID(str(fallback)) if fallback else None)
    policy = _build_policy(row.id, name, definition)
    await _check_policy(session, actor, policy)
    before = {"name": row.name, "definition": row.definition}
    row.name = name
    row.definition = definition
    await session.flush()
    await audit.record(
        session,
        actor,
        "routing.policy_changed",
        target_type="routing_policy",
        target_id=row.id,
        details={"before": before, "after": {"name": name, "definition": definition}},
    )
    _apply_later(session, actor, lambda router: router.upsert_policy(policy))
    return row


async def do_delete_policy(session: AsyncSession, actor: Actor, policy_id: uuid.UUID) -> None:
    require(actor, Permission.ROUTING_MANAGE)
    row = await access_policy_by_id(session, actor, policy_id)
    users = [
        p.name
        for p in (
            await session.execute(sa.select(RoutingPolicyRow).where(RoutingPolicyRow.tenant_id == actor.tenant_id))
        ).scalars()
        if p.definition.get("fallback_policy_id") == str(row.id)
    ]
    if users:
        raise Conflict(f"Routing policy {row.name!r} is the fallback of {', '.join(users)}; change those first.")
    await session.delete(row)
    await audit.record(
        session,
        actor,
        "routing.policy_deleted",
        target_type="routing_policy",
        target_id=policy_id,
        details={"name": row.name},
    )
    await session.flush()
    key = str(row.id)
    _apply_later(session, actor, lambda router: router.remove_policy(key) if router.has_policy(key) else None)


# --------------------------------------------------------------------------- router commands


def _routing_error(exc: RoutingError) -> Exception:
    """Engine refusals as domain errors with the engine's code (nothing changed)."""
    from kefu.core.errors import KefuError

    error = KefuError(exc.message[:1].upper() + exc.message[1:], code=exc.code.replace("_", "-"))
    error.status = exc.http_status
    error.title = {404: "Not found", 409: "Conflict", 422: "Invalid input"}.get(exc.http_status, "Bad request")
    return error


async def command(session: AsyncSession, actor: Actor, fn: Any) -> Any:
    """Run a router command for the actor's tenant, turning engine refusals into 4xx errors.

    A router command is its own durable step: what the request did before it is
    committed first, then the command runs and its events are stored (in their own
    transaction), and the request goes on in a new transaction. On SQLite this also
    lets the event store take the write lock the request would otherwise hold.
    """
    host = host_of(context_of(session))
    assert actor.tenant_id is not None
    if session.in_transaction():
        await commit(session)
    try:
        return await host.command(actor.tenant_id, fn)
    except RoutingError as exc:
        raise _routing_error(exc) from None


async def do_set_agent_status(
    session: AsyncSession, actor: Actor, user_id: uuid.UUID, status: str, reason: str | None
) -> dict[str, Any]:
    """An agent sets their own status; a supervisor may set anyone's."""
    if user_id == actor.user_id:
        require(actor, Permission.AGENT_STATUS)
        who = "agent"
    else:
        require(actor, Permission.AGENTS_SUPERVISE)
        await access_user_by_id(session, actor, user_id)
        who = "supervisor"
    key = str(user_id)
    try:
        stats = await command(
            session, actor, lambda r: (r.set_status(key, status, reason, actor=who), r.agent_stats(key))[1]
        )
    except Exception as exc:
        if getattr(exc, "code", "") == "unknown-agent":
            raise NotFound(
                "This person is not set up to take tasks: give them a skill profile first.", code="not-an-agent"
            ) from None
        raise
    return stats.to_dict()


async def do_submit_task(
    session: AsyncSession,
    actor: Actor,
    *,
    queue_id: uuid.UUID | None,
    policy_id: uuid.UUID | None,
    kind: str,
    channel: str,
    priority: int,
    attributes: dict[str, Any],
    enqueued_at: Any = None,
) -> tuple[str, str]:
    require(actor, Permission.TASKS_CREATE)
    if queue_id is not None:
        await access_queue_by_id(session, actor, queue_id)
    if policy_id is not None:
        await access_policy_by_id(session, actor, policy_id)
    if (queue_id is None) == (policy_id is None):
        raise InvalidInput("Give exactly one of queue_id or policy_id.")
    task_id = str(new_id())
    state = await command(
        session,
        actor,
        lambda r: r.submit_task(
            task_id,
            queue_id=str(queue_id) if queue_id else None,
            policy_id=str(policy_id) if policy_id else None,
            channel=channel,
            priority=priority,
            kind=kind,
            attributes=attributes,
            enqueued_at=from_datetime(enqueued_at) if enqueued_at else None,
        ),
    )
    await audit.record(
        session,
        actor,
        "routing.task_created",
        target_type="task",
        target_id=task_id,
        details={"kind": kind, "queue_id": str(queue_id) if queue_id else None},
    )
    return task_id, state


async def do_answer_offer(session: AsyncSession, actor: Actor, task_id: str, token: int, accept: bool) -> str:
    require(actor, Permission.TASKS_HANDLE)
    agent = str(actor.user_id)
    if accept:
        await command(session, actor, lambda r: r.accept(task_id, agent, token))
    else:
        await command(session, actor, lambda r: r.reject(task_id, agent, token))
    assert actor.tenant_id is not None
    return (await tenant_router(session, actor.tenant_id)).router.task_state(task_id)


async def do_complete_task(session: AsyncSession, actor: Actor, task_id: str) -> str:
    require(actor, Permission.TASKS_HANDLE)
    agent = str(actor.user_id)
    await command(session, actor, lambda r: r.complete(task_id, agent))
    return "completed"


async def do_cancel_task(session: AsyncSession, actor: Actor, task_id: str) -> None:
    require(actor, Permission.TASKS_CREATE)
    await command(session, actor, lambda r: r.cancel(task_id, "cancelled"))
    await audit.record(session, actor, "routing.task_cancelled", target_type="task", target_id=task_id)
