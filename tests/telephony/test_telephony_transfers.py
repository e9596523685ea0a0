"""Transfers done by the B2BUA (no REFER), conferences, hold/mute."""

from __future__ import annotations

import pytest

from kefu.core.time import VirtualClock
from kefu.telephony import (
    AgentBehaviour,
    BridgeChange,
    BridgeChanged,
    CallEnded,
    EndpointTarget,
    ExternalParty,
    HangupCause,
    HangupSide,
    IncomingCall,
    LegAnswered,
    LegFailed,
    LegHeld,
    LegHungUp,
    LegMuted,
    LegResumed,
    LegRole,
    LegState,
    LegStateError,
    LegUnmuted,
    NumberTarget,
    SimulatedCaller,
    SimulatedPBX,
    TransferCancelled,
    TransferCompleted,
    TransferFailed,
    TransferKind,
    TransferStarted,
    TransferStateError,
)
from telephony.telephony_harness import T0, Recorder, make_pbx


def _connected(pbx: SimulatedPBX, clock: VirtualClock, rec: Recorder) -> tuple[str, str, str, str]:
    """Customer bridged with agent-1 at T0 + 1. Returns (call, customer, agent, bridge)."""
    pbx.register_device("agent-1", AgentBehaviour(answer_after=1.0))
    pbx.place_call(SimulatedCaller(talk_time=None, idle_hangup_after=None))
    clock.advance(0)
    incoming = rec.one(IncomingCall)
    pbx.answer(incoming.leg_id)
    agent = pbx.originate_agent_leg(incoming.call_id, "agent-1")
    clock.advance(1.0)
    bridge = pbx.bridge([incoming.leg_id, agent])
    clock.advance(0)
    rec.clear()
    return incoming.call_id, incoming.leg_id, agent, bridge


def test_blind_transfer_to_another_agent() -> None:
    clock, pbx = make_pbx()
    pbx.register_device("agent-2", AgentBehaviour(answer_after=2.0))
    rec = Recorder(pbx)
    call_id, customer, agent, _bridge = _connected(pbx, clock, rec)
    clock.advance(5)  # t = 6
    handle = pbx.blind_transfer(customer, EndpointTarget("agent-2"))
    with pytest.raises(TransferStateError) as err:
        pbx.complete_attended_transfer(handle.transfer_id)
    assert err.value.code == "not_attended"
    with pytest.raises(LegStateError) as leg_err:
        pbx.blind_transfer(customer, EndpointTarget("agent-3"))  # already being transferred
    assert leg_err.value.code == "leg_in_transfer"
    clock.advance(10)
    assert rec.timeline() == [
        ("bridge_changed", 6.0),  # customer left …
        ("bridge_changed", 6.0),  # … the bridge is gone
        ("transfer_started", 6.0),
        ("leg_hung_up", 6.0),  # agent-1 dropped by the PBX
        ("leg_ringing", 6.0),
        ("leg_answered", 8.0),
        ("bridge_changed", 8.0),
        ("transfer_completed", 8.0),
    ]
    started = rec.one(TransferStarted)
    assert (started.kind, started.transferee_leg_id, started.transferor_leg_id, started.target) == (
        TransferKind.BLIND,
        customer,
        agent,
        "endpoint:agent-2",
    )
    dropped = rec.one(LegHungUp)
    assert (dropped.leg_id, dropped.side, dropped.cause) == (
        agent,
        HangupSide.SYSTEM,
        HangupCause.TRANSFERRED,
    )
    done = rec.one(TransferCompleted)
    assert (done.transfer_id, done.target_leg_id) == (handle.transfer_id, handle.leg_id)
    assert pbx.get_leg(customer).bridge_id == done.bridge_id == pbx.get_leg(handle.leg_id).bridge_id
    assert pbx.get_leg(handle.leg_id).role is LegRole.AGENT
    assert pbx.device_info("agent-1").active_leg_ids == ()
    assert pbx.device_info("agent-2").active_leg_ids == (handle.leg_id,)
    pbx.hangup_call(call_id)
    clock.run()
    assert rec.types()[-1] == "call_ended"


