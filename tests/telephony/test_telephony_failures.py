"""Agent legs that fail, outbound calls, human-driven devices and commands that must be refused."""

from __future__ import annotations

import pytest

from kefu.telephony import (
    AgentBehaviour,
    CallEnded,
    CallStateError,
    DeviceStateError,
    EndpointTarget,
    ExternalParty,
    HangupCause,
    HangupSide,
    IncomingCall,
    InvalidArgumentError,
    LegAnswered,
    LegFailed,
    LegHungUp,
    LegRinging,
    LegRole,
    LegState,
    LegStateError,
    NumberTarget,
    Prompt,
    SimulatedCaller,
    TelephonyError,
    UnknownBridgeError,
    UnknownCallError,
    UnknownCollectError,
    UnknownEndpointError,
    UnknownLegError,
    UnknownPlaybackError,
    UnknownTransferError,
)
from telephony.telephony_harness import T0, IvrController, Recorder, make_pbx


@pytest.mark.parametrize(
    ("behaviour", "timeout", "cause", "failed_after"),
    [
        (AgentBehaviour.rejecting(after=2.0), 20.0, HangupCause.REJECTED, 2.0),
        (AgentBehaviour.not_answering(gives_up_after=8.0), 20.0, HangupCause.NO_ANSWER, 8.0),
        (AgentBehaviour.not_answering(), 15.0, HangupCause.TIMEOUT, 15.0),
        (AgentBehaviour(busy=True), 20.0, HangupCause.BUSY, 0.0),
    ],
)
def test_agent_leg_fails(
    behaviour: AgentBehaviour, timeout: float, cause: HangupCause, failed_after: float
) -> None:
    clock, pbx = make_pbx()
    pbx.register_device("agent-1", behaviour)
    rec = Recorder(pbx)
    pbx.place_call(SimulatedCaller(talk_time=None, idle_hangup_after=None))
    clock.advance(0)
    incoming = rec.one(IncomingCall)
    pbx.answer(incoming.leg_id)
    pbx.park(incoming.leg_id)
    leg = pbx.originate_agent_leg(incoming.call_id, "agent-1", timeout=timeout)
    clock.advance(30)
    failed = rec.one(LegFailed)
    assert (failed.leg_id, failed.role, failed.cause, failed.target) == (
        leg,
        LegRole.AGENT,
        cause,
        "endpoint:agent-1",
    )
    assert failed.at == T0 + failed_after
    assert len(rec.of(LegRinging)) == (0 if cause is HangupCause.BUSY else 1)
    assert pbx.get_leg(incoming.leg_id).parked == "default"  # the customer keeps waiting
    assert pbx.device_info("agent-1").ringing_leg_ids == ()
    pbx.hangup_call(incoming.call_id)
    clock.run()


def test_unregistered_or_offline_device_is_unreachable_and_a_busy_device_is_busy() -> None:
    clock, pbx = make_pbx()
    pbx.register_device("agent-1", AgentBehaviour(answer_after=1.0))
    pbx.register_device("agent-2", AgentBehaviour())
    pbx.unregister_device("agent-2")
    rec = Recorder(pbx)
    pbx.place_call(SimulatedCaller(talk_time=None, idle_hangup_after=None))
    clock.advance(0)
    call_id = rec.one(IncomingCall).call_id
    first = pbx.originate_agent_leg(call_id, "agent-1")
    second = pbx.originate_agent_leg(call_id, "agent-1")  # the phone has one line
    offline = pbx.originate_agent_leg(call_id, "agent-2")
    nobody = pbx.originate_agent_leg(call_id, "agent-404")
    clock.advance(1)
    causes = {e.leg_id: e.cause for e in rec.of(LegFailed)}
    assert causes == {
        second: HangupCause.BUSY,
        offline: HangupCause.UNREACHABLE,
        nobody: HangupCause.UNREACHABLE,
    }
    assert pbx.get_leg(first).state is LegState.ANSWERED
    clock.advance(1)  # answered, but nobody bridges it: the simulated agent hangs up after 1 s of dead air
    assert pbx.get_leg(first).state is LegState.ENDED
    pbx.hangup_call(call_id)
    clock.run()


