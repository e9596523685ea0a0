"""Server-rendered pages: new order from the agent desktop, lists and inbox, order detail with its timeline,
the KPI dashboard, supervisor views (breaches, refund approvals) and the complaint settings."""

from __future__ import annotations

import json
import uuid
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kefu.core import i18n
from kefu.core.actor import Actor
from kefu.core.errors import InvalidInput, KefuError, NotFound, PermissionDenied
from kefu.tenancy.pages import PageTenant, Signed
from kefu.tenancy.queries import all_departments
from kefu.tenancy.rules import Permission as P
from kefu.web.deps import DB
from kefu.web.forms import form_uuid
from kefu.web.templating import render
from kefu.workorders import actions, followup, kpis, queries, refunds
from kefu.workorders.rules import ANSWERS, CHANNELS, CHARGE_TYPES, LABELS, PRIORITIES, RESOLUTIONS, STATUS_LABELS

router = APIRouter(include_in_schema=False)


async def _lookups(db: DB, actor: Actor) -> dict[str, Any]:
    departments = await all_departments(db, actor)
    categories = await queries.list_categories(db, actor)
    return {
        "departments": departments,
        "department_names": {d.id: d.name for d in departments},
        "categories": [c for c in categories if c.is_active],
        "priorities": PRIORITIES,
        "channels": CHANNELS,
        "resolutions": RESOLUTIONS,
        "answers": ANSWERS,
        "charge_types": CHARGE_TYPES,
        "status_labels": STATUS_LABELS,
        "labels": LABELS,
    }


# --------------------------------------------------------------------------- lists


@router.get("/t/{tenant}/workorders", response_class=HTMLResponse)
async def orders_page(
    request: Request,
    db: DB,
    tenant: PageTenant,
    actor: Actor = Signed(P.WORKORDERS_READ),
    status: Annotated[str, Query(max_length=20)] = "",
    department: str = "",
    q: Annotated[str, Query(max_length=64)] = "",
    overdue: str = "",
    after: str = "",
) -> Response:
    f = queries.OrderFilter(
        status=status or None, department_id=form_uuid(department), q=q or None, overdue=True if overdue else None
    )
    rows = await queries.list_work_orders(db, actor, f, after=form_uuid(after), limit=50)
    breaches = await queries.list_breaches(db, actor, limit=10) if actor.can(P.WORKORDERS_DISPATCH) else []
    pending = (
        await queries.list_refunds(db, actor, outcome="pending_approval", limit=20)
        if actor.can(P.REFUNDS_APPROVE)
        else []
    )
    return render(
        request,
        "workorders/list.html",
        tenant=tenant,
        orders=rows[:50],
        next_after=rows[49].id if len(rows) > 50 else None,
        filters={"status": status, "department": department, "q": q, "overdue": overdue},
        breaches=breaches,
        pending=pending,
        title=i18n.gettext("Work orders"),
        **await _lookups(db, actor),
    )


@router.get("/t/{tenant}/workorders/inbox", response_class=HTMLResponse)
async def inbox_page(
    request: Request, db: DB, tenant: PageTenant, actor: Actor = Signed(P.WORKORDERS_HANDLE), department: str = ""
) -> Response:
    dep = form_uuid(department) or actor.department_id
    rows = []
    if dep is not None:
        rows = await queries.list_work_orders(
            db, actor, queries.OrderFilter(status="inbox", department_id=dep), limit=200
        )
    return render(
        request,
        "workorders/list.html",
        tenant=tenant,
        orders=rows,
        next_after=None,
        inbox=True,
        filters={"status": "inbox", "department": str(dep or ""), "q": "", "overdue": ""},
        breaches=[],
        pending=[],
        title=i18n.gettext("Department inbox"),
        **await _lookups(db, actor),
    )


# --------------------------------------------------------------------------- new order (agent desktop)


