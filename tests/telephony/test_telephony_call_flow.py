"""End to end through the port: IVR → queue (MOH) → agent → recording → hang-up."""

from __future__ import annotations

import struct
from pathlib import Path

from kefu.telephony import (
    HANGUP,
    AgentBehaviour,
    BridgeChanged,
    CallEnded,
    CollectReason,
    DigitRequest,
    DigitsCollected,
    DigitsReceived,
    HangupCause,
    HangupSide,
    IncomingCall,
    LegAnswered,
    LegHungUp,
    LegRinging,
    LegRole,
    LegState,
    PlaybackFinished,
    PlaybackReason,
    Prompt,
    RecordingStarted,
    RecordingStopped,
    SimulatedCaller,
    TelephonyPort,
    event_from_dict,
    read_wav,
)
from telephony.telephony_harness import T0, IvrController, Recorder, make_pbx, tone_of, window


def test_simulated_pbx_implements_the_port() -> None:
    _, pbx = make_pbx()
    assert isinstance(pbx, TelephonyPort)


def test_inbound_call_ivr_queue_agent_recording_hangup(tmp_path: Path) -> None:
    clock, pbx = make_pbx(tmp_path)
    pbx.register_device("agent-1", AgentBehaviour(answer_after=3.0))
    rec = Recorder(pbx)
    ctl = IvrController(pbx, ["agent-1"], record=True)
    caller = SimulatedCaller(
        from_number="+8613812345678",
        to_number="10086",
        digits=["2"],
        digit_delay=1.0,
        talk_time=20.0,
        patience=60,
    )
    call_id = pbx.place_call(caller)
    clock.run()

    assert rec.timeline() == [
        ("incoming_call", 0.0),
        ("leg_answered", 0.0),
        ("playback_finished", 4.0),  # welcome prompt, 4 s
        ("digits_received", 5.0),  # caller thinks 1 s, presses "2"
        ("digits_collected", 5.0),
        ("leg_parked", 5.0),
        ("leg_ringing", 5.0),
        ("leg_answered", 8.0),  # agent answers after 3 s of ringing
        ("leg_unparked", 8.0),
        ("bridge_changed", 8.0),
        ("recording_started", 8.0),
        ("leg_hung_up", 28.0),  # caller talked 20 s
        ("bridge_changed", 28.0),
        ("bridge_changed", 28.0),
        ("leg_hung_up", 28.0),  # controller hangs up the agent leg
        ("recording_stopped", 28.0),
        ("call_ended", 28.0),
    ]
    assert all(e.call_id == call_id for e in rec.events)

    incoming = rec.one(IncomingCall)
    assert (incoming.from_number, incoming.to_number) == ("+8613812345678", "10086")
    assert rec.one(PlaybackFinished).reason is PlaybackReason.COMPLETED
    assert rec.one(DigitsReceived).digit == "2"
    collected = rec.one(DigitsCollected)
    assert (collected.digits, collected.reason) == ("2", CollectReason.MAX_DIGITS)
    assert ctl.menu_choice[call_id] == "2"
    ringing = rec.one(LegRinging)
    assert (ringing.role, ringing.target) == (LegRole.AGENT, "endpoint:agent-1")
    answered = rec.of(LegAnswered)
    assert [a.role for a in answered] == [LegRole.CUSTOMER, LegRole.AGENT]
    assert answered[1].leg_id == ringing.leg_id

    created, left, destroyed = rec.of(BridgeChanged)
    assert (created.change, left.change, destroyed.change) == ("created", "left", "destroyed")
    assert set(created.leg_ids) == {incoming.leg_id, ringing.leg_id}
    assert left.leg_id == incoming.leg_id and left.leg_ids == (ringing.leg_id,)

    customer_gone, agent_gone = rec.of(LegHungUp)
    assert (customer_gone.leg_id, customer_gone.side, customer_gone.cause) == (
        incoming.leg_id,
        HangupSide.REMOTE,
        HangupCause.NORMAL,
    )
    assert customer_gone.answered
    assert (agent_gone.leg_id, agent_gone.side) == (ringing.leg_id, HangupSide.LOCAL)
    assert rec.one(CallEnded).duration == 28.0

    started, stopped = rec.one(RecordingStarted), rec.one(RecordingStopped)
    assert started.path == stopped.path and stopped.path is not None
    assert Path(stopped.path).is_relative_to(tmp_path / "2023" / "11" / "14")
    assert (stopped.duration, stopped.channels, stopped.sample_rate, stopped.encoding) == (
        20.0,
        2,
        8000,
        "mulaw",
    )
    assert stopped.paused_intervals == ()
    assert stopped.size_bytes == Path(stopped.path).stat().st_size

    # Independent header check: G.711 μ-law WAV (format tag 7), 2 channels, 8 kHz, 8 bits.
    raw = Path(stopped.path).read_bytes()
    assert raw[:4] == b"RIFF" and raw[8:12] == b"WAVE" and raw[12:16] == b"fmt "
    tag, channels, rate, byte_rate, align, bits = struct.unpack("<HHIIHH", raw[20:36])
    assert (tag, channels, rate, byte_rate, align, bits) == (7, 2, 8000, 16000, 2, 8)
    info, samples = read_wav(stopped.path)
    assert info.duration == 20.0 and samples.shape == (160_000, 2)
    assert stopped.size_bytes < 20 * 16_000 + 100  # compact: 16 kB per second of stereo audio
    talk = window(samples, 8000, 2.0, 18.0)
    assert abs(tone_of(talk[:, 0], 8000) - 440) < 2
    assert abs(tone_of(talk[:, 1], 8000) - 660) < 2

    # Snapshots agree with the events.
    info_call = pbx.get_call(call_id)
    assert info_call.ended_at == T0 + 28
    assert [leg.state for leg in info_call.legs] == [LegState.ENDED, LegState.ENDED]
    assert info_call.recording_id == started.recording_id
    assert pbx.get_recording(started.recording_id).duration == 20.0
    assert pbx.stats.calls_active == 0 and pbx.stats.calls_ended == 1

    # Every event survives a round trip through its dict form.
    for event in rec.events:
        assert event_from_dict(event.to_dict()) == event


