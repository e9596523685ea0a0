"""Pure rules of the work-orders domain (no I/O).

* the lifecycle: statuses, the one table of legal transitions, and the clock category of each status;
* selection of SLA policies, dispatch rules and refund authority policies (conditions as data);
* the projection of an order's history: deadlines with pauses replayed from history, hand-offs,
  handling time with and without night hours (what KPIs read);
* repeat-complaint keys and the parsing of satisfaction replies.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from kefu.core.i18n import N_
from kefu.workorders.calendar import Calendar, add_working_time, day_calendar, working_time_between

# --------------------------------------------------------------------------- lifecycle


class Status(StrEnum):
    ACCEPTED = "accepted"  # 受理
    DISPATCHED = "dispatched"  # 派单
    IN_PROGRESS = "in_progress"  # 处理中
    PENDING = "pending_customer"  # 挂起 (waiting for the customer: the clock pauses)
    REPLIED = "replied"  # 回单
    FOLLOW_UP = "follow_up"  # 回访
    ARCHIVED = "archived"  # 归档
    MERGED = "merged"  # 并单 (closed as a duplicate of another order)


S = Status
STATUS_LABELS: dict[str, str] = {
    S.ACCEPTED: N_("Accepted"),
    S.DISPATCHED: N_("Dispatched"),
    S.IN_PROGRESS: N_("In progress"),
    S.PENDING: N_("Pending customer"),
    S.REPLIED: N_("Replied"),
    S.FOLLOW_UP: N_("Follow-up"),
    S.ARCHIVED: N_("Archived"),
    S.MERGED: N_("Merged"),
}
OPEN_STATUSES = frozenset({S.ACCEPTED, S.DISPATCHED, S.IN_PROGRESS, S.PENDING})
#: Where a department works the order (its inbox).
INBOX_STATUSES = frozenset({S.DISPATCHED, S.IN_PROGRESS, S.PENDING})
CLOSED_STATUSES = frozenset({S.ARCHIVED, S.MERGED})

#: action → (statuses it may start from, status it leads to). The only place transitions are defined.
TRANSITIONS: dict[str, tuple[frozenset[Status], Status]] = {
    "intercept": (frozenset({S.ACCEPTED}), S.ARCHIVED),  # resolved at first contact (拦截)
    "dispatch": (frozenset({S.ACCEPTED}), S.DISPATCHED),
    "transfer": (frozenset({S.DISPATCHED, S.IN_PROGRESS}), S.DISPATCHED),  # to another department
    "take": (frozenset({S.DISPATCHED}), S.IN_PROGRESS),
    "pend": (frozenset({S.DISPATCHED, S.IN_PROGRESS}), S.PENDING),
    "resume": (frozenset({S.PENDING}), S.IN_PROGRESS),
    "return": (frozenset({S.DISPATCHED, S.IN_PROGRESS}), S.ACCEPTED),  # 退单, with a reason
    "reply": (frozenset({S.IN_PROGRESS}), S.REPLIED),
    "reply_via_master": (frozenset(OPEN_STATUSES), S.REPLIED),  # an incident's reply closes its members
    "start_follow_up": (frozenset({S.REPLIED}), S.FOLLOW_UP),
    "archive": (frozenset({S.REPLIED, S.FOLLOW_UP}), S.ARCHIVED),
    "reopen": (frozenset({S.REPLIED, S.FOLLOW_UP, S.ARCHIVED}), S.ACCEPTED),
    "merge": (frozenset(OPEN_STATUSES), S.MERGED),
}

#: Actions that change nothing in the lifecycle but are history too.
NOTE_ACTIONS = frozenset(
    {
        "created",
        "comment",
        "link",
        "flag",
        "priority_changed",
        "reassigned",
        "sla_policy",
        "sla_warning",
        "sla_breach",
        "escalated",
        "refund",
        "attachment",
        "follow_up_sent",
        "follow_up_answer",
        "sub_order",
    }
)
#: Actions that count as the first response to the customer's complaint.
RESPONSE_ACTIONS = frozenset({"take", "reply", "intercept", "reply_via_master"})
REASON_REQUIRED = frozenset({"return", "pend", "reopen", "transfer"})


class IllegalTransition(ValueError):
    pass


def next_status(action: str, current: str) -> Status:
    """The status ``action`` leads to from ``current``; :class:`IllegalTransition` with a clear message if illegal."""
    try:
        sources, target = TRANSITIONS[action]
    except KeyError:
        raise IllegalTransition(f"Unknown action {action!r}.") from None
    if current not in sources:
        allowed = ", ".join(sorted(s.value for s in sources))
        raise IllegalTransition(
            f"Cannot {action.replace('_', ' ')} an order that is {current.replace('_', ' ')}; "
            f"this is possible only from: {allowed}."
        )
    return target


def allowed_actions(current: str) -> list[str]:
    return [action for action, (sources, _t) in TRANSITIONS.items() if current in sources]


PRIORITIES = {1: "low", 2: "normal", 3: "high", 4: "urgent"}
LABELS: dict[str, str] = {
    # priorities, channels, resolutions, answers, charge types, history actions (translated in templates)
    "low": N_("Low"),
    "normal": N_("Normal"),
    "high": N_("High"),
    "urgent": N_("Urgent"),
    "phone": N_("Phone"),
    "sms": N_("SMS"),
    "web": N_("Web"),
    "app": N_("App"),
    "email": N_("E-mail"),
    "letter": N_("Letter"),
    "visit": N_("Visit"),
    "regulator": N_("Regulator"),
    "call": N_("Call"),
    "resolved": N_("Resolved"),
    "partly_resolved": N_("Partly resolved"),
    "unresolved": N_("Unresolved"),
    "very_satisfied": N_("Very satisfied"),
    "satisfied": N_("Satisfied"),
    "neutral": N_("Neutral"),
    "unsatisfied": N_("Unsatisfied"),
    "very_unsatisfied": N_("Very unsatisfied"),
    "no_answer": N_("No answer"),
    "value_added_service": N_("Value-added service"),
    "data": N_("Data"),
    "voice": N_("Voice"),
    "roaming": N_("Roaming"),
    "package": N_("Package"),
    "broadband": N_("Broadband"),
    "other": N_("Other"),
    "created": N_("Accepted"),
    "dispatch": N_("Dispatched"),
    "transfer": N_("Transferred"),
    "take": N_("Taken"),
    "pend": N_("Pending customer"),
    "resume": N_("Resumed"),
    "return": N_("Returned"),
    "reply": N_("Replied"),
    "reply_via_master": N_("Replied with the incident"),
    "start_follow_up": N_("Follow-up started"),
    "archive": N_("Archived"),
    "reopen": N_("Reopened"),
    "merge": N_("Merged"),
    "intercept": N_("Resolved at first contact"),
    "comment": N_("Comment"),
    "link": N_("Linked"),
    "flag": N_("Changed"),
    "priority_changed": N_("Priority changed"),
    "sla_policy": N_("SLA policy"),
    "sla_warning": N_("SLA warning"),
    "sla_breach": N_("SLA breach"),
    "escalated": N_("Escalated"),
    "refund": N_("Refund"),
    "attachment": N_("Attachment"),
    "follow_up_sent": N_("Follow-up sent"),
    "follow_up_answer": N_("Follow-up answer"),
    "sub_order": N_("Sub-order"),
    "approved": N_("Approved"),
    "pending_approval": N_("Waiting for a supervisor"),
    "refused": N_("Refused"),
    "approved_by_supervisor": N_("Approved by a supervisor"),
    "rejected_by_supervisor": N_("Rejected by a supervisor"),
    "complaint": N_("Complaint"),
    "sub_order_kind": N_("Sub-order"),
    "verification": N_("Verification"),
}
CHANNELS = ("phone", "sms", "web", "app", "email", "letter", "visit", "regulator")
RESOLUTIONS = ("resolved", "partly_resolved", "unresolved")
ANSWERS = ("very_satisfied", "satisfied", "neutral", "unsatisfied", "very_unsatisfied", "no_answer")
SATISFIED = frozenset({"very_satisfied", "satisfied"})
UNSATISFIED = frozenset({"unsatisfied", "very_unsatisfied"})
LINK_KINDS = ("related", "duplicate", "incident")


def format_number(prefix: str, day: str, sequence: int) -> str:
    """``TS-20261128-000123``."""
    return f"{prefix}-{day}-{sequence:06d}"


def problem_class(category_path: str) -> str:
    """The first two levels of the category path: what "the same problem" means for repeat complaints."""
    return "/".join(category_path.split("/")[:2])


def ancestors_of(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]


# --------------------------------------------------------------------------- satisfaction replies

_REPLY_WORDS = [
    ("非常不满意", "very_unsatisfied"),
    ("很不满意", "very_unsatisfied"),
    ("不满意", "unsatisfied"),
    ("非常满意", "very_satisfied"),
    ("很满意", "very_satisfied"),
    ("满意", "satisfied"),
    ("一般", "neutral"),
    ("very unsatisfied", "very_unsatisfied"),
    ("unsatisfied", "unsatisfied"),
    ("dissatisfied", "unsatisfied"),
    ("very satisfied", "very_satisfied"),
    ("satisfied", "satisfied"),
    ("neutral", "neutral"),
]
_REPLY_DIGITS = {"1": "very_satisfied", "2": "satisfied", "3": "neutral", "4": "unsatisfied", "5": "very_unsatisfied"}
FOLLOW_UP_SMS = (
    "【{company}】您反映的问题（工单{number}）已处理完毕。请回复数字评价：1非常满意 2满意 3一般 4不满意 5非常不满意。"
)


def parse_satisfaction(text: str) -> str | None:
    """The answer in a customer's SMS reply ("1" … "5", 满意/不满意 …), or None if it says none."""
    cleaned = (text or "").strip().lower()
    if not cleaned:
        return None
    for ch in cleaned:
        if ch.isdigit():
            if ch in _REPLY_DIGITS and not any(c.isdigit() for c in cleaned[cleaned.index(ch) + 1 :]):
                return _REPLY_DIGITS[ch]
            break
    for word, answer in _REPLY_WORDS:
        if word in cleaned:
            return answer
    return None