@router.get("/t/{tenant}/workorders/new", response_class=HTMLResponse)
async def new_order_page(
    request: Request,
    db: DB,
    tenant: PageTenant,
    actor: Actor = Signed(P.WORKORDERS_CREATE),
    call_id: str = "",
    caller: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    if call_id and not caller:
        # From the agent desktop: the caller's number is looked up server side from the call.
        from kefu.contacts.queries import caller_number_for_agent

        try:
            caller = await caller_number_for_agent(db, actor, uuid.UUID(call_id)) or ""
        except ValueError:
            caller = ""
    return await _new_form(request, db, tenant, actor, call_id=call_id, caller=caller)


async def _new_form(
    request: Request,
    db: DB,
    tenant: Any,
    actor: Actor,
    *,
    call_id: str,
    caller: str,
    error: str | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
    lookup: bool = True,
) -> Response:
    from kefu.customers import find_by_phone
    from kefu.workorders.queries import open_orders_for_customer

    customer, open_orders = None, []
    call = form_uuid(call_id) if call_id else None
    if lookup and caller and call is not None and actor.can(P.CUSTOMERS_READ):
        # Screen pop: the caller's record (masked), justified by the call, logged.
        customer = await find_by_phone(db, actor, caller, justification_type="call", justification_id=call)
        if customer is not None:
            open_orders = await open_orders_for_customer(db, actor, customer.id, 5)
    # The calling number never goes back to the page in clear: masked for display, sealed for the form.
    from kefu.core.context import context_of
    from kefu.core.pii import mask_phone

    token = context_of(db).pii(tenant).seal(caller, row_id=call_id or "new-order", field="caller") if caller else ""
    return render(
        request,
        "workorders/new.html",
        status_code=status_code,
        tenant=tenant,
        customer=customer,
        open_orders=open_orders,
        call_id=call_id,
        caller_masked=mask_phone(caller) if caller else "",
        caller_token=token or "",
        error=error,
        form=form or {},
        **await _lookups(db, actor),
    )


def _open_caller(db: DB, tenant: Any, token: str, call_id: str) -> str | None:
    from kefu.core.context import context_of

    if not token:
        return None
    try:
        return context_of(db).pii(tenant).open(token, row_id=call_id or "new-order", field="caller")
    except Exception:  # tampered or from another call
        raise InvalidInput(
            i18n.gettext("The calling number could not be read; open the form from the call again.")
        ) from None


@router.post("/t/{tenant}/workorders/new", response_class=HTMLResponse)
async def new_order_submit(
    request: Request,
    db: DB,
    tenant: PageTenant,
    title: Annotated[str, Form(max_length=200)],
    category_id: Annotated[str, Form()],
    outcome: Annotated[str, Form(pattern="^(save|auto|department|resolve)$")] = "auto",
    description: Annotated[str, Form(max_length=5000)] = "",
    priority: Annotated[int, Form(ge=1, le=4)] = 2,
    channel: Annotated[str, Form(max_length=16)] = "phone",
    customer_id: Annotated[str, Form()] = "",
    caller: Annotated[str, Form(max_length=32)] = "",
    caller_token: Annotated[str, Form(max_length=400)] = "",
    call_id: Annotated[str, Form()] = "",
    department_id: Annotated[str, Form()] = "",
    threatens_escalation: Annotated[str, Form()] = "",
    resolution: Annotated[str, Form(max_length=20)] = "",
    reply: Annotated[str, Form(max_length=5000)] = "",
    actor: Actor = Signed(P.WORKORDERS_CREATE),
) -> Response:
    form = {
        "title": title,
        "category_id": category_id,
        "description": description,
        "priority": priority,
        "channel": channel,
        "outcome": outcome,
        "department_id": department_id,
        "resolution": resolution,
        "reply": reply,
        "threatens_escalation": bool(threatens_escalation),
    }
    try:
        caller = _open_caller(db, tenant, caller_token, call_id) or caller
        async with db.begin_nested():
            order = await actions.do_create_work_order(
                db,
                actor,
                title=title,
                category_id=form_uuid(category_id) or uuid.UUID(int=0),
                description=description,
                priority=priority,
                channel=channel,
                customer_id=form_uuid(customer_id),
                caller=caller or None,
                source_call_id=form_uuid(call_id),
                threatens_escalation=bool(threatens_escalation),
                dispatch="auto" if outcome == "auto" else None,
                department_id=form_uuid(department_id) if outcome == "department" else None,
                resolve_now={"resolution": resolution, "reply": reply} if outcome == "resolve" else None,
            )
    except KefuError as exc:
        if isinstance(exc, PermissionDenied):
            raise
        return await _new_form(
            request,
            db,
            tenant,
            actor,
            call_id=call_id,
            caller=caller,
            error=i18n.gettext(exc.detail),
            form=form,
            status_code=exc.status,
            lookup=False,
        )
    return RedirectResponse(f"/t/{tenant.slug}/workorders/{order.id}", status_code=303)


# --------------------------------------------------------------------------- KPI dashboard


@router.get("/t/{tenant}/workorders/kpis", response_class=HTMLResponse)
async def kpi_page(
    request: Request,
    db: DB,
    tenant: PageTenant,
    actor: Actor = Signed(P.KPI_READ),
    month: Annotated[str, Query(pattern=r"^(\d{4}-\d{2})?$")] = "",
    group_by: Annotated[str, Query(pattern="^(department|category|area)$")] = "department",
) -> Response:
    from zoneinfo import ZoneInfo

    from kefu.core.context import context_of
    from kefu.workorders.api import _period

    today = context_of(db).now().astimezone(ZoneInfo(tenant.timezone)).date()
    start = date.fromisoformat(f"{month}-01") if month else today.replace(day=1)
    start, end = _period(start, None, today)
    names = {d.id: d.name for d in await all_departments(db, actor)}
    report, daily = await kpis.compute_dashboard(
        db, actor, start=start, end=end, group_by=group_by, department_names=names, timezone=tenant.timezone
    )
    chart = {
        "days": [r.key for r in daily.rows],
        "complaints": [r.counts["complaints"] for r in daily.rows],
        "intercepted": [r.counts["intercepted"] for r in daily.rows],
        "archived": [r.counts["archived"] for r in daily.rows],
        "breaches": [r.counts["breaches"] for r in daily.rows],
        "groups": [r.label for r in report.rows],
        "group_complaints": [r.counts["complaints"] for r in report.rows],
        "labels": {
            "complaints": i18n.gettext("Complaints"),
            "intercepted": i18n.gettext("Intercepted"),
            "archived": i18n.gettext("Archived"),
            "breaches": i18n.gettext("SLA breaches"),
        },
    }
    return render(
        request,
        "workorders/kpis.html",
        tenant=tenant,
        report=report,
        month=start.strftime("%Y-%m"),
        group_by=group_by,
        chart_json=json.dumps(chart, ensure_ascii=False),
        can_export=actor.can(P.KPI_EXPORT),
        start=start,
        end=end,
    )


# --------------------------------------------------------------------------- detail and actions


async def _detail(
    request: Request,
    db: DB,
    tenant: Any,
    actor: Actor,
    order_id: uuid.UUID,
    *,
    error: str | None = None,
    status_code: int = 200,
    revealed: dict[str, Any] | None = None,
) -> Response:
    detail = await queries.work_order_detail(db, actor, order_id)
    customer = None
    order = detail.order
    if order.customer_id and actor.can(P.CUSTOMERS_READ):
        from kefu.customers import view_customer

        # Opening the order shows the customer's card: a view justified by this work order (logged).
        customer = await view_customer(
            db, actor, order.customer_id, justification_type="work_order", justification_id=order.id
        )
    lookups = await _lookups(db, actor)
    names = lookups["department_names"]
    return render(
        request,
        "workorders/detail.html",
        status_code=status_code,
        tenant=tenant,
        d=detail,
        o=order,
        customer=customer,
        error=error,
        revealed=revealed,
        names=names,
        **lookups,
    )


@router.get("/t/{tenant}/workorders/{order_id}", response_class=HTMLResponse)
async def order_page(
    request: Request, db: DB, tenant: PageTenant, order_id: uuid.UUID, actor: Actor = Signed(P.WORKORDERS_READ)
) -> Response:
    return await _detail(request, db, tenant, actor, order_id)


def _amount(value: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        raise InvalidInput(i18n.gettext("Enter the amount in yuan, e.g. 35.00.")) from None


@router.post("/t/{tenant}/workorders/{order_id}/act", response_class=HTMLResponse)
async def order_action(
    request: Request,
    db: DB,
    tenant: PageTenant,
    order_id: uuid.UUID,
    op: Annotated[str, Form(max_length=32)],
    reason: Annotated[str, Form(max_length=500)] = "",
    department_id: Annotated[str, Form()] = "",
    resolution: Annotated[str, Form(max_length=20)] = "",
    reply: Annotated[str, Form(max_length=5000)] = "",
    channel: Annotated[str, Form(max_length=8)] = "call",
    answer: Annotated[str, Form(max_length=20)] = "",
    text: Annotated[str, Form(max_length=500)] = "",
    amount: Annotated[str, Form(max_length=20)] = "",
    charge_type: Annotated[str, Form(max_length=40)] = "",
    refund_id: Annotated[str, Form()] = "",
    approve: Annotated[str, Form()] = "",
    fields: Annotated[list[str] | None, Form()] = None,
    actor: Actor = Signed(P.WORKORDERS_READ),
) -> Response:
    revealed = None
    try:
        async with db.begin_nested():
            if op == "take":
                await actions.do_take_work_order(db, actor, order_id)
            elif op == "pend":
                await actions.do_pend_work_order(db, actor, order_id, reason=reason)
            elif op == "resume":
                await actions.do_resume_work_order(db, actor, order_id)
            elif op == "return":
                await actions.do_return_work_order(db, actor, order_id, reason=reason)
            elif op == "dispatch":
                await actions.do_dispatch_work_order(
                    db, actor, order_id, department_id=form_uuid(department_id), reason=reason or None
                )
            elif op == "intercept":
                await actions.do_intercept_work_order(db, actor, order_id, resolution=resolution, reply=reply)
            elif op == "reply":
                await actions.do_reply_work_order(db, actor, order_id, resolution=resolution, reply=reply)
            elif op == "archive":
                await actions.do_archive_work_order(db, actor, order_id)
            elif op == "reopen":
                await actions.do_reopen_work_order(db, actor, order_id, reason=reason)
            elif op == "comment":
                await actions.do_comment_work_order(db, actor, order_id, text=text)
            elif op == "follow_up":
                await followup.do_start_follow_up(db, actor, order_id, channel=channel)
            elif op == "answer":
                await followup.do_record_follow_up(db, actor, order_id, answer=answer)
            elif op == "sub_order":
                await actions.do_create_sub_order(
                    db, actor, order_id, department_id=form_uuid(department_id) or uuid.UUID(int=0), description=text
                )
            elif op == "refund":
                await refunds.do_request_refund(
                    db, actor, order_id, amount=_amount(amount), charge_type=charge_type, description=text
                )
            elif op == "decide":
                await refunds.do_decide_refund(
                    db, actor, form_uuid(refund_id) or uuid.UUID(int=0), approve=approve == "yes", note=text
                )
            elif op == "reveal":
                from kefu.customers.actions import do_reveal_customer

                order = await actions.access_work_order_by_id(db, actor, order_id)
                if order.customer_id is None:
                    raise NotFound("This order has no customer record.")
                revealed = await do_reveal_customer(
                    db,
                    actor,
                    order.customer_id,
                    fields=fields or ["phones"],
                    reason=reason,
                    justification_type="work_order",
                    justification_id=order.id,
                )
            else:
                raise NotFound(f"Unknown operation {op!r}.")
    except KefuError as exc:
        if isinstance(exc, NotFound) and op != "reveal":
            raise
        return await _detail(
            request, db, tenant, actor, order_id, error=i18n.gettext(exc.detail), status_code=exc.status
        )
    if revealed is not None:
        return await _detail(request, db, tenant, actor, order_id, revealed=revealed)
    return RedirectResponse(f"/t/{tenant.slug}/workorders/{order_id}", status_code=303)


# --------------------------------------------------------------------------- settings


@router.get("/t/{tenant}/admin/workorders", response_class=HTMLResponse)
async def admin_page(
    request: Request, db: DB, tenant: PageTenant, actor: Actor = Signed(P.WORKORDERS_ADMIN)
) -> Response:
    return await _admin(request, db, tenant, actor)


async def _admin(
    request: Request,
    db: DB,
    tenant: Any,
    actor: Actor,
    *,
    error: str | None = None,
    status_code: int = 200,
    saved: str | None = None,
) -> Response:
    from kefu.customers.queries import list_areas

    assert actor.tenant_id is not None
    areas = await list_areas(db, actor)
    categories = await queries.list_categories(db, actor)
    return render(
        request,
        "workorders/admin.html",
        status_code=status_code,
        tenant=tenant,
        error=error,
        saved=saved,
        rules=await queries.list_dispatch_rules(db, actor),
        calendars=await queries.list_calendars(db, actor),
        policies=await queries.list_sla_policies(db, actor),
        areas=areas,
        authority=await queries.list_authority_policies(db, actor),
        config=await actions.get_config(db, actor.tenant_id),
        all_categories=categories,
        cat_paths={c.id: c.path for c in categories},
        area_paths={a.id: a.path for a in areas},
        **await _lookups(db, actor),
    )


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text) if text.strip() else None
    except json.JSONDecodeError as exc:
        raise InvalidInput(i18n.gettext("%(what)s is not valid JSON: %(error)s", what=what, error=exc.msg)) from None


@router.post("/t/{tenant}/admin/workorders", response_class=HTMLResponse)
async def admin_submit(
    request: Request,
    db: DB,
    tenant: PageTenant,
    op: Annotated[str, Form(max_length=32)],
    name: Annotated[str, Form(max_length=100)] = "",
    parent_id: Annotated[str, Form()] = "",
    category_id: Annotated[str, Form()] = "",
    area_id: Annotated[str, Form()] = "",
    department_id: Annotated[str, Form()] = "",
    calendar_id: Annotated[str, Form()] = "",
    position: Annotated[int, Form(ge=0, le=100000)] = 100,
    timezone: Annotated[str, Form(max_length=64)] = "Asia/Shanghai",
    week: Annotated[str, Form(max_length=5000)] = "",
    holidays: Annotated[str, Form(max_length=5000)] = "",
    conditions: Annotated[str, Form(max_length=5000)] = "",
    response_minutes: Annotated[int, Form(ge=1, le=525600)] = 60,
    resolution_minutes: Annotated[int, Form(ge=1, le=525600)] = 1440,
    is_default: Annotated[str, Form()] = "",
    outcome: Annotated[str, Form(max_length=16)] = "supervisor",
    fallback_department_id: Annotated[str, Form()] = "",
    verification_department_id: Annotated[str, Form()] = "",
    outer_limit_days: Annotated[int, Form(ge=1, le=365)] = 15,
    repeat_window_days: Annotated[int, Form(ge=1, le=730)] = 90,
    actor: Actor = Signed(P.WORKORDERS_ADMIN),
) -> Response:
    try:
        async with db.begin_nested():
            if op == "category":
                await actions.do_create_category(db, actor, name=name, parent_id=form_uuid(parent_id))
            elif op == "rule":
                await actions.do_save_dispatch_rule(
                    db,
                    actor,
                    department_id=form_uuid(department_id) or uuid.UUID(int=0),
                    category_id=form_uuid(category_id),
                    area_id=form_uuid(area_id),
                    position=position,
                    name=name,
                )
            elif op == "calendar":
                days = [d.strip() for d in holidays.replace("\n", ",").split(",") if d.strip()]
                await actions.do_save_calendar(
                    db, actor, name=name, timezone=timezone, week=_json(week, "week") or {}, holidays=days, workdays=[]
                )
            elif op == "sla":
                await actions.do_save_sla_policy(
                    db,
                    actor,
                    name=name,
                    position=position,
                    is_default=bool(is_default),
                    conditions=_json(conditions, "conditions") or {},
                    response_minutes=response_minutes,
                    resolution_minutes=resolution_minutes,
                    calendar_id=form_uuid(calendar_id),
                )
            elif op == "authority":
                await refunds.do_save_authority_policy(
                    db,
                    actor,
                    name=name,
                    position=position,
                    outcome=outcome,
                    conditions=_json(conditions, "conditions") or [],
                )
            elif op == "config":
                await actions.do_update_config(
                    db,
                    actor,
                    {
                        "fallback_department_id": form_uuid(fallback_department_id),
                        "verification_department_id": form_uuid(verification_department_id),
                        "outer_limit_days": outer_limit_days,
                        "repeat_window_days": repeat_window_days,
                    },
                )
            else:
                raise NotFound(f"Unknown operation {op!r}.")
    except KefuError as exc:
        if isinstance(exc, PermissionDenied):
            raise
        return await _admin(request, db, tenant, actor, error=i18n.gettext(exc.detail), status_code=exc.status)
    return await _admin(request, db, tenant, actor, saved=op)
