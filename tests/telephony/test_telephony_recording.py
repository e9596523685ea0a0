"""Recording: real stereo WAV files whose content follows who was audible when."""

from __future__ import annotations

import warnings
import wave
from pathlib import Path

import numpy as np
import pytest

from kefu.telephony import (
    AgentBehaviour,
    AudioEncoding,
    CallStateError,
    EndpointTarget,
    ExternalParty,
    IncomingCall,
    LegAnswered,
    LegRole,
    NumberTarget,
    RecordingPaused,
    RecordingResumed,
    RecordingStopped,
    SimulatedCaller,
    SimulatedPBX,
    mulaw_decode,
    mulaw_encode,
    read_wav,
    read_wav_info,
)
from kefu.telephony.audio import ToneSegment, write_tone_wav
from telephony.telephony_harness import Recorder, make_pbx, rms, tone_of, window

SR = 8000


def _bridged_call(pbx: SimulatedPBX, clock, rec: Recorder) -> tuple[str, str, str]:
    """A caller answered and bridged with agent-1 at T0 + 1; returns (call, customer, agent)."""
    pbx.register_device("agent-1", AgentBehaviour(answer_after=1.0))
    pbx.place_call(SimulatedCaller(talk_time=None, idle_hangup_after=None))
    clock.advance(0)
    incoming = rec.one(IncomingCall)
    pbx.answer(incoming.leg_id)
    agent = pbx.originate_agent_leg(incoming.call_id, "agent-1")
    clock.advance(1.0)
    pbx.bridge([incoming.leg_id, agent])
    return incoming.call_id, incoming.leg_id, agent


def test_hold_mute_and_pause_shape_both_channels(tmp_path: Path) -> None:
    clock, pbx = make_pbx(tmp_path)
    rec = Recorder(pbx)
    call_id, customer, agent = _bridged_call(pbx, clock, rec)
    pbx.start_recording(call_id)  # t = 1; offsets below are from here
    clock.advance(4)  # 0–4 talk
    pbx.hold(customer)
    clock.advance(3)  # 4–7 customer on hold: both silent
    pbx.resume(customer)
    clock.advance(3)  # 7–10 talk
    pbx.mute(agent)
    clock.advance(3)  # 10–13 agent muted: left only
    pbx.unmute(agent)
    clock.advance(2)  # 13–15 talk
    pbx.pause_recording(call_id)
    clock.advance(5)  # 15–20 paused (card number): silence on both channels
    pbx.resume_recording(call_id)
    clock.advance(4)  # 20–24 talk
    pbx.stop_recording(call_id)
    clock.advance(0)

    assert rec.one(RecordingPaused).offset == 15.0
    assert rec.one(RecordingResumed).offset == 20.0
    stopped = rec.one(RecordingStopped)
    assert stopped.duration == 24.0
    assert stopped.paused_intervals == ((15.0, 20.0),)
    info, samples = read_wav(stopped.path)
    assert (info.channels, info.sample_rate, info.encoding, info.duration) == (2, SR, "mulaw", 24.0)
    left, right = samples[:, 0], samples[:, 1]

    def check(start: float, end: float, left_hz: float | None, right_hz: float | None) -> None:
        for channel, hz in ((left, left_hz), (right, right_hz)):
            part = window(channel, SR, start + 0.1, end - 0.1)
            if hz is None:
                assert rms(part) < 50, (start, end)
            else:
                assert rms(part) > 3000, (start, end)
                assert abs(tone_of(part, SR) - hz) < 2, (start, end)

    check(0, 4, 440, 660)
    check(4, 7, None, None)  # hold
    check(7, 10, 440, 660)
    check(10, 13, 440, None)  # agent muted
    check(13, 15, 440, 660)
    check(15, 20, None, None)  # paused
    check(20, 24, 440, 660)

    # Hold and mute are also visible in snapshots while they last; the recording is finished.
    assert pbx.get_recording(stopped.recording_id).paused_intervals == ((15.0, 20.0),)
    with pytest.raises(CallStateError) as err:
        pbx.stop_recording(call_id)
    assert err.value.code == "not_recording"
    pbx.hangup_call(call_id)
    clock.run()