def test_controller_rings_the_next_agent_when_one_does_not_answer() -> None:
    clock, pbx = make_pbx()
    pbx.register_device("agent-1", AgentBehaviour.not_answering())
    pbx.register_device("agent-2", AgentBehaviour(answer_after=2.0))
    rec = Recorder(pbx)
    ctl = IvrController(pbx, ["agent-1", "agent-2"], agent_timeout=10.0)
    call_id = pbx.place_call(SimulatedCaller(digits=["1"], talk_time=30.0))
    clock.run()
    assert [(e.role, e.cause) for e in rec.of(LegFailed)] == [(LegRole.AGENT, HangupCause.TIMEOUT)]
    answered = [e for e in rec.of(LegAnswered) if e.role is LegRole.AGENT]
    assert answered[0].at == T0 + 5 + 10 + 2
    assert call_id in ctl.bridges
    assert rec.one(CallEnded).at == T0 + 17 + 30


def test_outbound_call_answered() -> None:
    clock, pbx = make_pbx()
    customer = SimulatedCaller(from_number="+8613900001111", answer_after=4.0, talk_time=12.0)
    pbx.register_number(customer.from_number, customer)
    pbx.register_device("agent-1", AgentBehaviour(answer_after=0.5))
    rec = Recorder(pbx)
    # Agent-first preview dialling: ring the agent, then the customer, then bridge.
    call = pbx.originate_call(EndpointTarget("agent-1"), caller_id="95588")
    clock.advance(0.5)
    out = pbx.originate_leg(
        call.call_id, NumberTarget(customer.from_number), role=LegRole.CUSTOMER, caller_id="95588"
    )
    clock.advance(4)
    pbx.bridge([call.leg_id, out])
    clock.run()
    assert rec.timeline() == [
        ("leg_ringing", 0.0),
        ("leg_answered", 0.5),
        ("leg_ringing", 0.5),
        ("leg_answered", 4.5),
        ("bridge_changed", 4.5),
        ("leg_hung_up", 16.5),  # the customer talks 12 s
        ("bridge_changed", 16.5),
        ("bridge_changed", 16.5),
        ("leg_hung_up", 17.5),  # the simulated agent, left alone, hangs up 1 s later
        ("call_ended", 17.5),
    ]
    info = pbx.get_call(call.call_id)
    assert (info.direction, info.from_number) == ("outbound", "95588")
    leg = pbx.get_leg(out)
    assert (leg.role, leg.direction, leg.from_number, leg.to_number) == (
        LegRole.CUSTOMER,
        "outbound",
        "95588",
        "+8613900001111",
    )


@pytest.mark.parametrize(
    ("party", "cause", "at"),
    [
        (ExternalParty.busy_line(), HangupCause.BUSY, 0.0),
        (SimulatedCaller(from_number="+8613900002222", answer_after=None), HangupCause.TIMEOUT, 45.0),
        (
            SimulatedCaller(from_number="+8613900002222", answer_after=None, no_answer_after=30.0),
            "no_answer",
            30.0,
        ),
        (ExternalParty(answer_after=2.0, reject=True), HangupCause.REJECTED, 2.0),
    ],
)
def test_outbound_call_fails(party: ExternalParty | SimulatedCaller, cause: HangupCause, at: float) -> None:
    clock, pbx = make_pbx()
    pbx.register_number("+8613900002222", party)
    rec = Recorder(pbx)
    call = pbx.originate_call(NumberTarget("+8613900002222"), caller_id="95588")
    clock.run()
    failed = rec.one(LegFailed)
    assert (failed.leg_id, failed.role, failed.cause, failed.at) == (
        call.leg_id,
        LegRole.CUSTOMER,
        cause,
        T0 + at,
    )
    ended = rec.one(CallEnded)
    assert ended.at == T0 + at and rec.events[-1] is ended


def test_outbound_to_an_unknown_number_is_unreachable_unless_a_default_party_is_set() -> None:
    clock, pbx = make_pbx()
    rec = Recorder(pbx)
    pbx.originate_call(NumberTarget("12345"), caller_id="95588")
    clock.run()
    assert rec.one(LegFailed).cause is HangupCause.UNREACHABLE
    clock, pbx = make_pbx(default_external=ExternalParty(answer_after=1.0, talk_time=5.0))
    rec = Recorder(pbx)
    pbx.originate_call(NumberTarget("12345"), caller_id="95588")
    clock.run()
    assert [e.type for e in rec.events][1:3] == ["telephony.leg_answered", "telephony.leg_hung_up"]


