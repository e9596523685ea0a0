"""Post-call satisfaction surveys answered by SMS reply (the IVR variant lives in the controller)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.contacts.models import Call, CallEvent
from kefu.contacts.rules import survey_score
from kefu.core.ids import new_id

PURPOSE = "survey"


async def handle_survey_reply(session: AsyncSession, tenant: Any, inbound: Any, original: Any) -> None:
    """Store a 1-5 reply on the call the survey was about; other replies are kept as unmatched text."""
    if original.reference_type != "call" or not original.reference_id:
        return
    score = survey_score(inbound.body)
    if score is None:
        return
    call_id = uuid.UUID(original.reference_id)
    updated = await session.execute(
        sa.update(Call)
        .where(Call.tenant_id == tenant.id, Call.id == call_id, Call.survey_score.is_(None))
        .values(survey_score=score, survey_channel="sms")
    )
    if updated.rowcount:
        session.add(
            CallEvent(
                id=new_id(),
                tenant_id=tenant.id,
                call_id=call_id,
                at=inbound.received_at,
                type="survey.answered",
                data={"score": score, "channel": "sms"},
            )
        )
        await session.flush()


def register_survey_handler() -> None:
    from kefu.messaging import register_reply_handler

    register_reply_handler(PURPOSE, handle_survey_reply, replace=True)
