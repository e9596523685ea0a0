"""The Server-Sent Events endpoint."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from kefu.core.actor import Actor
from kefu.realtime.hub import RESYNC, Hub, Message
from kefu.realtime.rules import authorise_topics
from kefu.web.deps import Require, get_context

router = APIRouter(prefix="/api/v1/t/{tenant}", tags=["realtime"])

HEARTBEAT_SECONDS = 15.0


def hub_of(request: Request) -> Hub:
    return get_context(request).services["hub"]


def _frame(hub: Hub, message: Message) -> bytes:
    payload = json.dumps(
        {"topic": message.topic, "data": message.data, "ts": message.published_at},
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return f"id: {hub.event_id(message)}\nevent: {message.type}\ndata: {payload}\n\n".encode()


@router.get(
    "/events",
    summary="Subscribe to real-time events (text/event-stream)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def events(
    request: Request,
    topic: Annotated[list[str], Query(max_length=100, description="Topic to follow; repeat for several")],
    last_event_id: Annotated[str | None, Query(max_length=40)] = None,
    actor: Actor = Depends(Require(None)),
) -> StreamingResponse:
    topics = authorise_topics(actor, topic)
    hub = hub_of(request)
    assert actor.tenant_id is not None
    resume_from = request.headers.get("last-event-id") or last_event_id
    subscription, replay, resync = hub.subscribe(actor.tenant_id, topics, resume_from)

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield b"retry: 2000\n\n"
            if resync:
                yield f"event: {RESYNC}\ndata: {{}}\n\n".encode()
            for message in replay:
                yield _frame(hub, message)
            while True:
                try:
                    message = await asyncio.wait_for(subscription.queue.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield b": ping\n\n"
                    continue
                if message is None:  # overflowed: tell the client to reload its snapshot
                    yield f"event: {RESYNC}\ndata: {{}}\n\n".encode()
                    return
                yield _frame(hub, message)
        finally:
            hub.unsubscribe(subscription)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