# --------------------------------------------------------------------------- SLA policy selection

SLA_CONDITION_KEYS = {"category_ids", "priorities", "vip", "channels", "kinds"}


def sla_condition_problems(conditions: dict[str, Any]) -> list[str]:
    problems = []
    for key, value in (conditions or {}).items():
        if key not in SLA_CONDITION_KEYS:
            problems.append(f"Unknown SLA condition {key!r}; use {', '.join(sorted(SLA_CONDITION_KEYS))}.")
        elif key == "vip" and not isinstance(value, bool):
            problems.append("'vip' must be true or false.")
        elif key != "vip" and (not isinstance(value, list) or not value):
            problems.append(f"{key!r} must be a non-empty list.")
        elif key == "priorities" and any(not isinstance(p, int) or p not in PRIORITIES for p in value):
            problems.append("priorities are 1 (low) … 4 (urgent).")
        elif key == "channels" and any(c not in CHANNELS for c in value):
            problems.append(f"channels are {', '.join(CHANNELS)}.")
    return problems


@dataclass(frozen=True)
class OrderFacts:
    category_ids: frozenset[uuid.UUID]  # the category and its ancestors
    priority: int
    vip: bool
    channel: str
    kind: str = "complaint"
    area_ids: frozenset[uuid.UUID] = frozenset()


