"""IVR flow validation: what is rejected at save time, and business hours."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kefu.ivr.rules import BusinessHours, FlowProblem, validate_flow

HOURS = {
    "timezone": "Asia/Shanghai",
    "weekly": {d: [["08:00", "12:00"], ["13:00", "20:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": ["2026-10-01"],
    "working_days": ["2026-10-10"],
}


def good_flow() -> dict:
    return {
        "start": "welcome",
        "nodes": {
            "welcome": {"type": "play", "prompt": {"text": "您好，欢迎致电"}, "next": "hours"},
            "hours": {"type": "hours", "hours": HOURS, "open": "menu", "closed": "voicemail"},
            "menu": {
                "type": "menu",
                "prompt": {"text": "查询话费请按1，人工服务请按0"},
                "options": {"1": "balance", "0": "agents"},
                "no_input": "agents",
            },
            "balance": {"type": "self_service", "action": "sms_balance", "prompt": {"text": "已发送"}, "next": "menu"},
            "agents": {
                "type": "queue",
                "queue": "general",
                "priority": 1,
                "callback_offer_after": 120,
                "callback_prompt": {"text": "按1预约回拨"},
            },
            "voicemail": {"type": "voicemail", "prompt": {"file": "closed.wav"}},
        },
    }


def test_a_good_flow_passes():
    flow = validate_flow(good_flow(), ["general"])
    assert flow.nodes["agents"].queue == "general"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f["nodes"]["menu"]["options"].update({"2": "nowhere"}), "'nowhere', which does not exist"),
        (lambda f: f["nodes"].update({"orphan": {"type": "hangup"}}), "'orphan' cannot be reached"),
        (lambda f: f["nodes"]["agents"].update({"queue": "billing"}), "queue 'billing' does not exist"),
        (lambda f: f.update({"start": "missing"}), "start node 'missing' does not exist"),
        (lambda f: f["nodes"]["menu"]["options"].update({"12": "agents"}), "must be one key"),
        (lambda f: f["nodes"]["welcome"].update({"prompt": {}}), "needs a 'file' or a 'text'"),
        (lambda f: f["nodes"]["balance"].update({"action": "format_disk"}), "unknown self-service action"),
        (lambda f: f["nodes"]["welcome"].update({"colour": "red"}), "Extra inputs are not permitted"),
        (lambda f: f["nodes"]["agents"].pop("callback_prompt"), "callback offer needs a callback_prompt"),
    ],
)
def test_bad_flows_are_rejected_naming_the_node(change, message):
    flow = good_flow()
    change(flow)
    with pytest.raises(FlowProblem) as exc:
        validate_flow(flow, ["general"])
    assert message in str(exc.value)


def test_a_loop_without_exit_is_rejected():
    flow = {
        "start": "a",
        "nodes": {
            "a": {"type": "play", "prompt": {"text": "a"}, "next": "b"},
            "b": {"type": "menu", "prompt": {"text": "b"}, "options": {"1": "a"}, "no_input": "a"},
        },
    }
    with pytest.raises(FlowProblem) as exc:
        validate_flow(flow, [])
    assert "loops without an exit" in str(exc.value)
    assert {"node 'a'", "node 'b'"} <= {p.split(" loops")[0] for p in exc.value.problems}


def test_a_loop_with_an_exit_is_fine():
    flow = good_flow()  # balance → menu → balance … but the menu can reach the queue
    validate_flow(flow, ["general"])


def test_business_hours_with_lunch_break_holidays_and_make_up_days():
    hours = BusinessHours.model_validate(HOURS)
    at = lambda s: datetime.fromisoformat(s).replace(tzinfo=UTC)  # noqa: E731
    assert hours.is_open(at("2026-11-30T01:30:00"))  # Monday 09:30 in Shanghai
    assert not hours.is_open(at("2026-11-30T04:30:00"))  # 12:30 lunch
    assert not hours.is_open(at("2026-11-29T01:30:00"))  # Sunday
    assert not hours.is_open(at("2026-10-01T01:30:00"))  # National Day
    assert hours.is_open(at("2026-10-10T01:30:00"))  # a Saturday make-up working day
    assert not hours.is_open(at("2026-11-30T12:30:00"))  # 20:30


def test_bad_hours_are_rejected():
    with pytest.raises(FlowProblem, match="must start before it ends"):
        flow = good_flow()
        flow["nodes"]["hours"]["hours"]["weekly"]["mon"] = [["18:00", "09:00"]]
        validate_flow(flow, ["general"])
