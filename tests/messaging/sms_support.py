"""Shared pieces of the SMS tests: a scripted provider, queueing and reading helpers (fixtures: conftest)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from kefu.core.db import bind_tenant
from kefu.messaging import OutgoingSms, SendResult, SmsMessage, queue_sms

SECRET = "provider-shared-secret-0123456789"


class ScriptedSmsPort:
    """A provider whose answer per call is scripted: a SendResult, an exception, or a callable."""

    name = "scripted"

    def __init__(self, script: list[Any] | None = None) -> None:
        self.script = list(script or [])
        self.sent: list[OutgoingSms] = []
        self.hook: Callable[[OutgoingSms], Any] | None = None

    async def send(self, message: OutgoingSms) -> SendResult:
        self.sent.append(message)
        if self.hook is not None:
            await self.hook(message)
        outcome = self.script.pop(0) if self.script else None
        if isinstance(outcome, BaseException):
            raise outcome
        if isinstance(outcome, SendResult):
            return outcome
        return SendResult(provider=self.name, provider_message_id=f"prov-{message.idempotency_key}", status="sent")


async def queue(
    world: Any, t: Any, to_number: str = "13812341234", body: str = "您好", purpose: str = "test", **kw: Any
) -> SmsMessage:
    async with world.session() as s:
        await bind_tenant(s, t.id)
        message = await queue_sms(s, tenant=t.tenant, to_number=to_number, body=body, purpose=purpose, **kw)
        await s.commit()
    return message


async def load(world: Any, t: Any, message_id: uuid.UUID) -> SmsMessage:
    async with world.session() as s:
        await bind_tenant(s, t.id)
        row = (await s.execute(sa.select(SmsMessage).where(SmsMessage.id == message_id))).scalar_one()
        await s.commit()
    return row


async def all_messages(world: Any, t: Any) -> list[SmsMessage]:
    async with world.session() as s:
        await bind_tenant(s, t.id)
        rows = list((await s.execute(sa.select(SmsMessage).order_by(SmsMessage.id))).scalars())
        await s.commit()
    return rows


def at(ctx: Any, seconds: float = 0) -> datetime:
    """The virtual clock's time plus ``seconds``."""
    from datetime import timedelta

    return ctx.now() + timedelta(seconds=seconds)