def sla_matches(conditions: dict[str, Any], facts: OrderFacts) -> bool:
    c = conditions or {}
    if "category_ids" in c and not {uuid.UUID(str(x)) for x in c["category_ids"]} & facts.category_ids:
        return False
    if "priorities" in c and facts.priority not in c["priorities"]:
        return False
    if "vip" in c and bool(c["vip"]) != facts.vip:
        return False
    if "channels" in c and facts.channel not in c["channels"]:
        return False
    return not ("kinds" in c and facts.kind not in c["kinds"])


def select_sla_policy(policies: Sequence[Any], facts: OrderFacts) -> Any | None:
    """First active non-default policy (by position) whose conditions all match, else the default."""
    ordered = sorted((p for p in policies if p.is_active), key=lambda p: (p.position, p.name))
    for policy in ordered:
        if not policy.is_default and sla_matches(policy.conditions, facts):
            return policy
    return next((p for p in ordered if p.is_default), None)


def match_dispatch_rule(rules: Sequence[Any], facts: OrderFacts) -> Any | None:
    """First active rule (by position) whose category and area contain the order's (empty matches any)."""
    for rule in sorted((r for r in rules if r.is_active), key=lambda r: (r.position, str(r.id))):
        if rule.category_id is not None and rule.category_id not in facts.category_ids:
            continue
        if rule.area_id is not None and rule.area_id not in facts.area_ids:
            continue
        return rule
    return None