def test_pcm16_recording_reads_back_with_the_stdlib_wave_module(tmp_path: Path) -> None:
    clock, pbx = make_pbx(tmp_path, recording_encoding="pcm16")
    rec = Recorder(pbx)
    call_id, customer, agent = _bridged_call(pbx, clock, rec)
    pbx.start_recording(call_id)
    clock.advance(3)
    pbx.hangup(customer)  # the recording stops by itself when the call ends
    clock.advance(0)
    pbx.hangup(agent)
    clock.run()
    stopped = rec.one(RecordingStopped)
    assert stopped.encoding == "pcm16" and stopped.duration == 3.0
    with wave.open(stopped.path, "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (2, 2, SR, 3 * SR)
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    assert abs(tone_of(frames[:, 0], SR) - 440) < 2
    assert abs(tone_of(frames[:, 1], SR) - 660) < 2
    assert stopped.size_bytes == 44 + 3 * SR * 4


def test_recording_a_conference_puts_all_non_customer_parties_on_the_right(tmp_path: Path) -> None:
    clock, pbx = make_pbx(tmp_path)
    pbx.register_number("95598", ExternalParty(answer_after=1.0))
    rec = Recorder(pbx)
    call_id, customer, _agent = _bridged_call(pbx, clock, rec)
    bridge_id = pbx.get_leg(customer).bridge_id
    pbx.start_recording(call_id)
    clock.advance(2)
    guest = pbx.originate_leg(call_id, NumberTarget("95598"))
    clock.advance(1)
    pbx.add_to_bridge(bridge_id, guest)
    clock.advance(3)
    pbx.stop_recording(call_id)
    pbx.hangup_call(call_id)
    clock.run()
    _, samples = read_wav(rec.one(RecordingStopped).path)
    spectrum = np.abs(np.fft.rfft(window(samples[:, 1], SR, 3.5, 5.5)))
    freqs = np.fft.rfftfreq(2 * SR, 1 / SR)
    peaks = sorted(float(freqs[i]) for i in np.argsort(spectrum)[-2:])
    assert peaks == [550.0, 660.0]  # agent + external guest
    assert abs(tone_of(window(samples[:, 0], SR, 3.5, 5.5), SR) - 440) < 2
    assert abs(tone_of(window(samples[:, 1], SR, 0.5, 2.5), SR) - 660) < 2


def test_recording_disabled_writes_no_audio_but_reports_metadata(tmp_path: Path) -> None:
    clock, pbx = make_pbx(tmp_path, recording_enabled=False)
    rec = Recorder(pbx)
    call_id, _customer, _agent = _bridged_call(pbx, clock, rec)
    pbx.start_recording(call_id)
    clock.advance(5)
    pbx.hangup_call(call_id)
    clock.run()
    stopped = rec.one(RecordingStopped)
    assert (stopped.path, stopped.size_bytes, stopped.duration) == (None, 0, 5.0)
    assert list(tmp_path.iterdir()) == []


def test_recording_commands_validate_state(tmp_path: Path) -> None:
    clock, pbx = make_pbx(tmp_path)
    rec = Recorder(pbx)
    call_id, _, _ = _bridged_call(pbx, clock, rec)
    with pytest.raises(CallStateError) as err:
        pbx.pause_recording(call_id)
    assert err.value.code == "not_recording"
    pbx.start_recording(call_id)
    with pytest.raises(CallStateError) as err:
        pbx.start_recording(call_id)
    assert err.value.code == "recording_active"
    with pytest.raises(CallStateError) as err:
        pbx.resume_recording(call_id)
    assert err.value.code == "recording_not_paused"
    pbx.pause_recording(call_id)
    with pytest.raises(CallStateError) as err:
        pbx.pause_recording(call_id)
    assert err.value.code == "recording_paused"
    clock.advance(2)
    pbx.hangup_call(call_id)  # stopping while paused closes the paused interval
    clock.run()
    assert rec.one(RecordingStopped).paused_intervals == ((0.0, 2.0),)


def test_consultation_is_recorded_with_the_customer_silent(tmp_path: Path) -> None:
    clock, pbx = make_pbx(tmp_path)
    pbx.register_device("agent-2", AgentBehaviour(answer_after=1.0))
    rec = Recorder(pbx)
    call_id, customer, _agent = _bridged_call(pbx, clock, rec)
    pbx.start_recording(call_id)
    clock.advance(2)
    handle = pbx.start_attended_transfer(customer, EndpointTarget("agent-2"))
    clock.advance(4)  # 2–3 ringing, 3–6 agent-1 consults agent-2
    pbx.complete_attended_transfer(handle.transfer_id)
    clock.advance(2)
    pbx.stop_recording(call_id)
    pbx.hangup_call(call_id)
    clock.run()
    _, samples = read_wav(rec.one(RecordingStopped).path)
    assert rms(window(samples[:, 0], SR, 3.2, 5.8)) < 50
    consult = window(samples[:, 1], SR, 3.2, 5.8)
    spectrum = np.abs(np.fft.rfft(consult))
    freqs = np.fft.rfftfreq(consult.size, 1 / SR)
    assert sorted(round(float(freqs[i])) for i in np.argsort(spectrum)[-2:]) == [660, 880]
    after = window(samples, SR, 6.2, 7.8)
    assert abs(tone_of(after[:, 0], SR) - 440) < 2
    assert abs(tone_of(after[:, 1], SR) - 880) < 2  # the consulted party, now alone with the customer
    assert [e.role for e in rec.of(LegAnswered)] == [LegRole.CUSTOMER, LegRole.AGENT, LegRole.CONSULT]


def test_mulaw_codec_agrees_with_the_stdlib_reference() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop  # stdlib G.711 (deprecated, still in 3.11/3.12)
    every = np.arange(-32768, 32768, dtype=np.int16)
    ours = mulaw_encode(every)
    ref = np.frombuffer(audioop.lin2ulaw(every.tobytes(), 2), dtype=np.uint8)
    # Decoding is one fixed table: identical.
    codes = np.arange(256, dtype=np.uint8)
    assert np.array_equal(
        mulaw_decode(codes), np.frombuffer(audioop.ulaw2lin(codes.tobytes(), 2), dtype=np.int16)
    )
    # Encoding: identical for x >= 0. For negative x audioop shifts before taking the magnitude
    # (rounding towards -inf), we take the magnitude first (sign-magnitude symmetric, as the
    # 16-bit Sun g711.c); the two differ by one code at some decision boundaries, no more.
    positive = every >= 0
    assert np.array_equal(ours[positive], ref[positive])
    assert np.abs(ours.astype(int) - ref.astype(int)).max() <= 1
    x = np.arange(1, 32768, dtype=np.int16)
    assert np.array_equal(mulaw_encode(-x), mulaw_encode(x) ^ 0x80)
    error = np.abs(mulaw_decode(ours).astype(int) - every)
    ref_error = np.abs(mulaw_decode(ref).astype(int) - every)
    assert error.max() <= ref_error.max()


def test_tone_writer_is_exact_about_length_and_silence(tmp_path: Path) -> None:
    path = tmp_path / "x" / "tones.wav"
    size = write_tone_wav(
        path,
        duration=2.5,
        segments=[ToneSegment(0.5, 1.0, (440,), ()), ToneSegment(1.5, 9.0, (), (660,))],
        encoding=AudioEncoding.MULAW,
    )
    info = read_wav_info(path)
    assert (info.frames, info.format_tag, info.duration) == (20_000, 7, 2.5)
    assert size == path.stat().st_size == info.data_offset + info.data_size
    assert not list(path.parent.glob("*.part"))
    _, samples = read_wav(path)
    assert rms(window(samples[:, 0], SR, 0.0, 0.5)) == 0.0
    assert rms(window(samples[:, 0], SR, 0.5, 1.0)) > 5000
    assert rms(window(samples[:, 1], SR, 0.0, 1.5)) == 0.0
    assert abs(tone_of(window(samples[:, 1], SR, 1.5, 2.5), SR) - 660) < 2


def test_recording_file_lives_under_the_date_of_the_call(tmp_path: Path) -> None:
    clock, pbx = make_pbx(tmp_path)
    rec = Recorder(pbx)
    call_id, _, _ = _bridged_call(pbx, clock, rec)
    rid = pbx.start_recording(call_id)
    pbx.hangup_call(call_id)
    clock.run()
    assert rec.one(RecordingStopped).path == str(tmp_path / "2023/11/14" / f"{rid}.wav")