def test_events_are_never_delivered_inside_a_command() -> None:
    clock, pbx = make_pbx()
    seen: list[str] = []
    pbx.subscribe(lambda e: seen.append(e.type))
    pbx.place_call(SimulatedCaller())
    clock.advance(0)
    leg = pbx.get_call(pbx.active_call_ids()[0]).legs[0].leg_id
    seen.clear()
    pbx.answer(leg)
    assert seen == []  # delivered later, at the same virtual instant
    clock.advance(0)
    assert seen == ["telephony.leg_answered"]


def test_caller_abandons_while_parked_after_patience() -> None:
    clock, pbx = make_pbx()
    rec = Recorder(pbx)

    def on_event(ev: object) -> None:
        if isinstance(ev, IncomingCall):
            clock.call_later(2.0, pbx.answer, ev.leg_id)  # rings 2 s before we answer
        elif isinstance(ev, LegAnswered):
            pbx.park(ev.leg_id)  # …and nobody ever comes

    pbx.subscribe(on_event)
    pbx.place_call(SimulatedCaller(patience=30.0))
    clock.run()
    gone = rec.one(LegHungUp)
    # Patience counts the 2 s of ringing and the 28 s parked.
    assert gone.at == T0 + 30.0
    assert (gone.role, gone.side, gone.cause, gone.answered) == (
        LegRole.CUSTOMER,
        HangupSide.REMOTE,
        HangupCause.NORMAL,
        True,
    )
    assert rec.types()[-1] == "call_ended"


def test_caller_gives_up_before_answer() -> None:
    clock, pbx = make_pbx()
    rec = Recorder(pbx)
    pbx.place_call(SimulatedCaller(patience=12.0))
    clock.run()
    gone = rec.one(LegHungUp)
    assert (gone.at, gone.cause, gone.answered) == (T0 + 12.0, HangupCause.CANCELLED, False)


def test_caller_hangs_up_during_ivr_prompt() -> None:
    clock, pbx = make_pbx()
    rec = Recorder(pbx)
    pbx.register_device("agent-1", AgentBehaviour())
    IvrController(pbx, ["agent-1"])
    pbx.place_call(SimulatedCaller(hangup_after=2.5))
    clock.run()
    assert rec.timeline() == [
        ("incoming_call", 0.0),
        ("leg_answered", 0.0),
        ("playback_finished", 2.5),
        ("leg_hung_up", 2.5),
        ("call_ended", 2.5),
    ]
    assert rec.one(PlaybackFinished).reason is PlaybackReason.HANGUP


def test_caller_hangs_up_at_a_digit_prompt_and_collection_reports_hangup() -> None:
    clock, pbx = make_pbx()
    rec = Recorder(pbx)
    pbx.register_device("agent-1", AgentBehaviour())
    IvrController(pbx, ["agent-1"])
    pbx.place_call(SimulatedCaller(digits=[HANGUP], digit_delay=2.0))
    clock.run()
    collected = rec.one(DigitsCollected)
    assert (collected.reason, collected.at) == (CollectReason.HANGUP, T0 + 6.0)
    assert rec.types()[-2:] == ["leg_hung_up", "call_ended"]