# --------------------------------------------------------------------------- refund authority

#: Fields authority conditions may reference, with their types.
AUTHORITY_FIELDS: dict[str, str] = {
    "customer.credit_rating": "rating",  # AAA > AA > A > B > C > D; < and > compare ranks
    "customer.star_level": "number",
    "customer.tenure_months": "number",
    "customer.vip": "bool",
    "charge.type": "string",
    "charge.amount": "number",  # yuan
    "charge.age_days": "number",
    "history.refunds_12m": "number",  # refunds to this customer in the last 12 months (count)
    "history.refunds_12m_amount": "number",  # … and their total in yuan
    "agent.budget_day_remaining": "number",  # yuan
    "agent.budget_month_remaining": "number",
}
AUTHORITY_OPS = ("==", "!=", "<", "<=", ">", ">=", "in", "not_in")
OUTCOMES = ("approve", "supervisor", "refuse")
CHARGE_TYPES = ("value_added_service", "data", "voice", "sms", "roaming", "package", "broadband", "other")
_RATING_RANK = {"AAA": 5, "AA": 4, "A": 3, "B": 2, "C": 1, "D": 0}


def authority_condition_problems(conditions: Any) -> list[str]:
    if not isinstance(conditions, list):
        return ["conditions must be a list of {field, op, value}."]
    problems = []
    for i, cond in enumerate(conditions, 1):
        if not isinstance(cond, dict) or set(cond) != {"field", "op", "value"}:
            problems.append(f"condition {i}: give exactly 'field', 'op' and 'value'.")
            continue
        field_name, op, value = cond["field"], cond["op"], cond["value"]
        kind = AUTHORITY_FIELDS.get(field_name)
        if kind is None:
            problems.append(f"condition {i}: unknown field {field_name!r}; fields are {', '.join(AUTHORITY_FIELDS)}.")
            continue
        if op not in AUTHORITY_OPS:
            problems.append(f"condition {i}: unknown operator {op!r}; use {', '.join(AUTHORITY_OPS)}.")
            continue
        values = value if op in ("in", "not_in") else [value]
        if op in ("in", "not_in") and (not isinstance(value, list) or not value):
            problems.append(f"condition {i}: '{op}' needs a non-empty list.")
            continue
        for v in values:
            if kind == "number" and (isinstance(v, bool) or not isinstance(v, int | float)):
                problems.append(f"condition {i}: {field_name} compares with numbers, not {v!r}.")
            elif kind == "bool" and (not isinstance(v, bool) or op not in ("==", "!=")):
                problems.append(f"condition {i}: {field_name} is true/false and takes == or !=.")
            elif kind == "rating" and (not isinstance(v, str) or v not in _RATING_RANK):
                problems.append(f"condition {i}: credit ratings are {', '.join(_RATING_RANK)}.")
            elif kind == "string" and not isinstance(v, str):
                problems.append(f"condition {i}: {field_name} compares with text.")
            elif field_name == "charge.type" and (not isinstance(v, str) or v not in CHARGE_TYPES):
                problems.append(f"condition {i}: charge types are {', '.join(CHARGE_TYPES)}.")
    return problems


def _compare(kind: str, actual: Any, op: str, expected: Any) -> bool:
    if actual is None:
        return False
    if kind == "rating":
        actual = _RATING_RANK.get(actual, -1)
        expected = [_RATING_RANK[v] for v in expected] if isinstance(expected, list) else _RATING_RANK[expected]
    if op == "in":
        return actual in expected
    if op == "not_in":
        return actual not in expected
    if op == "==":
        return bool(actual == expected)
    if op == "!=":
        return bool(actual != expected)
    a, e = Decimal(str(actual)), Decimal(str(expected))
    return {"<": a < e, "<=": a <= e, ">": a > e, ">=": a >= e}[op]