def test_blind_transfer_to_an_external_number() -> None:
    clock, pbx = make_pbx()
    pbx.register_number("95598", ExternalParty(answer_after=4.0, talk_time=30.0))
    rec = Recorder(pbx)
    _call_id, customer, _agent, _ = _connected(pbx, clock, rec)
    handle = pbx.blind_transfer(customer, NumberTarget("95598"))
    clock.run()
    done = rec.one(TransferCompleted)
    assert done.at == T0 + 1 + 4
    target = pbx.get_leg(handle.leg_id)
    assert (target.role, target.target, target.to_number) == (LegRole.EXTERNAL, "tel:95598", "95598")
    assert target.from_number == "+8613800000000"  # the customer's number is passed through
    # The external party talks 30 s and hangs up (this caller script never hangs up by itself).
    ended = rec.of(LegHungUp)
    assert [(e.role, e.side) for e in ended][:2] == [
        (LegRole.AGENT, HangupSide.SYSTEM),
        (LegRole.EXTERNAL, "remote"),
    ]
    assert ended[1].at == T0 + 1 + 4 + 30


def test_blind_transfer_to_a_busy_number_fails_and_leaves_the_customer_idle() -> None:
    clock, pbx = make_pbx()
    pbx.register_number("12345", ExternalParty.busy_line())
    rec = Recorder(pbx)
    call_id, customer, _agent, _ = _connected(pbx, clock, rec)
    handle = pbx.blind_transfer(customer, NumberTarget("12345"))
    clock.advance(1)
    failed = rec.one(TransferFailed)
    assert (failed.cause, failed.target_leg_id, failed.restored_bridge_id) == (
        HangupCause.BUSY,
        handle.leg_id,
        None,
    )
    assert rec.one(LegFailed).cause is HangupCause.BUSY
    leg = pbx.get_leg(customer)
    assert (leg.state, leg.bridge_id, leg.transfer_id) == (LegState.ANSWERED, None, None)
    pbx.park(customer)  # the controller re-queues the caller
    pbx.hangup_call(call_id)
    clock.run()


def test_customer_hangs_up_during_blind_transfer_cancels_the_target() -> None:
    clock, pbx = make_pbx()
    pbx.register_device("agent-2", AgentBehaviour.not_answering())
    rec = Recorder(pbx)
    _call_id, customer, _agent, _ = _connected(pbx, clock, rec)
    handle = pbx.blind_transfer(customer, EndpointTarget("agent-2"))
    clock.advance(3)
    pbx.remote_hangup(customer)
    clock.run()
    failed = rec.one(TransferFailed)
    assert failed.cause is HangupCause.CANCELLED
    cancelled = rec.one(LegFailed)
    assert (cancelled.leg_id, cancelled.cause) == (handle.leg_id, HangupCause.CANCELLED)
    assert rec.one(CallEnded).at == T0 + 4


def test_attended_transfer_complete() -> None:
    clock, pbx = make_pbx()
    pbx.register_device("agent-2", AgentBehaviour(answer_after=2.0))
    rec = Recorder(pbx)
    call_id, customer, agent, original = _connected(pbx, clock, rec)
    handle = pbx.start_attended_transfer(customer, EndpointTarget("agent-2"))
    with pytest.raises(TransferStateError) as err:  # not answered yet
        pbx.complete_attended_transfer(handle.transfer_id)
    assert err.value.code == "consult_not_answered"
    clock.advance(2)  # consult answers; agent-1 and agent-2 talk, the customer waits on hold
    consult_bridge = rec.of(BridgeChanged)[-1]
    assert consult_bridge.change is BridgeChange.CREATED
    assert set(consult_bridge.leg_ids) == {agent, handle.leg_id}
    assert pbx.get_leg(customer).transfer_id == handle.transfer_id
    assert pbx.get_leg(customer).bridge_id is None
    clock.advance(10)
    pbx.complete_attended_transfer(handle.transfer_id)
    clock.advance(0)
    assert rec.timeline() == [
        ("bridge_changed", 1.0),  # original bridge destroyed, customer on hold
        ("transfer_started", 1.0),
        ("leg_ringing", 1.0),
        ("leg_answered", 3.0),
        ("bridge_changed", 3.0),  # consultation bridge
        ("bridge_changed", 13.0),  # consultation bridge destroyed
        ("bridge_changed", 13.0),  # customer + consulted party
        ("transfer_completed", 13.0),
        ("leg_hung_up", 13.0),  # transferring agent dropped
    ]
    done = rec.one(TransferCompleted)
    assert (done.kind, done.transferee_leg_id, done.transferor_leg_id, done.target_leg_id) == (
        TransferKind.ATTENDED,
        customer,
        agent,
        handle.leg_id,
    )
    assert done.bridge_id != original
    dropped = rec.one(LegHungUp)
    assert (dropped.leg_id, dropped.cause) == (agent, HangupCause.TRANSFERRED)
    assert pbx.get_leg(handle.leg_id).role is LegRole.CONSULT
    with pytest.raises(TransferStateError) as err:
        pbx.cancel_attended_transfer(handle.transfer_id)
    assert err.value.code == "transfer_finished"
    pbx.hangup_call(call_id)
    clock.run()