def test_a_person_drives_the_softphone() -> None:
    clock, pbx = make_pbx()
    pbx.register_device("agent-h")  # no behaviour: manual
    rec = Recorder(pbx)
    pbx.place_call(SimulatedCaller(talk_time=None, idle_hangup_after=None))
    clock.advance(0)
    incoming = rec.one(IncomingCall)
    pbx.answer(incoming.leg_id)
    with pytest.raises(DeviceStateError) as err:
        pbx.device_answer("agent-h")
    assert err.value.code == "device_not_ringing"
    first = pbx.originate_agent_leg(incoming.call_id, "agent-h")
    clock.advance(60)  # a human never answers by themselves: the originate timeout ends it
    assert rec.one(LegFailed).leg_id == first
    second = pbx.originate_agent_leg(incoming.call_id, "agent-h")
    clock.advance(3)
    assert pbx.device_info("agent-h").ringing_leg_ids == (second,)
    assert pbx.device_reject("agent-h") == second
    third = pbx.originate_agent_leg(incoming.call_id, "agent-h")
    clock.advance(2)
    assert pbx.device_answer("agent-h") == third
    pbx.bridge([incoming.leg_id, third])
    pbx.device_press("agent-h", "5")
    clock.advance(60)
    assert pbx.get_leg(third).state is LegState.ANSWERED  # humans do not hang up by script
    pbx.device_hangup("agent-h")
    clock.advance(0)
    causes = [e.cause for e in rec.of(LegFailed)]
    assert causes == [HangupCause.TIMEOUT, HangupCause.REJECTED]
    hung = rec.one(LegHungUp)
    assert (hung.leg_id, hung.side) == (third, HangupSide.REMOTE)
    assert [e.digit for e in rec.events if e.type == "telephony.digits_received"] == ["5"]
    with pytest.raises(DeviceStateError) as err:
        pbx.device_hangup("agent-h")
    assert err.value.code == "device_idle"
    with pytest.raises(UnknownEndpointError):
        pbx.device_answer("nobody")
    pbx.hangup_call(incoming.call_id)
    clock.run()


