"""The PBX as a simulator: determinism, load, lazily fed traffic, bounded memory, the event contract."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from kefu.core.time import VirtualClock
from kefu.telephony import (
    EVENT_TYPES,
    AgentBehaviour,
    BridgeChange,
    BridgeChanged,
    CollectReason,
    DigitsCollected,
    DtmfSent,
    EndpointTarget,
    HangupCause,
    IncomingCall,
    InvalidArgumentError,
    LegHungUp,
    LegRole,
    NumberTarget,
    PlaybackFinished,
    PlaybackReason,
    Prompt,
    RecordingStopped,
    SimulatedCaller,
    SimulatedPBX,
    TelephonyEvent,
    UnknownCallError,
    event_from_dict,
    parse_target,
    poisson_callers,
    validate_dtmf,
)
from telephony.telephony_harness import T0, IvrController, Recorder, make_pbx


def _scenario(tmp_path: Path, seed: int) -> tuple[list[dict], bytes]:
    clock, pbx = make_pbx(tmp_path / f"run-{seed}-{time.perf_counter_ns()}", seed=seed)
    for i in range(3):
        pbx.register_device(f"agent-{i}", AgentBehaviour(answer_after=1.0 + i))
    rec = Recorder(pbx)
    IvrController(pbx, ["agent-0", "agent-1", "agent-2"], record=True)
    template = SimulatedCaller(digits=["1"], talk_time=40.0, patience=90.0)
    pbx.place_calls(poisson_callers(rate_per_hour=720, start=T0, end=T0 + 120, template=template, seed=seed))
    clock.run()
    files = b"".join(Path(e.path).read_bytes() for e in rec.of(RecordingStopped))
    return [e.to_dict() for e in rec.events], files


def test_same_seed_same_events_ids_and_recordings(tmp_path: Path) -> None:
    first, first_audio = _scenario(tmp_path, seed=42)
    second, second_audio = _scenario(tmp_path, seed=42)
    other, _ = _scenario(tmp_path, seed=43)
    assert len(first) > 50
    # Paths differ only in the run directory; compare everything else exactly.
    strip = lambda events: [{k: v for k, v in e.items() if k != "path"} for e in events]  # noqa: E731
    assert strip(first) == strip(second)
    assert hashlib.sha256(first_audio).digest() == hashlib.sha256(second_audio).digest()
    assert strip(first) != strip(other)


def test_three_hundred_concurrent_calls_in_virtual_time() -> None:
    clock = VirtualClock(T0)
    pbx = SimulatedPBX(clock, None, seed=5, raise_handler_errors=True)
    pbx.register_prompt("welcome", duration=4.0)
    agents = [f"agent-{i:03d}" for i in range(300)]
    for i, agent in enumerate(agents):
        pbx.register_device(agent, AgentBehaviour(answer_after=1.0 + (i % 5)))
    rec_counts: dict[str, int] = {}
    pbx.subscribe(lambda e: rec_counts.__setitem__(e.type, rec_counts.get(e.type, 0) + 1))
    ctl = IvrController(pbx, agents, record=True)
    callers = [
        SimulatedCaller(
            from_number=f"+86138{i:08d}", dial_at=T0 + i * 0.1, digits=[str(i % 10)], talk_time=180.0 + i % 60
        )
        for i in range(300)
    ]
    for caller in callers:
        pbx.place_call(caller)
    clock.run()
    assert pbx.stats.calls_peak == 300  # all 300 were up at the same time
    assert pbx.stats.calls_active == 0 and pbx.stats.calls_ended == 300
    assert rec_counts["telephony.recording_stopped"] == 300  # metadata only: no recordings_dir
    assert len(ctl.bridges) == 300
    assert clock.now() < T0 + 300


def test_place_calls_feeds_lazily_and_memory_stays_bounded() -> None:
    clock = VirtualClock(T0)
    pbx = SimulatedPBX(clock, None, seed=1, retain_ended_calls=10)
    fed = 0

    def callers():
        nonlocal fed
        for i in range(200):
            fed += 1
            yield SimulatedCaller(dial_at=T0 + i, patience=5.0)  # nobody answers: all abandon

    pbx.place_calls(callers())
    assert fed == 1  # one timer at a time
    clock.run()
    assert fed == 200
    assert pbx.stats.calls_ended == 200 and pbx.stats.calls_peak <= 6
    assert len(pbx._calls) == 10 and len(pbx._legs) == 10  # only the retained ended calls
    with pytest.raises(UnknownCallError):
        pbx.get_call("forgotten")


def test_poisson_callers_are_deterministic_and_ordered() -> None:
    template = SimulatedCaller(talk_time=100.0, patience=30.0)
    a = list(poisson_callers(rate_per_hour=3600, start=0, end=600, template=template, seed=9))
    b = list(poisson_callers(rate_per_hour=3600, start=0, end=600, template=template, seed=9))
    assert a == b
    assert 500 < len(a) < 700
    times = [c.dial_at for c in a]
    assert times == sorted(times)
    assert len({c.from_number for c in a}) > 590
    with pytest.raises(InvalidArgumentError):
        next(poisson_callers(rate_per_hour=0, start=0, end=1, template=template))


def test_playback_stop_collect_cancel_flush_and_send_dtmf() -> None:
    clock, pbx = make_pbx()
    rec = Recorder(pbx)
    pbx.place_call(SimulatedCaller(talk_time=None, idle_hangup_after=None))
    clock.advance(0)
    leg = rec.one(IncomingCall).leg_id
    pbx.answer(leg)
    first = pbx.play(leg, Prompt.of("welcome"))
    queued = pbx.play(leg, Prompt.of("menu"))
    clock.advance(1)
    pbx.stop_playback(queued)  # unqueued before it starts
    pbx.stop_playback(first)
    pbx.stop_playback(first)  # no-op once finished
    clock.advance(0)
    assert [(p.playback_id, p.reason) for p in rec.of(PlaybackFinished)] == [
        (queued, PlaybackReason.STOPPED),
        (first, PlaybackReason.STOPPED),
    ]
    pbx.remote_press(leg, "12")
    clock.advance(1)
    collect = pbx.collect_digits(leg, max_digits=4, flush_buffer=True)  # typed-ahead digits dropped
    clock.advance(1)
    pbx.cancel_collect(collect)
    pbx.cancel_collect(collect)
    clock.advance(0)
    cancelled = rec.one(DigitsCollected)
    assert (cancelled.digits, cancelled.reason) == ("", CollectReason.CANCELLED)
    pbx.send_dtmf(leg, "123#", tone_duration=0.1)
    clock.advance(1)
    sent = rec.one(DtmfSent)
    assert (sent.digits, round(sent.at - T0, 3)) == ("123#", 3 + 0.4 + 0.15)
    pbx.hangup(leg)
    clock.run()


def test_handler_errors_are_isolated_unless_asked_to_raise() -> None:
    clock = VirtualClock(T0)
    pbx = SimulatedPBX(clock, None)
    seen: list[str] = []

    def broken(event: TelephonyEvent) -> None:
        raise RuntimeError("boom")

    pbx.subscribe(broken)
    unsubscribe = pbx.subscribe(lambda e: seen.append(e.type))
    pbx.place_call(SimulatedCaller(patience=1.0))
    clock.run()
    assert seen == ["telephony.incoming_call", "telephony.leg_hung_up", "telephony.call_ended"]
    assert pbx.stats.handler_errors == 3
    unsubscribe()
    unsubscribe()
    pbx.raise_handler_errors = True
    pbx.place_call(SimulatedCaller(patience=1.0))
    with pytest.raises(RuntimeError, match="boom"):
        clock.run()


def test_event_catalogue_round_trips_and_names_are_stable() -> None:
    assert all(name.startswith("telephony.") for name in EVENT_TYPES)
    assert EVENT_TYPES["telephony.incoming_call"] is IncomingCall
    event = BridgeChanged(
        at=T0, call_id="c", bridge_id="b", change=BridgeChange.JOINED, leg_id="l3", leg_ids=("l1", "l2", "l3")
    )
    data = event.to_dict()
    assert data == {
        "type": "telephony.bridge_changed",
        "at": T0,
        "call_id": "c",
        "bridge_id": "b",
        "change": "joined",
        "leg_id": "l3",
        "leg_ids": ["l1", "l2", "l3"],
    }
    assert event_from_dict(data) == event
    hung = LegHungUp(at=T0, call_id="c", leg_id="l", role=LegRole.AGENT, side="local", cause=HangupCause.BUSY,
                     answered=True)  # fmt: skip
    assert event_from_dict(hung.to_dict()).cause is HangupCause.BUSY
    stopped = RecordingStopped(at=T0, call_id="c", recording_id="r", path=None, duration=3.0, channels=2,
                               sample_rate=8000, encoding="mulaw", size_bytes=0,
                               paused_intervals=((1.0, 2.0),))  # fmt: skip
    assert event_from_dict(stopped.to_dict()) == stopped
    with pytest.raises(InvalidArgumentError):
        event_from_dict({"type": "telephony.nope"})
    assert HangupCause.BUSY.sip_status == 486 and HangupCause.NORMAL.sip_status is None


def test_targets_prompts_and_dtmf_validation() -> None:
    assert parse_target("endpoint:agent-7") == EndpointTarget("agent-7")
    assert parse_target("tel:+8610086") == NumberTarget("+8610086")
    assert str(EndpointTarget("a")) == "endpoint:a"
    with pytest.raises(InvalidArgumentError):
        parse_target("sip:x")
    assert validate_dtmf("12*#ab") == "12*#AB"
    with pytest.raises(InvalidArgumentError):
        validate_dtmf("")
    assert Prompt.tts("您好").describe() == "tts:您好"
    with pytest.raises(InvalidArgumentError):
        Prompt()
    with pytest.raises(InvalidArgumentError):
        SimulatedCaller(digits=["12x"])
    with pytest.raises(InvalidArgumentError):
        SimulatedCaller(digits="12")  # a bare string is a common mistake: it must be a list
    with pytest.raises(InvalidArgumentError):
        AgentBehaviour(answer_after=-1)


def test_transfer_target_gets_the_customer_caller_id_and_recording_follows_the_call(tmp_path: Path) -> None:
    clock, pbx = make_pbx(tmp_path)
    pbx.register_device("agent-1", AgentBehaviour(answer_after=1.0))
    pbx.register_device("agent-2", AgentBehaviour(answer_after=1.0))
    rec = Recorder(pbx)
    transferred: list[str] = []

    def on_bridged(call_id: str, customer: str, agent: str) -> None:
        if not transferred:
            transferred.append(pbx.blind_transfer(customer, EndpointTarget("agent-2")).leg_id)

    IvrController(pbx, ["agent-1"], record=True, on_bridged=on_bridged)
    pbx.place_call(SimulatedCaller(digits=["9"], talk_time=10.0))
    clock.run()
    assert pbx.get_leg(transferred[0]).from_number == "+8613800000000"
    stopped = rec.one(RecordingStopped)
    # Ringing agent-2 for 1 s, 10 s of talk, then agent-2 hangs up 1 s after the caller left,
    # which ends the call and its recording.
    assert stopped.duration == 1.0 + 10.0 + 1.0
    assert [e.role for e in rec.of(LegHungUp)][:1] == [LegRole.AGENT]
