"""HTTP API of the routing domain: skills, queues, agent profiles, policies, statuses, tasks, statistics."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Query, status

from kefu.core.actor import Actor
from kefu.core.errors import NotFound
from kefu.routing import actions, queries
from kefu.routing.access import access_policy_by_id, access_queue_by_id
from kefu.routing.schemas import (
    AgentProfileIn,
    AgentProfileOut,
    OfferAnswer,
    PolicyCreate,
    PolicyOut,
    PolicyUpdate,
    QueueCreate,
    QueueOut,
    QueueUpdate,
    SkillCreate,
    SkillOut,
    StatusChange,
    TaskCreate,
    TaskOut,
)
from kefu.tenancy import Permission, access_user_by_id
from kefu.web.deps import DB, Require

router = APIRouter(prefix="/api/v1/t/{tenant}/routing", tags=["routing"])


def Allowed(permission: Permission | None) -> Any:
    return Depends(Require(permission))


# --------------------------------------------------------------------------- skills


@router.get("/skills", response_model=list[SkillOut], summary="Skills of this organisation")
async def list_skills(db: DB, actor: Actor = Allowed(Permission.ROUTING_READ)):
    return await queries.list_skills(db, actor)


@router.post("/skills", response_model=SkillOut, status_code=status.HTTP_201_CREATED, summary="Add a skill")
async def create_skill(body: SkillCreate, db: DB, actor: Actor = Allowed(Permission.ROUTING_MANAGE)):
    return await actions.do_create_skill(db, actor, **body.model_dump())


@router.delete("/skills/{skill_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove an unused skill")
async def delete_skill(skill_id: uuid.UUID, db: DB, actor: Actor = Allowed(Permission.ROUTING_MANAGE)) -> None:
    await actions.do_delete_skill(db, actor, skill_id)


# --------------------------------------------------------------------------- queues


@router.get("/queues", response_model=list[QueueOut], summary="Queues")
async def list_queues(db: DB, actor: Actor = Allowed(Permission.ROUTING_READ)):
    return await queries.list_queues(db, actor)


@router.post("/queues", response_model=QueueOut, status_code=status.HTTP_201_CREATED, summary="Create a queue")
async def create_queue(body: QueueCreate, db: DB, actor: Actor = Allowed(Permission.ROUTING_MANAGE)):
    return await actions.do_create_queue(db, actor, **body.model_dump(mode="json"))


@router.get("/queues/{queue_id}", response_model=QueueOut, summary="A queue")
async def get_queue(queue_id: uuid.UUID, db: DB, actor: Actor = Allowed(Permission.ROUTING_READ)):
    return await access_queue_by_id(db, actor, queue_id)


@router.patch("/queues/{queue_id}", response_model=QueueOut, summary="Change a queue (applied live)")
async def update_queue(
    queue_id: uuid.UUID, body: QueueUpdate, db: DB, actor: Actor = Allowed(Permission.ROUTING_MANAGE)
):
    return await actions.do_update_queue(db, actor, queue_id, body.model_dump(mode="json", exclude_unset=True))


@router.delete("/queues/{queue_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete an empty, unused queue")
async def delete_queue(queue_id: uuid.UUID, db: DB, actor: Actor = Allowed(Permission.ROUTING_MANAGE)) -> None:
    await actions.do_delete_queue(db, actor, queue_id)


@router.get("/queues/{queue_id}/stats", summary="Live figures of a queue")
async def queue_stats(queue_id: uuid.UUID, db: DB, actor: Actor = Allowed(Permission.ROUTING_READ)) -> dict[str, Any]:
    await access_queue_by_id(db, actor, queue_id)
    stats = await queries.queue_statistics(db, actor, queue_id)
    if stats is None:
        raise NotFound("This queue is not live yet.")
    return stats


@router.get("/queues/{queue_id}/tasks", summary="The queue's tasks in routing order (position, estimated wait)")
async def queue_tasks(
    queue_id: uuid.UUID,
    db: DB,
    actor: Actor = Allowed(Permission.ROUTING_READ),
    limit: int = Query(default=100, ge=1, le=500),
) -> list[dict[str, Any]]:
    await access_queue_by_id(db, actor, queue_id)
    return await queries.queue_tasks(db, actor, queue_id, limit)


# --------------------------------------------------------------------------- agents


@router.get("/agents/{user_id}/profile", response_model=AgentProfileOut, summary="An agent's skills and capacity")
async def get_agent_profile(user_id: uuid.UUID, db: DB, actor: Actor = Allowed(Permission.ROUTING_READ)):
    await access_user_by_id(db, actor, user_id)
    profile = await queries.agent_profile(db, actor, user_id)
    if profile is None:
        raise NotFound("This person has no agent profile yet.", code="not-an-agent")
    return profile


@router.put(
    "/agents/{user_id}/profile",
    response_model=AgentProfileOut,
    summary="Set an agent's skills and capacity (applied live)",
)
async def set_agent_profile(
    user_id: uuid.UUID, body: AgentProfileIn, db: DB, actor: Actor = Allowed(Permission.ROUTING_MANAGE)
):
    return await actions.do_set_agent_profile(db, actor, user_id, **body.model_dump())


@router.post("/agents/{user_id}/status", summary="Set an agent's status (one's own, or anyone's as a supervisor)")
async def set_agent_status(
    user_id: uuid.UUID, body: StatusChange, db: DB, actor: Actor = Allowed(Permission.AGENT_STATUS)
) -> dict[str, Any]:
    return await actions.do_set_agent_status(db, actor, user_id, body.status, body.reason)


# --------------------------------------------------------------------------- policies


@router.get("/policies", response_model=list[PolicyOut], summary="Routing policies")
async def list_policies(db: DB, actor: Actor = Allowed(Permission.ROUTING_READ)):
    return await queries.list_policies(db, actor)


@router.post(
    "/policies", response_model=PolicyOut, status_code=status.HTTP_201_CREATED, summary="Create a routing policy"
)
async def create_policy(body: PolicyCreate, db: DB, actor: Actor = Allowed(Permission.ROUTING_MANAGE)):
    return await actions.do_create_policy(db, actor, **body.model_dump())


@router.get("/policies/{policy_id}", response_model=PolicyOut, summary="A routing policy")
async def get_policy(policy_id: uuid.UUID, db: DB, actor: Actor = Allowed(Permission.ROUTING_READ)):
    return await access_policy_by_id(db, actor, policy_id)


@router.patch("/policies/{policy_id}", response_model=PolicyOut, summary="Change a routing policy (applied live)")
async def update_policy(
    policy_id: uuid.UUID, body: PolicyUpdate, db: DB, actor: Actor = Allowed(Permission.ROUTING_MANAGE)
):
    return await actions.do_update_policy(db, actor, policy_id, body.model_dump(exclude_unset=True))


@router.delete("/policies/{policy_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a routing policy")
async def delete_policy(policy_id: uuid.UUID, db: DB, actor: Actor = Allowed(Permission.ROUTING_MANAGE)) -> None:
    await actions.do_delete_policy(db, actor, policy_id)


# --------------------------------------------------------------------------- tasks and offers


@router.post(
    "/tasks",
    response_model=TaskOut,
    status_code=status.HTTP_201_CREATED,
    summary="Submit a task that is not a live call (callback, work item)",
)
async def submit_task(body: TaskCreate, db: DB, actor: Actor = Allowed(Permission.TASKS_CREATE)):
    task_id, state = await actions.do_submit_task(db, actor, **body.model_dump())
    return TaskOut(task_id=task_id, state=state)


@router.post("/tasks/{task_id}/cancel", status_code=status.HTTP_204_NO_CONTENT, summary="Cancel a task")
async def cancel_task(task_id: uuid.UUID, db: DB, actor: Actor = Allowed(Permission.TASKS_CREATE)) -> None:
    await actions.do_cancel_task(db, actor, str(task_id))


@router.post("/tasks/{task_id}/accept", response_model=TaskOut, summary="Accept an offer made to me")
async def accept_offer(task_id: uuid.UUID, body: OfferAnswer, db: DB, actor: Actor = Allowed(Permission.TASKS_HANDLE)):
    return TaskOut(task_id=str(task_id), state=await actions.do_answer_offer(db, actor, str(task_id), body.token, True))


@router.post("/tasks/{task_id}/reject", response_model=TaskOut, summary="Reject an offer made to me")
async def reject_offer(task_id: uuid.UUID, body: OfferAnswer, db: DB, actor: Actor = Allowed(Permission.TASKS_HANDLE)):
    return TaskOut(
        task_id=str(task_id), state=await actions.do_answer_offer(db, actor, str(task_id), body.token, False)
    )


@router.post("/tasks/{task_id}/complete", response_model=TaskOut, summary="Finish a task assigned to me")
async def complete_task(task_id: uuid.UUID, db: DB, actor: Actor = Allowed(Permission.TASKS_HANDLE)):
    return TaskOut(task_id=str(task_id), state=await actions.do_complete_task(db, actor, str(task_id)))


# --------------------------------------------------------------------------- statistics


@router.get("/stats", summary="Live queue and agent statistics")
async def live_stats(db: DB, actor: Actor = Allowed(Permission.ROUTING_READ)) -> dict[str, Any]:
    return await queries.live_statistics(db, actor)
