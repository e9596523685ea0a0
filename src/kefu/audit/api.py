"""HTTP API of the audit domain (security auditors only)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from kefu import audit
from kefu.audit.schemas import AuditEventOut, AuditEventPage, ChainReportOut
from kefu.core.actor import Actor
from kefu.core.schemas import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from kefu.tenancy import Permission
from kefu.web.deps import DB, CurrentTenant, Require

router = APIRouter(prefix="/api/v1/t/{tenant}/audit", tags=["audit"])


@router.get("/events", response_model=AuditEventPage, summary="Audit events, newest first")
async def list_audit_events(
    db: DB,
    actor: Actor = Depends(Require(Permission.AUDIT_READ)),
    action: Annotated[str | None, Query(max_length=64)] = None,
    actor_id: uuid.UUID | None = None,
    since: datetime | None = None,
    before_seq: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
):
    assert actor.tenant_id is not None
    rows = await audit.list_events(
        db, actor.tenant_id, action=action, actor_id=actor_id, since=since, before_seq=before_seq, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    await audit.record(db, actor, "audit.read", details={"action": action, "returned": len(rows)})
    return AuditEventPage(
        items=[AuditEventOut.model_validate(r) for r in rows], next_before_seq=rows[-1].seq if more and rows else None
    )


@router.get("/verify", response_model=ChainReportOut, summary="Verify this organisation's audit chain")
async def verify_audit_chain(db: DB, tenant: CurrentTenant, actor: Actor = Depends(Require(Permission.AUDIT_READ))):
    report = await audit.verify_tenant_chain(db, tenant.id, f"tenant {tenant.slug}")
    await audit.record(db, actor, "audit.verified", details={"ok": report.ok, "events": report.events})
    return ChainReportOut(ok=report.ok, events=report.events, broken_seq=report.broken_seq, problem=report.problem)
