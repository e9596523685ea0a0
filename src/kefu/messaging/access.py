"""Load messaging rows for an actor. Another tenant's row is indistinguishable from a missing one."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.core.actor import Actor
from kefu.core.errors import NotFound
from kefu.messaging.models import SmsMessage


async def access_sms_message_by_id(
    session: AsyncSession, actor: Actor, message_id: uuid.UUID, *, for_update: bool = False
) -> SmsMessage:
    if actor.tenant_id is None:
        raise NotFound("Not found.")
    stmt = sa.select(SmsMessage).where(SmsMessage.id == message_id, SmsMessage.tenant_id == actor.tenant_id)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    message = (await session.execute(stmt)).scalar_one_or_none()
    if message is None:
        raise NotFound(f"No SMS with id {message_id} in this organisation.")
    return message