def test_attended_transfer_cancel_restores_the_original_bridge() -> None:
    clock, pbx = make_pbx()
    pbx.register_device("agent-2", AgentBehaviour(answer_after=2.0))
    rec = Recorder(pbx)
    call_id, customer, agent, original = _connected(pbx, clock, rec)
    handle = pbx.start_attended_transfer(customer, EndpointTarget("agent-2"))
    clock.advance(5)
    pbx.cancel_attended_transfer(handle.transfer_id)
    clock.advance(0)
    cancelled = rec.one(TransferCancelled)
    assert cancelled.restored_bridge_id == original
    consult_gone = rec.one(LegHungUp)
    assert (consult_gone.leg_id, consult_gone.side) == (handle.leg_id, HangupSide.SYSTEM)
    assert pbx.get_leg(customer).bridge_id == pbx.get_leg(agent).bridge_id == original
    assert pbx.get_leg(customer).transfer_id is None
    assert rec.types()[-2:] == ["bridge_changed", "transfer_cancelled"]
    pbx.hangup_call(call_id)
    clock.run()


def test_attended_transfer_cancel_while_the_consult_still_rings() -> None:
    clock, pbx = make_pbx()
    pbx.register_device("agent-2", AgentBehaviour.not_answering())
    rec = Recorder(pbx)
    call_id, customer, _agent, original = _connected(pbx, clock, rec)
    handle = pbx.start_attended_transfer(customer, EndpointTarget("agent-2"), timeout=10)
    clock.advance(0.5)
    assert pbx.device_info("agent-2").ringing_leg_ids == (handle.leg_id,)
    pbx.cancel_attended_transfer(handle.transfer_id)
    clock.advance(0)
    failed = rec.one(LegFailed)
    assert (failed.leg_id, failed.cause, failed.role) == (
        handle.leg_id,
        HangupCause.CANCELLED,
        LegRole.CONSULT,
    )
    assert rec.of(TransferFailed) == []
    assert pbx.device_info("agent-2").ringing_leg_ids == ()
    assert pbx.get_leg(customer).bridge_id == original
    pbx.hangup_call(call_id)
    clock.run()


def test_attended_transfer_consult_no_answer_times_out_and_restores() -> None:
    clock, pbx = make_pbx()
    pbx.register_device("agent-2", AgentBehaviour.not_answering())
    rec = Recorder(pbx)
    call_id, customer, _agent, original = _connected(pbx, clock, rec)
    pbx.start_attended_transfer(customer, EndpointTarget("agent-2"), timeout=15)
    clock.advance(20)
    failed = rec.one(TransferFailed)
    assert (failed.cause, failed.restored_bridge_id, failed.at) == (HangupCause.TIMEOUT, original, T0 + 16)
    assert rec.one(LegFailed).cause is HangupCause.TIMEOUT
    assert pbx.get_leg(customer).bridge_id == original
    pbx.hangup_call(call_id)
    clock.run()


def test_transferring_agent_hanging_up_during_consultation_completes_the_transfer() -> None:
    clock, pbx = make_pbx()
    pbx.register_device("agent-2", AgentBehaviour(answer_after=1.0))
    rec = Recorder(pbx)
    call_id, customer, _agent, _ = _connected(pbx, clock, rec)
    handle = pbx.start_attended_transfer(customer, EndpointTarget("agent-2"))
    clock.advance(3)
    pbx.device_hangup("agent-1")
    clock.advance(0)
    done = rec.one(TransferCompleted)
    assert done.target_leg_id == handle.leg_id
    assert pbx.get_leg(customer).bridge_id == pbx.get_leg(handle.leg_id).bridge_id is not None
    pbx.hangup_call(call_id)
    clock.run()


def test_customer_hanging_up_during_consultation_fails_the_transfer() -> None:
    clock, pbx = make_pbx()
    pbx.register_device("agent-2", AgentBehaviour(answer_after=1.0))
    rec = Recorder(pbx)
    call_id, customer, agent, _ = _connected(pbx, clock, rec)
    handle = pbx.start_attended_transfer(customer, EndpointTarget("agent-2"))
    clock.advance(3)
    pbx.remote_hangup(customer)
    clock.advance(0)
    failed = rec.one(TransferFailed)
    assert failed.cause is HangupCause.CANCELLED
    # The two agents remain connected until one hangs up; their bridge is an ordinary one now.
    assert pbx.get_leg(agent).bridge_id == pbx.get_leg(handle.leg_id).bridge_id is not None
    pbx.unbridge(pbx.get_leg(agent).bridge_id)
    pbx.hangup_call(call_id)
    clock.run()
    assert rec.types()[-1] == "call_ended"