@dataclass
class AuthorityDecision:
    outcome: str  # approve | supervisor | refuse
    rule_id: uuid.UUID | None
    rule_name: str
    why: list[str] = field(default_factory=list)  # the deciding rule's conditions as they held
    facts: dict[str, Any] = field(default_factory=dict)
    considered: list[dict[str, Any]] = field(default_factory=list)  # earlier rules and the condition that failed

    def explanation(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "rule": self.rule_name,
            "why": self.why,
            "facts": self.facts,
            "considered": self.considered,
        }


def _describe(cond: dict[str, Any], actual: Any) -> str:
    return f"{cond['field']} = {actual!r} {cond['op']} {cond['value']!r}"


def evaluate_authority(policies: Sequence[Any], facts: dict[str, Any], default: str) -> AuthorityDecision:
    """The first active policy (by position) whose conditions all hold decides; otherwise ``default``."""
    considered = []
    for policy in sorted((p for p in policies if p.is_active), key=lambda p: (p.position, p.name)):
        failed = None
        for cond in policy.conditions:
            actual = facts.get(cond["field"])
            if not _compare(AUTHORITY_FIELDS[cond["field"]], actual, cond["op"], cond["value"]):
                failed = _describe(cond, actual)
                break
        if failed is None:
            why = [_describe(c, facts.get(c["field"])) for c in policy.conditions]
            return AuthorityDecision(policy.outcome, policy.id, policy.name, why, facts, considered)
        considered.append({"rule": policy.name, "failed": failed})
    return AuthorityDecision(default, None, "default", ["no authority policy matched"], facts, considered)


def yuan(cents: int | None) -> float | None:
    return None if cents is None else round(cents / 100, 2)


def cents(amount: Any) -> int:
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        raise ValueError(f"{amount!r} is not an amount") from None
    if value <= 0 or value != value.quantize(Decimal("0.01")):
        raise ValueError("An amount is positive with at most two decimals (yuan.fen).")
    return int(value * 100)


# --------------------------------------------------------------------------- projection of the history


@dataclass(frozen=True)
class HistoryItem:
    action: str
    occurred_at: datetime
    from_status: str | None = None
    to_status: str | None = None
    from_department_id: uuid.UUID | None = None
    to_department_id: uuid.UUID | None = None


@dataclass(frozen=True)
class SlaTargets:
    response: timedelta | None
    resolution: timedelta | None
    calendar: Calendar | None
    warn_ratio: float = 0.8


@dataclass
class Projection:
    status: str
    accepted_at: datetime
    responded_at: datetime | None = None
    replied_at: datetime | None = None
    archived_at: datetime | None = None
    response_due_at: datetime | None = None
    resolution_due_at: datetime | None = None
    outer_due_at: datetime | None = None
    next_deadline_at: datetime | None = None
    handling_seconds: int | None = None
    handling_day_seconds: int | None = None
    paused_seconds: int = 0
    handoffs: int = 0
    on_time: bool | None = None
    #: (kind, target, due_at) checkpoints not yet recorded, earliest first
    pending_checks: list[tuple[str, str, datetime]] = field(default_factory=list)

    @property
    def due_at(self) -> datetime | None:
        """The order's deadline (整体时限): the resolution target, or the outer limit without a policy."""
        return self.resolution_due_at or self.outer_due_at


def _intervals(history: Sequence[HistoryItem], statuses: frozenset[str]) -> list[tuple[datetime, datetime | None]]:
    """Intervals the order spent in ``statuses``, replayed from its transitions."""
    out: list[tuple[datetime, datetime | None]] = []
    start: datetime | None = None
    for item in history:
        if item.to_status is None:
            continue
        inside = item.to_status in statuses
        if inside and start is None:
            start = item.occurred_at
        elif not inside and start is not None:
            out.append((start, item.occurred_at))
            start = None
    if start is not None:
        out.append((start, None))
    return out


