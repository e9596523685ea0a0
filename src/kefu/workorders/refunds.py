"""Refund first, verify later (先退费、后查证): authority decisions, budgets and the billing port.

An agent asks for a refund on a complaint. The tenant's authority policies (data, see
``rules.AUTHORITY_FIELDS``) are evaluated against facts about the customer, the charge, the
customer's refund history and the agent's remaining budget. The first matching policy decides:

* ``approve`` — the agent's (and team's) budget rows are locked (``SELECT … FOR UPDATE``; the SQLite
  write lock) and charged; over budget is a 409 and nothing is written. The credit is issued through
  the billing port and a verification sub-order goes to the billing department.
* ``supervisor`` — the decision waits for a supervisor (never the same person) to approve or reject.
* ``refuse`` — recorded with the reason.

Every decision stores the rule that decided, the facts and why, and is written to the audit log.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kefu import audit
from kefu.billing import billing_of
from kefu.core.actor import Actor
from kefu.core.context import context_of
from kefu.core.errors import Conflict, InvalidInput, PermissionDenied
from kefu.core.ids import new_id
from kefu.customers.models import Customer
from kefu.customers.rules import tenure_months
from kefu.tenancy.rules import Permission
from kefu.workorders.access import access_refund_by_id, access_work_order_by_id
from kefu.workorders.actions import (
    _insert,
    _note,
    _tenant,
    do_create_sub_order,
    get_config,
    order_facts,
    require,
    resolve_department,
)
from kefu.workorders.models import AuthorityPolicy, RefundBudget, RefundDecision, WorkOrder, WorkOrderConfig
from kefu.workorders.rules import CHARGE_TYPES, AuthorityDecision, cents, evaluate_authority, yuan

GRANTED = ("approved", "approved_by_supervisor")


def _invalid(detail: str, field: str) -> InvalidInput:
    return InvalidInput(detail, errors=[{"field": field, "message": detail}])


def _periods(now: datetime, tz: str) -> dict[str, str]:
    local = now.astimezone(ZoneInfo(tz))
    return {"day": local.strftime("%Y-%m-%d"), "month": local.strftime("%Y-%m")}


def _limits(config: WorkOrderConfig, actor: Actor) -> list[tuple[str, uuid.UUID, str, int]]:
    """(scope, scope id, period, limit) for every budget that applies to this agent."""
    out = []
    if actor.id is not None:
        if config.agent_daily_budget_cents is not None:
            out.append(("agent", actor.id, "day", config.agent_daily_budget_cents))
        if config.agent_monthly_budget_cents is not None:
            out.append(("agent", actor.id, "month", config.agent_monthly_budget_cents))
    if actor.department_id is not None:
        if config.team_daily_budget_cents is not None:
            out.append(("team", actor.department_id, "day", config.team_daily_budget_cents))
        if config.team_monthly_budget_cents is not None:
            out.append(("team", actor.department_id, "month", config.team_monthly_budget_cents))
    return out


async def _spent(
    session: AsyncSession, tenant_id: uuid.UUID, scope: str, scope_id: uuid.UUID, period: str, start: str, *, lock: bool
) -> RefundBudget | int:
    if lock:
        await session.execute(
            _insert(session)(RefundBudget)
            .values(
                id=new_id(),
                tenant_id=tenant_id,
                scope=scope,
                scope_id=scope_id,
                period=period,
                period_start=start,
                spent_cents=0,
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "scope", "scope_id", "period", "period_start"])
        )
    stmt = sa.select(RefundBudget).where(
        RefundBudget.tenant_id == tenant_id,
        RefundBudget.scope == scope,
        RefundBudget.scope_id == scope_id,
        RefundBudget.period == period,
        RefundBudget.period_start == start,
    )
    if lock:
        return (await session.execute(stmt.with_for_update().execution_options(populate_existing=True))).scalar_one()
    row = (await session.execute(stmt)).scalar_one_or_none()
    return row.spent_cents if row else 0


async def remaining_budgets(
    session: AsyncSession, actor: Actor, config: WorkOrderConfig, now: datetime, tz: str
) -> dict[str, int | None]:
    periods = _periods(now, tz)
    remaining: dict[str, int | None] = {"day": None, "month": None}
    assert actor.tenant_id is not None
    for scope, scope_id, period, limit in _limits(config, actor):
        spent = await _spent(session, actor.tenant_id, scope, scope_id, period, periods[period], lock=False)
        assert isinstance(spent, int)
        left = max(0, limit - spent)
        current = remaining[period]
        remaining[period] = left if current is None else min(current, left)
    return remaining


async def _history(
    session: AsyncSession, tenant_id: uuid.UUID, customer_id: uuid.UUID, now: datetime
) -> tuple[int, int]:
    count, total = (
        await session.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(RefundDecision.amount_cents), 0)).where(
                RefundDecision.tenant_id == tenant_id,
                RefundDecision.customer_id == customer_id,
                RefundDecision.outcome.in_(GRANTED),
                RefundDecision.decided_at >= now - timedelta(days=365),
            )
        )
    ).one()
    return int(count), int(total)


async def _verification(
    session: AsyncSession, actor: Actor, order: WorkOrder, decision: RefundDecision, config: WorkOrderConfig
) -> uuid.UUID | None:
    department = config.verification_department_id or await resolve_department(
        session, order.tenant_id, await order_facts(session, order)
    )
    if department is None:
        return None
    sub = await do_create_sub_order(
        session,
        _with(actor, Permission.WORKORDERS_DISPATCH),
        order.id,
        department_id=department,
        kind="verification",
        description=(
            f"先退费后查证：已向客户退费 {yuan(decision.amount_cents):.2f} 元（{decision.charge_type}），"
            f"请核查扣费是否有误。{decision.description}"
        )[:2000],
    )
    return sub.id


def _with(actor: Actor, *permissions: Permission) -> Actor:
    return Actor(
        actor.kind,
        actor.tenant_id,
        actor.id,
        actor.name,
        actor.permissions | {p.value for p in permissions},
        roles=actor.roles,
        ip=actor.ip,
        user_agent=actor.user_agent,
        session_id=actor.session_id,
        department_id=actor.department_id,
    )


async def _grant(
    session: AsyncSession, actor: Actor, order: WorkOrder, decision: RefundDecision, config: WorkOrderConfig
) -> None:
    credit = await billing_of(context_of(session)).issue_credit(
        session,
        tenant_id=order.tenant_id,
        customer_id=order.customer_id,
        amount_cents=decision.amount_cents,
        reason=f"先退费后查证 {order.number}: {decision.charge_type}",
        reference_type="refund_decision",
        reference_id=decision.id,
        idempotency_key=f"refund:{decision.id}",
    )
    decision.credit_note_id = credit.id
    decision.verification_order_id = await _verification(session, actor, order, decision, config)


async def do_request_refund(
    session: AsyncSession,
    actor: Actor,
    order_id: uuid.UUID,
    *,
    amount: Any,
    charge_type: str,
    charged_at: datetime | None = None,
    description: str = "",
) -> RefundDecision:
    require(actor, Permission.REFUNDS_ISSUE)
    order = await access_work_order_by_id(session, actor, order_id, for_update=True)
    try:
        amount_cents = cents(amount)
    except ValueError as exc:
        raise _invalid(str(exc), "amount") from None
    if charge_type not in CHARGE_TYPES:
        raise _invalid(f"Charge types are {', '.join(CHARGE_TYPES)}.", "charge_type")
    if order.kind != "complaint" or order.status == "merged":
        raise Conflict("Refunds are decided on an open or archived complaint, not on sub-orders or merged orders.")
    if order.customer_id is None:
        raise _invalid("This complaint has no customer record; link the customer before refunding.", "customer")
    ctx = context_of(session)
    now = ctx.now()
    if charged_at is not None and charged_at > now:
        raise _invalid("The charge date is in the future.", "charged_at")
    tenant = await _tenant(session, order.tenant_id)
    config = await get_config(session, order.tenant_id)
    customer = await session.get(Customer, order.customer_id)
    assert customer is not None
    count, total = await _history(session, order.tenant_id, customer.id, now)
    budgets = await remaining_budgets(session, actor, config, now, tenant.timezone)
    facts = {
        "customer.credit_rating": customer.credit_rating,
        "customer.star_level": customer.star_level,
        "customer.tenure_months": tenure_months(customer.customer_since, now),
        "customer.vip": customer.vip,
        "charge.type": charge_type,
        "charge.amount": yuan(amount_cents),
        "charge.age_days": (now - charged_at).days if charged_at else None,
        "history.refunds_12m": count,
        "history.refunds_12m_amount": yuan(total),
        "agent.budget_day_remaining": yuan(budgets["day"]),
        "agent.budget_month_remaining": yuan(budgets["month"]),
    }
    policies = (
        (
            await session.execute(
                sa.select(AuthorityPolicy).where(
                    AuthorityPolicy.tenant_id == order.tenant_id, AuthorityPolicy.is_active.is_(True)
                )
            )
        )
        .scalars()
        .all()
    )
    verdict: AuthorityDecision = evaluate_authority(policies, facts, config.authority_default)
    outcome = {"approve": "approved", "supervisor": "pending_approval", "refuse": "refused"}[verdict.outcome]
    if outcome == "approved":
        periods = _periods(now, tenant.timezone)
        for scope, scope_id, period, limit in _limits(config, actor):
            row = await _spent(session, order.tenant_id, scope, scope_id, period, periods[period], lock=True)
            assert isinstance(row, RefundBudget)
            if row.spent_cents + amount_cents > limit:
                left = max(0, limit - row.spent_cents)
                raise Conflict(
                    f"This refund of {yuan(amount_cents):.2f} yuan is over the {'team' if scope == 'team' else 'your'} "
                    f"{'daily' if period == 'day' else 'monthly'} refund budget ({yuan(left):.2f} yuan left); "
                    "ask a supervisor.",
                    code="over-budget",
                    remaining=yuan(left),
                )
            row.spent_cents += amount_cents
    decision = RefundDecision(
        id=new_id(),
        tenant_id=order.tenant_id,
        order_id=order.id,
        customer_id=customer.id,
        agent_id=actor.id,
        agent_name=actor.name[:100],
        amount_cents=amount_cents,
        charge_type=charge_type,
        charged_at=charged_at,
        description=description[:500],
        outcome=outcome,
        rule_id=verdict.rule_id,
        rule_name=verdict.rule_name[:100],
        explanation=verdict.explanation(),
        decided_at=now,
    )
    session.add(decision)
    await session.flush()
    if outcome == "approved":
        await _grant(session, actor, order, decision, config)
    await _note(
        session,
        actor,
        order,
        "refund",
        details={
            "refund_id": str(decision.id),
            "amount": yuan(amount_cents),
            "outcome": outcome,
            "rule": verdict.rule_name,
        },
    )
    await audit.record(
        session,
        actor,
        f"refund.{outcome}",
        target_type="refund_decision",
        target_id=decision.id,
        details={"order": order.number, "amount_cents": amount_cents, "rule": verdict.rule_name, "why": verdict.why},
    )
    await session.flush()
    return decision


async def do_decide_refund(
    session: AsyncSession, actor: Actor, refund_id: uuid.UUID, *, approve: bool, note: str = ""
) -> RefundDecision:
    """A supervisor approves or rejects a refund the policies sent up; never their own request."""
    require(actor, Permission.REFUNDS_APPROVE)
    decision = await access_refund_by_id(session, actor, refund_id, for_update=True)
    if decision.outcome != "pending_approval":
        raise Conflict(f"This refund was already decided ({decision.outcome}).", code="already-decided")
    if decision.agent_id is not None and decision.agent_id == actor.id:
        raise PermissionDenied("You asked for this refund; another supervisor must decide it (four eyes).")
    order = await access_work_order_by_id(session, actor, decision.order_id, for_update=True)
    ctx = context_of(session)
    decision.outcome = "approved_by_supervisor" if approve else "rejected_by_supervisor"
    decision.approver_id = actor.id
    decision.approved_at = ctx.now()
    decision.explanation = {**decision.explanation, "supervisor": actor.name, "note": note[:300]}
    if approve:
        await _grant(session, actor, order, decision, await get_config(session, order.tenant_id))
    await _note(session, actor, order, "refund", details={"refund_id": str(decision.id), "outcome": decision.outcome})
    await audit.record(
        session,
        actor,
        f"refund.{decision.outcome}",
        target_type="refund_decision",
        target_id=decision.id,
        details={"order": order.number, "note": note[:300]},
    )
    await session.flush()
    return decision


async def reverse_refund_for_verification(session: AsyncSession, actor: Actor, verification: WorkOrder) -> None:
    """The billing department found the charge valid: reverse the credit (recovery path), audited."""
    decision = (
        await session.execute(
            sa.select(RefundDecision).where(
                RefundDecision.tenant_id == verification.tenant_id,
                RefundDecision.verification_order_id == verification.id,
            )
        )
    ).scalar_one_or_none()
    if decision is None or decision.credit_note_id is None:
        return
    reversal = await billing_of(context_of(session)).reverse_credit(
        session,
        tenant_id=verification.tenant_id,
        credit_id=decision.credit_note_id,
        reason=f"查证扣费无误，冲正 {verification.number}",
        idempotency_key=f"reverse:{decision.id}",
    )
    await audit.record(
        session,
        actor,
        "refund.reversed",
        target_type="refund_decision",
        target_id=decision.id,
        details={"credit_note": reversal.number, "verification": verification.number},
    )


async def do_save_authority_policy(
    session: AsyncSession,
    actor: Actor,
    *,
    policy_id: uuid.UUID | None = None,
    name: str,
    conditions: list[Any],
    outcome: str,
    position: int = 100,
    is_active: bool = True,
    note: str = "",
) -> AuthorityPolicy:
    require(actor, Permission.WORKORDERS_ADMIN)
    from kefu.workorders.rules import OUTCOMES, authority_condition_problems

    problems = authority_condition_problems(conditions)
    if problems:
        raise _invalid(" ".join(problems), "conditions")
    if outcome not in OUTCOMES:
        raise _invalid(f"The outcome is one of {', '.join(OUTCOMES)}.", "outcome")
    if policy_id is not None:
        from kefu.workorders.access import access_authority_policy_by_id

        row = await access_authority_policy_by_id(session, actor, policy_id)
    else:
        if (
            await session.execute(
                sa.select(AuthorityPolicy.id).where(
                    AuthorityPolicy.tenant_id == actor.tenant_id, AuthorityPolicy.name == name
                )
            )
        ).first():
            raise Conflict(f"An authority policy named {name!r} exists already.")
        row = AuthorityPolicy(id=new_id(), tenant_id=actor.tenant_id)
        session.add(row)
    row.name, row.conditions, row.outcome = name, conditions, outcome
    row.position, row.is_active, row.note = position, is_active, note
    await session.flush()
    await audit.record(
        session,
        actor,
        "authority_policy.saved",
        target_type="authority_policy",
        target_id=row.id,
        details={"name": name, "conditions": conditions, "outcome": outcome},
    )
    return row