def test_digit_collection_terminator_timeout_and_typeahead() -> None:
    clock, pbx = make_pbx()
    rec = Recorder(pbx)
    seen_requests: list[DigitRequest] = []

    def script(req: DigitRequest) -> str | None:
        seen_requests.append(req)
        return ["1234#", "98", None][req.index]

    pbx.place_call(SimulatedCaller(digits=script, digit_delay=0.5, inter_digit_delay=0.2, talk_time=None))
    clock.advance(0)
    leg = rec.one(IncomingCall).leg_id
    pbx.answer(leg)
    first = pbx.collect_digits(
        leg, max_digits=8, terminator="#", first_digit_timeout=5, inter_digit_timeout=2
    )
    clock.advance(10)
    second = pbx.collect_digits(leg, max_digits=8, first_digit_timeout=5, inter_digit_timeout=2)
    clock.advance(10)
    third = pbx.collect_digits(leg, max_digits=1, first_digit_timeout=4)
    clock.advance(10)
    # Digits pressed while nothing collects are typed ahead and used by the next collection.
    pbx.remote_press(leg, "7")
    clock.advance(1)
    fourth = pbx.collect_digits(leg, max_digits=1)
    clock.advance(0)
    results = {c.collect_id: (c.digits, c.reason, round(c.at - T0, 3)) for c in rec.of(DigitsCollected)}
    assert results[first] == ("1234", CollectReason.TERMINATOR, 0.5 + 4 * 0.2)
    assert results[second] == ("98", CollectReason.TIMEOUT, 10 + 0.5 + 0.2 + 2.0)
    assert results[third] == ("", CollectReason.TIMEOUT, 20 + 4.0)
    assert results[fourth] == ("7", CollectReason.MAX_DIGITS, 31.0)
    assert [r.index for r in seen_requests] == [0, 1, 2]
    assert seen_requests[0].max_digits == 8 and seen_requests[0].terminator == "#"
    pbx.hangup(leg)
    clock.run()


def test_barge_in_interrupts_an_interruptible_prompt() -> None:
    clock, pbx = make_pbx()
    rec = Recorder(pbx)
    pbx.place_call(SimulatedCaller(digits=["3"], barge_in=True, digit_delay=1.0, talk_time=None))
    clock.advance(0)
    leg = rec.one(IncomingCall).leg_id
    pbx.answer(leg)
    pbx.play(leg, Prompt.of("menu"), interruptible=True)
    pbx.play(leg, Prompt.tts("请按键", language="zh-CN"), interruptible=False)  # queued
    clock.advance(1.0)
    finished = rec.of(PlaybackFinished)
    assert len(finished) == 1
    assert (finished[0].reason, finished[0].digit, finished[0].at) == (
        PlaybackReason.INTERRUPTED,
        "3",
        T0 + 1,
    )
    collect = pbx.collect_digits(leg, max_digits=1)
    clock.advance(5)
    collected = rec.one(DigitsCollected)
    assert (collected.collect_id, collected.digits, collected.at) == (collect, "3", T0 + 1)
    second = rec.of(PlaybackFinished)[1]
    assert second.prompt == "tts:请按键" and second.reason is PlaybackReason.COMPLETED
    # A TTS prompt lasts in proportion to its text: 0.3 s + 3 characters / 4.5 per second.
    assert abs(second.at - (T0 + 1 + 0.3 + 3 / 4.5)) < 0.01
    pbx.hangup(leg)
    clock.run()


def test_prompt_length_from_a_real_wav_file(tmp_path: Path) -> None:
    import wave

    import numpy as np

    path = tmp_path / "greeting.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.zeros(8000 * 5 // 2, dtype="<i2").tobytes())
    clock, pbx = make_pbx()
    rec = Recorder(pbx)
    assert pbx.register_prompt("greeting", path=path) == 2.5
    pbx.place_call(SimulatedCaller(talk_time=None))
    clock.advance(0)
    leg = rec.one(IncomingCall).leg_id
    pbx.answer(leg)
    pbx.play(leg, Prompt.file(path))
    pbx.play(leg, Prompt.of("greeting"))
    clock.advance(10)
    assert [round(e.at - T0, 3) for e in rec.of(PlaybackFinished)] == [2.5, 5.0]
    pbx.hangup(leg)
    clock.run()