def test_invalid_commands_raise_and_change_nothing() -> None:
    clock, pbx = make_pbx()
    pbx.register_device("agent-1", AgentBehaviour(answer_after=1.0))
    rec = Recorder(pbx)
    # Two calls: A is bridged with an agent; B's caller has hung up.
    pbx.place_call(SimulatedCaller(talk_time=None, idle_hangup_after=None))
    pbx.place_call(SimulatedCaller(from_number="+8613700000000", talk_time=None, idle_hangup_after=None))
    clock.advance(0)
    a, b = rec.of(IncomingCall)
    pbx.answer(a.leg_id)
    pbx.answer(b.leg_id)
    agent = pbx.originate_agent_leg(a.call_id, "agent-1")
    clock.advance(1)
    bridge = pbx.bridge([a.leg_id, agent])
    b_agent = pbx.originate_agent_leg(b.call_id, "agent-404")
    pbx.remote_hangup(b.leg_id)
    clock.advance(0)
    snapshot = (pbx.get_call(a.call_id), pbx.get_call(b.call_id))
    emitted = pbx.stats.events_emitted
    pending = clock.pending

    def refused(exc: type[TelephonyError], code: str, fn, *args, **kwargs) -> None:
        with pytest.raises(exc) as err:
            fn(*args, **kwargs)
        assert err.value.code == code, (fn.__name__, err.value)
        assert str(err.value)  # a human message

    refused(UnknownCallError, "unknown_call", pbx.start_recording, "no-such-call")
    refused(UnknownCallError, "unknown_call", pbx.originate_agent_leg, "no-such-call", "agent-1")
    refused(UnknownLegError, "unknown_leg", pbx.answer, "no-such-leg")
    refused(UnknownLegError, "unknown_leg", pbx.play, "no-such-leg", Prompt.of("welcome"))
    refused(UnknownBridgeError, "unknown_bridge", pbx.unbridge, "no-such-bridge")
    refused(UnknownPlaybackError, "unknown_playback", pbx.stop_playback, "nope")
    refused(UnknownCollectError, "unknown_collect", pbx.cancel_collect, "nope")
    refused(UnknownTransferError, "unknown_transfer", pbx.complete_attended_transfer, "nope")
    # A hung-up leg: no bridging, no digits, no prompts, no parking.
    refused(LegStateError, "leg_ended", pbx.bridge, [b.leg_id, b_agent])
    refused(LegStateError, "leg_ended", pbx.collect_digits, b.leg_id)
    refused(LegStateError, "leg_ended", pbx.play, b.leg_id, Prompt.of("welcome"))
    refused(LegStateError, "leg_ended", pbx.park, b.leg_id)
    refused(CallStateError, "call_ended", pbx.originate_agent_leg, b.call_id, "agent-1")
    # Transfers of legs that are not in a conversation.
    refused(LegStateError, "leg_ended", pbx.blind_transfer, b.leg_id, EndpointTarget("agent-1"))
    refused(LegStateError, "leg_already_answered", pbx.answer, a.leg_id)
    refused(LegStateError, "leg_bridged", pbx.park, a.leg_id)
    refused(LegStateError, "leg_bridged", pbx.bridge, [a.leg_id, agent])
    refused(LegStateError, "leg_not_held", pbx.resume, a.leg_id)
    refused(InvalidArgumentError, "invalid_argument", pbx.bridge, [a.leg_id])
    refused(InvalidArgumentError, "invalid_argument", pbx.bridge, [a.leg_id, a.leg_id])
    refused(InvalidArgumentError, "invalid_argument", pbx.collect_digits, a.leg_id, max_digits=0)
    refused(InvalidArgumentError, "invalid_argument", pbx.collect_digits, a.leg_id, terminator="x")
    refused(InvalidArgumentError, "invalid_argument", pbx.collect_digits, a.leg_id, first_digit_timeout=-1)
    refused(InvalidArgumentError, "invalid_argument", pbx.send_dtmf, a.leg_id, "12x")
    refused(InvalidArgumentError, "invalid_argument", pbx.originate_call, NumberTarget("1"), caller_id="")
    refused(InvalidArgumentError, "invalid_argument", pbx.originate_leg, a.call_id, "agent-1")
    refused(InvalidArgumentError, "invalid_argument", pbx.hangup, a.leg_id, cause="whatever")
    refused(InvalidArgumentError, "prompt_not_found", pbx.play, a.leg_id, Prompt.file("/no/such/file.wav"))
    refused(InvalidArgumentError, "invalid_argument", Prompt, prompt_id="a", text="b")
    refused(CallStateError, "not_recording", pbx.stop_recording, a.call_id)

    assert (pbx.get_call(a.call_id), pbx.get_call(b.call_id)) == snapshot
    assert pbx.stats.events_emitted == emitted
    assert clock.pending == pending
    # Hanging up an already-ended leg is not an error (races with the far end are normal).
    pbx.hangup(b.leg_id)
    pbx.reject(b.leg_id)
    clock.advance(0)
    assert pbx.stats.events_emitted == emitted

    # A leg that is not bridged cannot be transferred, and one of another call cannot join.
    pbx.place_call(SimulatedCaller(from_number="+8613600000000", talk_time=None, idle_hangup_after=None))
    clock.advance(0)
    c = rec.of(IncomingCall)[-1]
    pbx.answer(c.leg_id)
    refused(LegStateError, "leg_not_bridged", pbx.blind_transfer, c.leg_id, EndpointTarget("agent-1"))
    refused(
        LegStateError, "leg_not_bridged", pbx.start_attended_transfer, c.leg_id, EndpointTarget("agent-1")
    )
    refused(LegStateError, "leg_not_bridged", pbx.hold, c.leg_id)
    refused(InvalidArgumentError, "cross_call_bridge", pbx.add_to_bridge, bridge, c.leg_id)
    pbx.park(c.leg_id)
    refused(LegStateError, "leg_parked", pbx.park, c.leg_id)
    pbx.hangup_call(a.call_id)
    pbx.hangup_call(c.call_id)
    clock.run()
    assert pbx.stats.calls_active == 0


def test_answering_an_originated_leg_is_refused() -> None:
    clock, pbx = make_pbx()
    call = pbx.originate_call(NumberTarget("1"), caller_id="95588")
    with pytest.raises(LegStateError) as err:
        pbx.answer(call.leg_id)
    assert err.value.code == "leg_not_incoming"
    clock.run()