def test_three_party_conference() -> None:
    clock, pbx = make_pbx()
    pbx.register_number("95598", ExternalParty(answer_after=1.0))
    rec = Recorder(pbx)
    call_id, customer, agent, bridge = _connected(pbx, clock, rec)
    guest = pbx.originate_leg(call_id, NumberTarget("95598"))
    clock.advance(1)
    pbx.unbridge(bridge)
    conference = pbx.bridge([customer, agent, guest])
    clock.advance(0)
    created = rec.of(BridgeChanged)[-1]
    assert (created.change, created.leg_ids) == (BridgeChange.CREATED, (customer, agent, guest))
    clock.advance(5)
    pbx.hangup(guest)
    clock.advance(0)
    left = rec.of(BridgeChanged)[-1]
    assert (left.change, left.leg_id, left.leg_ids) == (BridgeChange.LEFT, guest, (customer, agent))
    assert pbx.get_leg(customer).bridge_id == conference  # two remain: the bridge lives on
    pbx.hangup_call(call_id)
    clock.run()


def test_conference_needs_the_capability() -> None:
    clock, pbx = make_pbx(conference_size=2)
    pbx.register_number("95598", ExternalParty(answer_after=1.0))
    rec = Recorder(pbx)
    call_id, _customer, _agent, bridge = _connected(pbx, clock, rec)
    guest = pbx.originate_leg(call_id, NumberTarget("95598"))
    clock.advance(1)
    from kefu.telephony import Capability, NotSupportedError

    assert Capability.CONFERENCE not in pbx.capabilities
    with pytest.raises(NotSupportedError):
        pbx.add_to_bridge(bridge, guest)
    pbx.hangup_call(call_id)
    clock.run()


def test_hold_resume_mute_unmute() -> None:
    clock, pbx = make_pbx()
    rec = Recorder(pbx)
    call_id, customer, agent, _ = _connected(pbx, clock, rec)
    pbx.hold(customer)
    assert pbx.get_leg(customer).held
    with pytest.raises(LegStateError) as err:
        pbx.hold(customer)
    assert err.value.code == "leg_held"
    pbx.resume(customer)
    pbx.mute(agent)
    with pytest.raises(LegStateError) as err:
        pbx.mute(agent)
    assert err.value.code == "leg_muted"
    assert pbx.get_leg(agent).muted
    pbx.unmute(agent)
    with pytest.raises(LegStateError) as err:
        pbx.resume(customer)
    assert err.value.code == "leg_not_held"
    clock.advance(0)
    assert [type(e) for e in rec.events] == [LegHeld, LegResumed, LegMuted, LegUnmuted]
    pbx.hangup_call(call_id)
    clock.run()


def test_caller_talk_time_pauses_while_on_hold() -> None:
    clock, pbx = make_pbx()
    pbx.register_device("agent-1", AgentBehaviour(answer_after=1.0))
    rec = Recorder(pbx)
    pbx.place_call(SimulatedCaller(talk_time=10.0))
    clock.advance(0)
    incoming = rec.one(IncomingCall)
    pbx.answer(incoming.leg_id)
    agent = pbx.originate_agent_leg(incoming.call_id, "agent-1")
    clock.advance(1)
    pbx.bridge([incoming.leg_id, agent])  # talk starts at t = 1
    clock.advance(4)
    pbx.hold(incoming.leg_id)  # 4 s talked
    clock.advance(30)
    pbx.resume(incoming.leg_id)  # t = 35: 6 s of talk left
    clock.run()
    gone = next(e for e in rec.of(LegHungUp) if e.role is LegRole.CUSTOMER)
    assert gone.at == T0 + 41
    # The simulated agent, left alone, hangs up after its idle delay (1 s).
    agent_gone = next(e for e in rec.of(LegHungUp) if e.role is LegRole.AGENT)
    assert (agent_gone.at, agent_gone.side) == (T0 + 42, HangupSide.REMOTE)
    assert [e.role for e in rec.of(LegAnswered)] == [LegRole.CUSTOMER, LegRole.AGENT]