def project(
    history: Sequence[HistoryItem],
    targets: SlaTargets | None,
    *,
    outer_limit: timedelta,
    timezone: str,
    day_hours: tuple[int, int] = (8, 22),
    flags: Iterable[str] = (),
) -> Projection:
    """Everything derived from an order's history: status, deadlines, pauses, hand-offs, handling time.

    Pauses are replayed from the history (time pending the customer); time after archiving until a
    reopen also stops the resolution clock. Recomputing after a policy or calendar change therefore
    gives the right deadlines for the whole past.
    """
    if not history:
        raise ValueError("an order's history starts with its creation")
    history = sorted(history, key=lambda h: h.occurred_at)
    accepted_at = history[0].occurred_at
    status = history[0].to_status or S.ACCEPTED
    responded_at = replied_at = archived_at = None
    handoffs = 0
    last_department: uuid.UUID | None = None
    for item in history:
        if item.to_status is not None:
            status = item.to_status
        if item.action in RESPONSE_ACTIONS and responded_at is None:
            responded_at = item.occurred_at
        if item.to_status in (S.REPLIED,) or item.action == "intercept":
            replied_at = item.occurred_at
        if item.to_status == S.ARCHIVED:
            archived_at = item.occurred_at
        if item.action == "reopen":
            replied_at = archived_at = None
        if item.to_department_id is not None:
            if last_department is not None and item.to_department_id != last_department:
                handoffs += 1
            last_department = item.to_department_id
    pending = _intervals(history, frozenset({S.PENDING}))
    closed = _intervals(history, frozenset({S.ARCHIVED}))
    resolution_breaks = pending + [c for c in closed if c[1] is not None]
    paused = sum(((b - a).total_seconds() for a, b in pending if b is not None), 0.0)
    p = Projection(
        status=status,
        accepted_at=accepted_at,
        responded_at=responded_at,
        replied_at=replied_at,
        archived_at=archived_at if status == S.ARCHIVED else None,
        paused_seconds=int(paused),
        handoffs=handoffs,
        outer_due_at=accepted_at + outer_limit,
    )
    if targets is not None:
        cal = targets.calendar
        if targets.response is not None:
            p.response_due_at = add_working_time(accepted_at, targets.response, cal, pending)
        if targets.resolution is not None:
            p.resolution_due_at = add_working_time(accepted_at, targets.resolution, cal, resolution_breaks)
    if p.archived_at is not None:
        pauses = [(a, b) for a, b in pending if b is not None]
        p.handling_seconds = int(working_time_between(accepted_at, p.archived_at, None, pauses).total_seconds())
        p.handling_day_seconds = int(
            working_time_between(accepted_at, p.archived_at, day_calendar(timezone, *day_hours), pauses).total_seconds()
        )
        due = p.due_at
        p.on_time = due is None or p.archived_at <= due
    # what the SLA scheduler still has to look at
    done = set(flags)
    checks: list[tuple[str, str, datetime]] = []
    ratio = targets.warn_ratio if targets else 0.8

    def add(
        target: str,
        due: datetime | None,
        duration: timedelta | None,
        cal: Calendar | None,
        breaks: list[tuple[datetime, datetime | None]],
    ) -> None:
        if due is None:
            return
        if f"{target}:warning" not in done and duration is not None and 0 < ratio < 1:
            warn = add_working_time(accepted_at, duration * ratio, cal, breaks)
            if warn is not None:
                checks.append(("warning", target, warn))
        if f"{target}:breach" not in done:
            checks.append(("breach", target, due))

    closed_now = status in CLOSED_STATUSES
    if targets is not None and responded_at is None and not closed_now:
        add("response", p.response_due_at, targets.response, targets.calendar, pending)
    if targets is not None and not closed_now:
        add("resolution", p.resolution_due_at, targets.resolution, targets.calendar, resolution_breaks)
    if replied_at is None and not closed_now:
        add("outer", p.outer_due_at, outer_limit, None, [])
    checks.sort(key=lambda c: c[2])
    p.pending_checks = checks
    p.next_deadline_at = checks[0][2] if checks else None
    return p
