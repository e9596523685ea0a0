"""HTTP API of the work-orders domain. Handlers parse, call one action or query, serialise."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import AwareDatetime

from kefu.core.actor import Actor
from kefu.core.context import context_of
from kefu.core.schemas import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, keyset_page
from kefu.tenancy.rules import Permission
from kefu.web.deps import DB, CurrentTenant, Require
from kefu.workorders import actions, followup, kpis, queries, refunds
from kefu.workorders.schemas import (
    AttachmentInput,
    AttachmentOut,
    AuthorityPolicyInput,
    AuthorityPolicyOut,
    CalendarInput,
    CalendarOut,
    CategoryCreate,
    CategoryOut,
    CategoryUpdate,
    CommentInput,
    ConfigOut,
    ConfigUpdate,
    DispatchInput,
    DispatchRuleInput,
    DispatchRuleOut,
    FollowUpAnswer,
    FollowUpInput,
    InterceptInput,
    KpiDashboardOut,
    KpiOut,
    LinkInput,
    MergeInput,
    ReasonInput,
    RefundDecisionInput,
    RefundInput,
    RefundOut,
    ReplyInput,
    SlaEventOut,
    SlaPolicyInput,
    SlaPolicyOut,
    SubOrderInput,
    WorkOrderCreate,
    WorkOrderDetailOut,
    WorkOrderOut,
    WorkOrderUpdate,
)

router = APIRouter(prefix="/api/v1/t/{tenant}", tags=["work orders"])

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
P = Permission


def Allowed(permission: Permission) -> object:
    return Depends(Require(permission))


def detail_out(d: queries.OrderDetail) -> WorkOrderDetailOut:
    base = WorkOrderOut.model_validate(d.order).model_dump()
    return WorkOrderDetailOut(
        **base,
        description=d.order.description,
        reply=d.order.reply,
        paused_seconds=d.order.paused_seconds,
        handling_seconds=d.order.handling_seconds,
        handling_day_seconds=d.order.handling_day_seconds,
        history=d.history,
        links=d.links,
        sub_orders=[WorkOrderOut.model_validate(o) for o in d.sub_orders],
        follow_ups=d.follow_ups,
        refunds=d.refunds,
        sla_events=d.sla_events,
        attachments=d.attachments,
        allowed_actions=d.allowed_actions,
    )


# --------------------------------------------------------------------------- orders


@router.get("/work-orders", response_model=Page[WorkOrderOut], summary="List, filter and search work orders")
async def list_work_orders(
    db: DB,
    actor: Actor = Allowed(P.WORKORDERS_READ),
    status_: Annotated[
        str | None, Query(alias="status", max_length=20, description="A status, or open / inbox / waiting / closed")
    ] = None,
    department_id: uuid.UUID | None = None,
    category_id: uuid.UUID | None = Query(default=None, description="Includes sub-categories"),
    assignee_id: uuid.UUID | None = None,
    customer_id: uuid.UUID | None = None,
    kind: Literal["complaint", "sub_order", "verification"] | None = None,
    q: Annotated[
        str | None, Query(max_length=64, description="Order number, calling number or words of the title")
    ] = None,
    overdue: bool | None = None,
    repeat: bool | None = None,
    escalation: bool | None = None,
    created_from: AwareDatetime | None = None,
    created_to: AwareDatetime | None = None,
    after: uuid.UUID | None = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
):
    f = queries.OrderFilter(
        status=status_,
        department_id=department_id,
        category_id=category_id,
        assignee_id=assignee_id,
        customer_id=customer_id,
        kind=kind,
        q=q,
        overdue=overdue,
        repeat=repeat,
        escalation=escalation,
        created_from=created_from,
        created_to=created_to,
    )
    rows = await queries.list_work_orders(db, actor, f, after=after, limit=limit)
    return keyset_page(rows, limit, WorkOrderOut)


@router.post(
    "/work-orders",
    response_model=WorkOrderOut,
    status_code=status.HTTP_201_CREATED,
    summary="Accept a complaint; optionally resolve it now or dispatch it",
)
async def create_work_order(body: WorkOrderCreate, db: DB, actor: Actor = Allowed(P.WORKORDERS_CREATE)):
    data = body.model_dump()
    return await actions.do_create_work_order(db, actor, **data)


@router.get("/work-orders/{order_id}", response_model=WorkOrderDetailOut, summary="A work order with its timeline")
async def get_work_order(order_id: uuid.UUID, db: DB, actor: Actor = Allowed(P.WORKORDERS_READ)):
    return detail_out(await queries.work_order_detail(db, actor, order_id))


@router.patch(
    "/work-orders/{order_id}",
    response_model=WorkOrderOut,
    summary="Change priority, category, title or the escalation flag",
)
async def update_work_order(
    order_id: uuid.UUID, body: WorkOrderUpdate, db: DB, actor: Actor = Allowed(P.WORKORDERS_DISPATCH)
):
    return await actions.do_update_work_order(db, actor, order_id, body.model_dump(exclude_unset=True))


@router.post(
    "/work-orders/{order_id}/dispatch",
    response_model=WorkOrderOut,
    summary="Dispatch to a department (or by the rules), or transfer to another",
)
async def dispatch_work_order(
    order_id: uuid.UUID, body: DispatchInput, db: DB, actor: Actor = Allowed(P.WORKORDERS_DISPATCH)
):
    return await actions.do_dispatch_work_order(db, actor, order_id, **body.model_dump())


@router.post(
    "/work-orders/{order_id}/intercept", response_model=WorkOrderOut, summary="Resolved at first contact (intercepted)"
)
async def intercept_work_order(
    order_id: uuid.UUID, body: InterceptInput, db: DB, actor: Actor = Allowed(P.WORKORDERS_DISPATCH)
):
    return await actions.do_intercept_work_order(db, actor, order_id, **body.model_dump())


@router.post("/work-orders/{order_id}/take", response_model=WorkOrderOut, summary="Start handling a dispatched order")
async def take_work_order(order_id: uuid.UUID, db: DB, actor: Actor = Allowed(P.WORKORDERS_HANDLE)):
    return await actions.do_take_work_order(db, actor, order_id)


@router.post(
    "/work-orders/{order_id}/pend", response_model=WorkOrderOut, summary="Wait for the customer (the SLA clock pauses)"
)
async def pend_work_order(order_id: uuid.UUID, body: ReasonInput, db: DB, actor: Actor = Allowed(P.WORKORDERS_HANDLE)):
    return await actions.do_pend_work_order(db, actor, order_id, reason=body.reason)


@router.post("/work-orders/{order_id}/resume", response_model=WorkOrderOut, summary="Resume after waiting")
async def resume_work_order(order_id: uuid.UUID, db: DB, actor: Actor = Allowed(P.WORKORDERS_HANDLE)):
    return await actions.do_resume_work_order(db, actor, order_id)


@router.post(
    "/work-orders/{order_id}/return",
    response_model=WorkOrderOut,
    summary="Return the order to the complaint center with a reason",
)
async def return_work_order(
    order_id: uuid.UUID, body: ReasonInput, db: DB, actor: Actor = Allowed(P.WORKORDERS_HANDLE)
):
    return await actions.do_return_work_order(db, actor, order_id, reason=body.reason)


@router.post("/work-orders/{order_id}/reply", response_model=WorkOrderOut, summary="Report back with the result")
async def reply_work_order(order_id: uuid.UUID, body: ReplyInput, db: DB, actor: Actor = Allowed(P.WORKORDERS_HANDLE)):
    return await actions.do_reply_work_order(db, actor, order_id, **body.model_dump())


@router.post("/work-orders/{order_id}/archive", response_model=WorkOrderOut, summary="Archive a replied order")
async def archive_work_order(order_id: uuid.UUID, db: DB, actor: Actor = Allowed(P.WORKORDERS_DISPATCH)):
    return await actions.do_archive_work_order(db, actor, order_id)


@router.post("/work-orders/{order_id}/reopen", response_model=WorkOrderOut, summary="Reopen with a reason")
async def reopen_work_order(
    order_id: uuid.UUID, body: ReasonInput, db: DB, actor: Actor = Allowed(P.WORKORDERS_DISPATCH)
):
    return await actions.do_reopen_work_order(db, actor, order_id, reason=body.reason)


@router.post("/work-orders/{order_id}/comments", response_model=WorkOrderOut, summary="Add a note to the timeline")
async def comment_work_order(
    order_id: uuid.UUID, body: CommentInput, db: DB, actor: Actor = Allowed(P.WORKORDERS_HANDLE)
):
    return await actions.do_comment_work_order(db, actor, order_id, text=body.text)


@router.post("/work-orders/{order_id}/merge", response_model=WorkOrderOut, summary="Merge into another order")
async def merge_work_order(
    order_id: uuid.UUID, body: MergeInput, db: DB, actor: Actor = Allowed(P.WORKORDERS_DISPATCH)
):
    return await actions.do_merge_work_order(db, actor, order_id, **body.model_dump())


@router.post(
    "/work-orders/{order_id}/links",
    response_model=WorkOrderOut,
    status_code=status.HTTP_201_CREATED,
    summary="Link to another order (related, duplicate, or member of an incident)",
)
async def link_work_order(order_id: uuid.UUID, body: LinkInput, db: DB, actor: Actor = Allowed(P.WORKORDERS_DISPATCH)):
    await actions.do_link_work_orders(db, actor, order_id, **body.model_dump())
    return await actions.access_work_order_by_id(db, actor, order_id)


@router.post(
    "/work-orders/{order_id}/sub-orders",
    response_model=WorkOrderOut,
    status_code=status.HTTP_201_CREATED,
    summary="Ask another department to co-handle (a sub-order)",
)
async def create_sub_order(
    order_id: uuid.UUID, body: SubOrderInput, db: DB, actor: Actor = Allowed(P.WORKORDERS_DISPATCH)
):
    return await actions.do_create_sub_order(db, actor, order_id, **body.model_dump())


@router.post(
    "/work-orders/{order_id}/attachments",
    response_model=AttachmentOut,
    status_code=status.HTTP_201_CREATED,
    summary="Attach a file (base64, at most 512 KiB)",
)
async def add_attachment(
    order_id: uuid.UUID, body: AttachmentInput, db: DB, actor: Actor = Allowed(P.WORKORDERS_HANDLE)
):
    return await actions.do_add_attachment(db, actor, order_id, **body.model_dump())


@router.get(
    "/work-orders/{order_id}/attachments/{attachment_id}", summary="Download an attachment", response_class=Response
)
async def get_attachment(
    order_id: uuid.UUID, attachment_id: uuid.UUID, db: DB, actor: Actor = Allowed(P.WORKORDERS_READ)
) -> Response:
    row = await queries.attachment_content(db, actor, order_id, attachment_id)
    return Response(
        row.content,
        media_type="application/octet-stream",
        headers={
            "content-disposition": f"attachment; filename*=UTF-8''{_quote(row.filename)}",
            "x-content-type-options": "nosniff",
        },
    )


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


@router.post(
    "/work-orders/{order_id}/follow-up",
    response_model=WorkOrderOut,
    summary="Start the satisfaction follow-up (SMS or call)",
)
async def start_follow_up(
    order_id: uuid.UUID, body: FollowUpInput, db: DB, actor: Actor = Allowed(P.WORKORDERS_HANDLE)
):
    return await followup.do_start_follow_up(db, actor, order_id, channel=body.channel)


@router.post(
    "/work-orders/{order_id}/follow-up/answer",
    response_model=WorkOrderOut,
    summary="Record the follow-up answer (unsatisfied reopens)",
)
async def answer_follow_up(
    order_id: uuid.UUID, body: FollowUpAnswer, db: DB, actor: Actor = Allowed(P.WORKORDERS_HANDLE)
):
    return await followup.do_record_follow_up(db, actor, order_id, answer=body.answer, note=body.note)


@router.post(
    "/work-orders/{order_id}/refunds",
    response_model=RefundOut,
    status_code=status.HTTP_201_CREATED,
    summary="Refund first, verify later: the authority policies decide",
)
async def request_refund(order_id: uuid.UUID, body: RefundInput, db: DB, actor: Actor = Allowed(P.REFUNDS_ISSUE)):
    return await refunds.do_request_refund(db, actor, order_id, **body.model_dump())


@router.get("/refunds", response_model=Page[RefundOut], summary="Refund decisions (e.g. pending approval)")
async def list_refunds(
    db: DB,
    actor: Actor = Allowed(P.WORKORDERS_READ),
    outcome: Annotated[str | None, Query(max_length=24)] = None,
    after: uuid.UUID | None = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
):
    return keyset_page(
        await queries.list_refunds(db, actor, outcome=outcome, after=after, limit=limit), limit, RefundOut
    )


@router.post(
    "/refunds/{refund_id}/decision", response_model=RefundOut, summary="A supervisor approves or rejects a refund"
)
async def decide_refund(
    refund_id: uuid.UUID, body: RefundDecisionInput, db: DB, actor: Actor = Allowed(P.REFUNDS_APPROVE)
):
    return await refunds.do_decide_refund(db, actor, refund_id, **body.model_dump())


@router.get("/sla-breaches", response_model=list[SlaEventOut], summary="Latest SLA breaches and warnings")
async def list_breaches(db: DB, actor: Actor = Allowed(P.WORKORDERS_READ)):
    return [event for event, _order in await queries.list_breaches(db, actor)]


# --------------------------------------------------------------------------- KPIs


def _period(start: date | None, end: date | None, today: date) -> tuple[date, date]:
    from kefu.core.errors import InvalidInput

    for value in (start, end):
        if value is not None and not 2000 <= value.year <= 2100:
            raise InvalidInput("Ask for a period between the years 2000 and 2100.")
    if start is None:
        start = today.replace(day=1)
    if end is None:
        end = (start.replace(day=28) + (date(2000, 1, 5) - date(2000, 1, 1))).replace(day=1)
        while end <= start:
            end = (end.replace(day=28) + (date(2000, 1, 5) - date(2000, 1, 1))).replace(day=1)
    return start, end


async def _kpis(
    db: DB, actor: Actor, tenant: CurrentTenant, start: date | None, end: date | None, group_by: str, area_level: int
) -> kpis.KpiReport:
    from zoneinfo import ZoneInfo

    from kefu.tenancy.queries import all_departments

    today = context_of(db).now().astimezone(ZoneInfo(tenant.timezone)).date()
    start, end = _period(start, end, today)
    names = {d.id: d.name for d in await all_departments(db, actor)} if group_by == "department" else {}
    return await kpis.compute_kpis(
        db,
        actor,
        start=start,
        end=end,
        group_by=group_by,
        area_level=area_level,
        department_names=names,
        timezone=tenant.timezone,
    )


GroupBy = Annotated[Literal["none", "department", "category", "area", "day", "month"], Query()]


@router.get("/kpis", response_model=KpiOut, summary="Complaint KPIs (DESIGN §9) for a period")
async def get_kpis(
    db: DB,
    tenant: CurrentTenant,
    actor: Actor = Allowed(P.KPI_READ),
    start: Annotated[date | None, Query(alias="from", description="First day (default: this month)")] = None,
    end: Annotated[date | None, Query(alias="to", description="Day after the last")] = None,
    group_by: GroupBy = "none",
    area_level: Annotated[int, Query(ge=1, le=6)] = 2,
):
    report = await _kpis(db, actor, tenant, start, end, group_by, area_level)
    return kpis.report_as_dict(report)


@router.get("/kpis/dashboard", response_model=KpiDashboardOut,
            summary="The dashboard's KPIs: by a dimension and per day, from one scan per source")
async def get_kpi_dashboard(db: DB, tenant: CurrentTenant, actor: Actor = Allowed(P.KPI_READ),
                            start: Annotated[date | None, Query(alias="from")] = None,
                            group_by: Annotated[Literal["department", "category", "area"], Query()] = "department",
                            area_level: Annotated[int, Query(ge=1, le=6)] = 2):
    from zoneinfo import ZoneInfo

    from kefu.tenancy.queries import all_departments

    today = context_of(db).now().astimezone(ZoneInfo(tenant.timezone)).date()
    start, end = _period(start, None, today)
    names = {d.id: d.name for d in await all_departments(db, actor)} if group_by == "department" else {}
    groups, days = await kpis.compute_dashboard(db, actor, start=start, end=end, group_by=group_by,
                                                area_level=area_level, department_names=names,
                                                timezone=tenant.timezone)
    return {"groups": kpis.report_as_dict(groups), "days": kpis.report_as_dict(days)}


@router.get("/kpis/export", summary="Complaint KPIs as CSV or XLSX", response_class=Response)
async def export_kpis(
    db: DB,
    tenant: CurrentTenant,
    actor: Actor = Allowed(P.KPI_EXPORT),
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
    group_by: GroupBy = "department",
    area_level: Annotated[int, Query(ge=1, le=6)] = 2,
    format: Literal["csv", "xlsx"] = "csv",
) -> Response:
    report = await _kpis(db, actor, tenant, start, end, group_by, area_level)
    name = f"kpis-{report.start.isoformat()}-{report.group_by}.{format}"
    if format == "xlsx":
        return Response(
            kpis.export_xlsx(report),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"content-disposition": f'attachment; filename="{name}"'},
        )
    return Response(
        kpis.export_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


# --------------------------------------------------------------------------- configuration


@router.get("/work-order-categories", response_model=list[CategoryOut], summary="The complaint category tree")
async def list_categories(db: DB, actor: Actor = Allowed(P.WORKORDERS_READ)):
    return await queries.list_categories(db, actor)


@router.post(
    "/work-order-categories", response_model=CategoryOut, status_code=status.HTTP_201_CREATED, summary="Add a category"
)
async def create_category(body: CategoryCreate, db: DB, actor: Actor = Allowed(P.WORKORDERS_ADMIN)):
    return await actions.do_create_category(db, actor, **body.model_dump())


@router.patch(
    "/work-order-categories/{category_id}", response_model=CategoryOut, summary="Retire, reorder or recode a category"
)
async def update_category(
    category_id: uuid.UUID, body: CategoryUpdate, db: DB, actor: Actor = Allowed(P.WORKORDERS_ADMIN)
):
    return await actions.do_update_category(db, actor, category_id, body.model_dump(exclude_unset=True))


@router.get("/dispatch-rules", response_model=list[DispatchRuleOut], summary="Dispatch rules in order")
async def list_dispatch_rules(db: DB, actor: Actor = Allowed(P.WORKORDERS_READ)):
    return await queries.list_dispatch_rules(db, actor)


@router.post(
    "/dispatch-rules",
    response_model=DispatchRuleOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add a dispatch rule (category × area → department)",
)
async def create_dispatch_rule(body: DispatchRuleInput, db: DB, actor: Actor = Allowed(P.WORKORDERS_ADMIN)):
    return await actions.do_save_dispatch_rule(db, actor, **body.model_dump())


@router.put("/dispatch-rules/{rule_id}", response_model=DispatchRuleOut, summary="Change a dispatch rule")
async def update_dispatch_rule(
    rule_id: uuid.UUID, body: DispatchRuleInput, db: DB, actor: Actor = Allowed(P.WORKORDERS_ADMIN)
):
    return await actions.do_save_dispatch_rule(db, actor, rule_id=rule_id, **body.model_dump())


@router.delete("/dispatch-rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a dispatch rule")
async def delete_dispatch_rule(rule_id: uuid.UUID, db: DB, actor: Actor = Allowed(P.WORKORDERS_ADMIN)) -> None:
    await actions.do_delete_dispatch_rule(db, actor, rule_id)


@router.get("/business-calendars", response_model=list[CalendarOut], summary="Business calendars")
async def list_calendars(db: DB, actor: Actor = Allowed(P.WORKORDERS_READ)):
    return await queries.list_calendars(db, actor)


@router.post(
    "/business-calendars",
    response_model=CalendarOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add a business calendar",
)
async def create_calendar(body: CalendarInput, db: DB, actor: Actor = Allowed(P.WORKORDERS_ADMIN)):
    return await actions.do_save_calendar(db, actor, **body.model_dump())


@router.put(
    "/business-calendars/{calendar_id}",
    response_model=CalendarOut,
    summary="Change a calendar (deadlines of open orders are recomputed)",
)
async def update_calendar(
    calendar_id: uuid.UUID, body: CalendarInput, db: DB, actor: Actor = Allowed(P.WORKORDERS_ADMIN)
):
    return await actions.do_save_calendar(db, actor, calendar_id=calendar_id, **body.model_dump())


@router.get("/sla-policies", response_model=list[SlaPolicyOut], summary="SLA policies in order")
async def list_sla_policies(db: DB, actor: Actor = Allowed(P.WORKORDERS_READ)):
    return await queries.list_sla_policies(db, actor)


@router.post(
    "/sla-policies", response_model=SlaPolicyOut, status_code=status.HTTP_201_CREATED, summary="Add an SLA policy"
)
async def create_sla_policy(body: SlaPolicyInput, db: DB, actor: Actor = Allowed(P.WORKORDERS_ADMIN)):
    return await actions.do_save_sla_policy(db, actor, **body.model_dump())


@router.put(
    "/sla-policies/{policy_id}",
    response_model=SlaPolicyOut,
    summary="Change an SLA policy (deadlines of open orders are recomputed from history)",
)
async def update_sla_policy(
    policy_id: uuid.UUID, body: SlaPolicyInput, db: DB, actor: Actor = Allowed(P.WORKORDERS_ADMIN)
):
    return await actions.do_save_sla_policy(db, actor, policy_id=policy_id, **body.model_dump())


@router.get("/authority-policies", response_model=list[AuthorityPolicyOut], summary="Refund authority policies")
async def list_authority_policies(db: DB, actor: Actor = Allowed(P.WORKORDERS_READ)):
    return await queries.list_authority_policies(db, actor)


@router.post(
    "/authority-policies",
    response_model=AuthorityPolicyOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add a refund authority policy",
)
async def create_authority_policy(body: AuthorityPolicyInput, db: DB, actor: Actor = Allowed(P.WORKORDERS_ADMIN)):
    return await refunds.do_save_authority_policy(db, actor, **body.model_dump())


@router.put(
    "/authority-policies/{authority_policy_id}",
    response_model=AuthorityPolicyOut,
    summary="Change a refund authority policy",
)
async def update_authority_policy(
    authority_policy_id: uuid.UUID, body: AuthorityPolicyInput, db: DB, actor: Actor = Allowed(P.WORKORDERS_ADMIN)
):
    return await refunds.do_save_authority_policy(db, actor, policy_id=authority_policy_id, **body.model_dump())


@router.get("/work-order-config", response_model=ConfigOut, summary="Work-order settings")
async def get_config(db: DB, actor: Actor = Allowed(P.WORKORDERS_READ)):
    assert actor.tenant_id is not None
    return await actions.get_config(db, actor.tenant_id)


@router.patch("/work-order-config", response_model=ConfigOut, summary="Change work-order settings")
async def update_config(body: ConfigUpdate, db: DB, actor: Actor = Allowed(P.WORKORDERS_ADMIN)):
    return await actions.do_update_config(db, actor, body.model_dump(exclude_unset=True))
