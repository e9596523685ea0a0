"""The simulated PBX: the telephony port implemented entirely in-process.

A product feature, not a test helper: it drives demos (a person in the browser works calls on a
simulated softphone), load tests and what-if simulations (a day of traffic in virtual time). It
behaves like the B2BUA + media server the real adapter drives (calls, legs, bridges, prompts,
DTMF, music on hold, recording, B2BUA-made transfers) and is deterministic under a
:class:`~kefu.core.time.VirtualClock`: the same seed and script give the same events, ids and
recording bytes.

The world around the PBX is scripted:

* :class:`SimulatedCaller` — someone who dials a DID (:meth:`SimulatedPBX.place_call`), presses
  scripted digits when asked, waits with limited patience, talks for a while once connected and
  hangs up; registered with :meth:`SimulatedPBX.register_number` the same script answers (or not)
  when called back.
* Agent devices (:meth:`SimulatedPBX.register_device`) — softphones that ring when an agent leg is
  originated, driven either by an :class:`AgentBehaviour` (answer after a ring delay, reject, let
  it ring, talk for a handle time) or by a human through ``device_answer`` / ``device_reject`` /
  ``device_hangup`` / ``device_press``.
* :class:`ExternalParty` — remote numbers for transfers and outbound calls (answer after a delay,
  busy, no answer, reject).

Everything runs on clock timers (no polling); each call costs a few dicts and timers, so hundreds
of concurrent calls are cheap. Ended calls are kept for ``retain_ended_calls`` calls (for
snapshots and late commands) and then forgotten, so a million-call simulation runs in constant
memory (with ``recording_enabled=False`` it writes no audio either).
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import math
import random
import re
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

from kefu.core.time import Clock, TimerHandle, to_datetime
from kefu.telephony.audio import AudioEncoding, ToneSegment, read_wav_info, write_tone_wav
from kefu.telephony.port import (
    BridgeChange,
    BridgeChanged,
    BridgeInfo,
    CallEnded,
    CallInfo,
    CallStateError,
    Capability,
    CollectReason,
    DeviceStateError,
    DigitsCollected,
    DigitsReceived,
    Direction,
    DtmfSent,
    EndpointTarget,
    EventHandler,
    HangupCause,
    HangupSide,
    IncomingCall,
    InvalidArgumentError,
    LegAnswered,
    LegFailed,
    LegHeld,
    LegHungUp,
    LegInfo,
    LegMuted,
    LegParked,
    LegResumed,
    LegRinging,
    LegRole,
    LegState,
    LegStateError,
    LegUnmuted,
    LegUnparked,
    NotSupportedError,
    NumberTarget,
    Originated,
    PlaybackFinished,
    PlaybackReason,
    Prompt,
    RecordingPaused,
    RecordingResumed,
    RecordingStarted,
    RecordingStopped,
    Target,
    TelephonyEvent,
    TransferCancelled,
    TransferCompleted,
    TransferFailed,
    TransferHandle,
    TransferKind,
    TransferStarted,
    TransferStateError,
    UnknownBridgeError,
    UnknownCallError,
    UnknownCollectError,
    UnknownEndpointError,
    UnknownLegError,
    UnknownPlaybackError,
    UnknownRecordingError,
    UnknownTransferError,
    validate_dtmf,
)

__all__ = [
    "HANGUP",
    "AgentBehaviour",
    "DeviceInfo",
    "DigitRequest",
    "ExternalParty",
    "PBXStats",
    "PartyBehaviour",
    "RecordingInfo",
    "SimulatedCaller",
    "SimulatedPBX",
    "estimate_speech_seconds",
    "poisson_callers",
]

log = logging.getLogger(__name__)

_E = TypeVar("_E", bound=enum.Enum)

DEFAULT_TONES: Mapping[LegRole, int] = {
    LegRole.CUSTOMER: 440,
    LegRole.AGENT: 660,
    LegRole.CONSULT: 880,
    LegRole.EXTERNAL: 550,
}
"""The tone (Hz) that stands for each role's speech in recordings."""

_BUFFER_MAX = 32
_DIALLING = (LegState.DIALING, LegState.RINGING)
_TONE_GAP = 0.05


# --------------------------------------------------------------------------------------------
# Scripts for the simulated world
# --------------------------------------------------------------------------------------------


class _HangUp:
    __slots__ = ()

    def __repr__(self) -> str:
        return "HANGUP"


HANGUP: Final = _HangUp()
"""In a caller's digit script: hang up instead of pressing digits at that prompt."""

DigitEntry = str | None | _HangUp


@dataclass(frozen=True, slots=True)
class DigitRequest:
    """What a digit script callable is told when the caller is asked for digits."""

    index: int
    """0 for the first collection on this leg, 1 for the next, …"""
    call_id: str
    leg_id: str
    max_digits: int
    terminator: str | None
    at: float


def _check_delay(name: str, value: float | None, *, allow_none: bool = True) -> None:
    if value is None:
        if not allow_none:
            raise InvalidArgumentError(f"{name} is required")
        return
    if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise InvalidArgumentError(f"{name} must be a finite number of seconds >= 0, not {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class PartyBehaviour:
    """How a simulated person reacts on a leg. All times in seconds; None disables that rule."""

    answer_after: float | None = 2.0
    """When called: answer (or reject, if ``reject``) after ringing this long; None: never
    answer (the leg rings until ``no_answer_after`` or the caller's originate timeout)."""
    no_answer_after: float | None = None
    """When called and not answering: the far end gives up after this long (cause no_answer)."""
    busy: bool = False
    """When called: answer busy at once."""
    reject: bool = False
    """When called: decline after ``answer_after``."""
    talk_time: float | None = None
    """Hang up after being connected (bridged, not on hold) this long in total; None: stay
    until left alone. For agents this is the handle time."""
    idle_hangup_after: float | None = 1.0
    """Hang up after this long with nothing happening on an answered leg (no bridge, prompt,
    digit collection, music on hold or transfer, and no other leg of the call being dialled):
    dead air, or the other side went away."""
    hangup_after: float | None = None
    """Hang up this long after the leg was answered, whatever is happening (e.g. during IVR)."""

    def __post_init__(self) -> None:
        for name in ("answer_after", "no_answer_after", "talk_time", "idle_hangup_after", "hangup_after"):
            _check_delay(name, getattr(self, name))


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentBehaviour(PartyBehaviour):
    """A simulated agent at a softphone: answers after ``answer_after`` seconds of ringing, talks
    until the caller hangs up (or for ``talk_time``, the handle time), hangs up when left alone."""

    @classmethod
    def rejecting(cls, after: float = 1.0) -> AgentBehaviour:
        return cls(answer_after=after, reject=True)

    @classmethod
    def not_answering(cls, gives_up_after: float | None = None) -> AgentBehaviour:
        """Lets it ring; with ``gives_up_after`` the phone itself ends it (cause no_answer)."""
        return cls(answer_after=None, no_answer_after=gives_up_after)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExternalParty(PartyBehaviour):
    """A remote number (transfer target, outbound destination)."""

    answer_after: float | None = 3.0

    @classmethod
    def busy_line(cls) -> ExternalParty:
        return cls(busy=True)

    @classmethod
    def not_answering(cls, gives_up_after: float | None = None) -> ExternalParty:
        return cls(answer_after=None, no_answer_after=gives_up_after)


DigitScript = Sequence[DigitEntry] | Callable[[DigitRequest], DigitEntry]


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatedCaller(PartyBehaviour):
    """A customer. Dials ``to_number`` from ``from_number`` at ``dial_at`` (None: now).

    ``digits``: what to press at each digit collection, in order — a string of digits, None
    (press nothing: the collection times out) or :data:`HANGUP`; or a callable given a
    :class:`DigitRequest`. The caller waits for the prompt playing on its leg to finish
    (``barge_in``: presses during interruptible prompts), thinks ``digit_delay``, then presses
    one digit every ``inter_digit_delay``.

    ``patience``: total time the caller will wait unanswered or parked (in queue) before hanging
    up (abandoning). ``talk_time``: connected time after which the caller hangs up.

    Registered with :meth:`SimulatedPBX.register_number`, the same script is the callee of
    outbound calls: ``answer_after=None`` never answers, ``busy`` is busy.
    """

    from_number: str = "+8613800000000"
    to_number: str = "10086"
    dial_at: float | None = None
    answer_after: float | None = 3.0
    talk_time: float | None = 60.0
    idle_hangup_after: float | None = 10.0
    patience: float | None = None
    digits: DigitScript = ()
    digit_delay: float = 1.0
    inter_digit_delay: float = 0.3
    barge_in: bool = False
    label: str = ""

    def __post_init__(self) -> None:
        PartyBehaviour.__post_init__(self)
        _check_delay("patience", self.patience)
        _check_delay("digit_delay", self.digit_delay, allow_none=False)
        _check_delay("inter_digit_delay", self.inter_digit_delay, allow_none=False)
        if self.dial_at is not None and not math.isfinite(self.dial_at):
            raise InvalidArgumentError("dial_at must be finite")
        if not callable(self.digits):
            if isinstance(self.digits, str):
                raise InvalidArgumentError("digits must be a list of entries, e.g. ['2', '1234#']")
            for entry in self.digits:
                _check_entry(entry)


def _enum(cls: type[_E], value: object, name: str) -> _E:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(m.value for m in cls)  # type: ignore[attr-defined]
        raise InvalidArgumentError(f"{name} must be one of {allowed}, not {value!r}") from None


def _check_entry(entry: object) -> DigitEntry:
    if entry is None or entry is HANGUP:
        return entry  # type: ignore[return-value]
    if isinstance(entry, str):
        return validate_dtmf(entry)
    raise InvalidArgumentError(f"a digit script entry must be digits, None or HANGUP, not {entry!r}")


def poisson_callers(
    *,
    rate_per_hour: float,
    start: float,
    end: float,
    template: SimulatedCaller,
    seed: int = 0,
    vary: bool = True,
) -> Iterator[SimulatedCaller]:
    """Callers arriving as a Poisson process between ``start`` and ``end``, for
    :meth:`SimulatedPBX.place_calls`. With ``vary``, each caller's ``talk_time`` and ``patience``
    are drawn from exponential distributions with the template's values as means, and the
    calling numbers are random mobile numbers. Deterministic for a given ``seed``."""
    if rate_per_hour <= 0:
        raise InvalidArgumentError("rate_per_hour must be positive")
    rng = random.Random(seed)
    t = start
    mean_gap = 3600.0 / rate_per_hour
    while True:
        t += rng.expovariate(1.0 / mean_gap)
        if t >= end:
            return
        changes: dict[str, Any] = {"dial_at": t}
        if vary:
            changes["from_number"] = f"+86138{rng.randrange(10**8):08d}"
            if template.talk_time is not None:
                changes["talk_time"] = max(1.0, rng.expovariate(1.0 / template.talk_time))
            if template.patience is not None:
                changes["patience"] = max(1.0, rng.expovariate(1.0 / template.patience))
        yield dataclasses.replace(template, **changes)


_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
_WORD = re.compile(r"[A-Za-z0-9]+")


def estimate_speech_seconds(text: str) -> float:
    """How long TTS takes to say ``text``: ~4.5 Chinese characters or ~2.7 words a second."""
    cjk = len(_CJK.findall(text))
    words = len(_WORD.findall(_CJK.sub(" ", text)))
    return round(0.3 + cjk / 4.5 + words / 2.7, 3)


# --------------------------------------------------------------------------------------------
# Read models specific to the simulated PBX
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingInfo:
    recording_id: str
    call_id: str
    path: str | None
    encoding: str
    sample_rate: int
    channels: int
    started_at: float
    stopped_at: float | None
    duration: float | None
    paused: bool
    paused_intervals: tuple[tuple[float, float], ...]
    size_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceInfo:
    endpoint_id: str
    registered: bool
    behaviour: AgentBehaviour | None
    """None: a human drives it (``device_answer`` etc.)."""
    max_calls: int
    ringing_leg_ids: tuple[str, ...]
    active_leg_ids: tuple[str, ...]


@dataclass(slots=True)
class PBXStats:
    calls_placed: int = 0
    calls_active: int = 0
    calls_peak: int = 0
    calls_ended: int = 0
    legs_created: int = 0
    events_emitted: int = 0
    recordings_written: int = 0
    recording_bytes: int = 0
    handler_errors: int = 0


# --------------------------------------------------------------------------------------------
# Internal state
# --------------------------------------------------------------------------------------------


class _Budget:
    """A time budget that only runs while a condition holds (patience, talk time)."""

    __slots__ = ("callback", "handle", "remaining", "since")

    def __init__(self, seconds: float, callback: Callable[[_Leg], None]) -> None:
        self.remaining = seconds
        self.callback = callback
        self.handle: TimerHandle | None = None
        self.since = 0.0

    def run(self, clock: Clock, want: bool, leg: _Leg) -> None:
        if want:
            if self.handle is None:
                self.since = clock.now()
                self.handle = clock.call_later(max(0.0, self.remaining), self._fire, leg)
        elif self.handle is not None:
            self.remaining -= clock.now() - self.since
            self.handle.cancel()
            self.handle = None

    def _fire(self, leg: _Leg) -> None:
        self.handle = None
        self.remaining = 0.0
        self.callback(leg)

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None


class _Call:
    __slots__ = (
        "bridges",
        "created_at",
        "direction",
        "ended_at",
        "from_number",
        "id",
        "last_recording",
        "legs",
        "live",
        "owned",
        "recording",
        "to_number",
        "transfers",
    )

    def __init__(
        self, call_id: str, direction: Direction, from_number: str | None, to_number: str | None, now: float
    ) -> None:
        self.id = call_id
        self.direction = direction
        self.from_number = from_number
        self.to_number = to_number
        self.created_at = now
        self.ended_at: float | None = None
        self.legs: list[_Leg] = []
        self.live = 0
        self.bridges: dict[str, _Bridge] = {}
        self.recording: _Recording | None = None
        self.last_recording: _Recording | None = None
        self.transfers: list[_Transfer] = []
        self.owned: list[str] = []  # playback/collect/transfer/recording ids to forget with the call


class _Leg:
    __slots__ = (
        "answered_at",
        "bridge",
        "buffer",
        "call",
        "collect",
        "collects_seen",
        "created_at",
        "device",
        "direction",
        "end_cause",
        "ended_at",
        "from_number",
        "held",
        "id",
        "idle_timer",
        "line",
        "muted",
        "originate_timer",
        "parked",
        "patience",
        "playbacks",
        "press_queue",
        "press_timer",
        "react_timer",
        "role",
        "script",
        "served",
        "state",
        "talk",
        "target",
        "timer_after_answer",
        "to_number",
        "transfer",
    )

    def __init__(
        self, leg_id: str, call: _Call, role: LegRole, direction: Direction, state: LegState, now: float
    ) -> None:
        self.id = leg_id
        self.call = call
        self.role = role
        self.direction = direction
        self.state = state
        self.created_at = now
        self.answered_at: float | None = None
        self.ended_at: float | None = None
        self.end_cause: HangupCause | None = None
        self.from_number: str | None = None
        self.to_number: str | None = None
        self.target: str | None = None
        self.bridge: _Bridge | None = None
        self.parked: str | None = None
        self.held = False
        self.muted = False
        self.transfer: _Transfer | None = None
        self.playbacks: deque[_Playback] = deque()
        self.collect: _Collect | None = None
        self.buffer: list[str] = []
        self.script: PartyBehaviour | None = None
        self.device: _Device | None = None
        self.line: _Line | None = None
        self.originate_timer: TimerHandle | None = None
        self.react_timer: TimerHandle | None = None
        self.idle_timer: TimerHandle | None = None
        self.timer_after_answer: TimerHandle | None = None
        self.press_timer: TimerHandle | None = None
        self.press_queue: deque[str] = deque()
        self.patience: _Budget | None = None
        self.talk: _Budget | None = None
        self.collects_seen = 0
        self.served: str | None = None  # id of the collection/playback the caller already answered

    @property
    def live(self) -> bool:
        return self.state is not LegState.ENDED


class _Bridge:
    __slots__ = ("call", "created_at", "id", "legs", "transfer")

    def __init__(self, bridge_id: str, call: _Call, legs: list[_Leg], now: float) -> None:
        self.id = bridge_id
        self.call = call
        self.legs = legs
        self.created_at = now
        self.transfer: _Transfer | None = None


class _Playback:
    __slots__ = ("done", "duration", "id", "interruptible", "leg", "prompt", "started", "timer")

    def __init__(self, pid: str, leg: _Leg, prompt: Prompt, interruptible: bool, duration: float) -> None:
        self.id = pid
        self.leg = leg
        self.prompt = prompt
        self.interruptible = interruptible
        self.duration = duration
        self.started = False
        self.done = False
        self.timer: TimerHandle | None = None


class _Collect:
    __slots__ = (
        "digits",
        "done",
        "first_timeout",
        "id",
        "inter_timeout",
        "leg",
        "max_digits",
        "terminator",
        "timer",
    )

    def __init__(
        self,
        cid: str,
        leg: _Leg,
        max_digits: int,
        terminator: str | None,
        first_timeout: float,
        inter_timeout: float,
    ) -> None:
        self.id = cid
        self.leg = leg
        self.max_digits = max_digits
        self.terminator = terminator
        self.first_timeout = first_timeout
        self.inter_timeout = inter_timeout
        self.digits: list[str] = []
        self.done = False
        self.timer: TimerHandle | None = None


class _Transfer:
    __slots__ = (
        "call",
        "consult_bridge",
        "done",
        "id",
        "kind",
        "original_bridge_id",
        "target",
        "transferee",
        "transferor",
        "transferor_id",
    )

    def __init__(
        self, tid: str, kind: TransferKind, call: _Call, transferee: _Leg, transferor: _Leg | None
    ) -> None:
        self.id = tid
        self.kind = kind
        self.call = call
        self.transferee = transferee
        self.transferor = transferor  # None once gone (or never there)
        self.transferor_id = transferor.id if transferor else None
        self.target: _Leg = None  # type: ignore[assignment]  # set right after origination
        self.original_bridge_id: str | None = None
        self.consult_bridge: _Bridge | None = None
        self.done = False


class _Recording:
    __slots__ = (
        "audio",
        "call",
        "encoding",
        "id",
        "marks",
        "path",
        "paused",
        "paused_since",
        "size",
        "started_at",
        "stopped_at",
    )

    def __init__(self, rid: str, call: _Call, now: float, path: Path | None, encoding: AudioEncoding) -> None:
        self.id = rid
        self.call = call
        self.started_at = now
        self.stopped_at: float | None = None
        self.path = path
        self.audio = path is not None
        self.encoding = encoding
        self.paused: list[tuple[float, float]] = []
        self.paused_since: float | None = None
        self.marks: list[tuple[float, tuple[int, ...], tuple[int, ...]]] = []
        self.size = 0


class _Device:
    __slots__ = ("behaviour", "endpoint_id", "legs", "max_calls", "registered")

    def __init__(self, endpoint_id: str, behaviour: AgentBehaviour | None, max_calls: int) -> None:
        self.endpoint_id = endpoint_id
        self.behaviour = behaviour
        self.max_calls = max_calls
        self.registered = True
        self.legs: list[_Leg] = []


class _Line:
    __slots__ = ("legs", "max_calls", "number", "party")

    def __init__(self, number: str, party: PartyBehaviour, max_calls: int | None) -> None:
        self.number = number
        self.party = party
        self.max_calls = max_calls
        self.legs: list[_Leg] = []


# --------------------------------------------------------------------------------------------
# The PBX
# --------------------------------------------------------------------------------------------


class SimulatedPBX:
    """In-process PBX implementing :class:`~kefu.telephony.port.TelephonyPort`.

    ``recordings_dir``: where recording files go (``<dir>/YYYY/MM/DD/<recording_id>.wav``);
    None, or ``recording_enabled=False``, records metadata only and writes no audio.
    ``seed``: makes ids and anything random reproducible (simulation, tests); None (the default,
    for service) gives unpredictable uuid4 ids, so restarts never reuse call or recording ids.
    ``setup_delay``: signalling time from originate to ringing. ``default_prompt_duration``: for
    prompt ids with no registered duration and no file in ``prompts_dir``. ``default_external``:
    how unregistered numbers behave (None: unreachable). ``conference_size``: most legs in one
    bridge (2 disables conferences). ``retain_ended_calls``: ended calls kept for snapshots.
    ``raise_handler_errors``: re-raise an exception from an event handler after delivering the
    batch (tests); otherwise it is logged and counted.
    """

    def __init__(
        self,
        clock: Clock,
        recordings_dir: Path | str | None = None,
        *,
        seed: int | None = None,
        recording_enabled: bool = True,
        recording_encoding: AudioEncoding | str = AudioEncoding.MULAW,
        sample_rate: int = 8000,
        tones: Mapping[LegRole, int] | None = None,
        setup_delay: float = 0.0,
        default_prompt_duration: float = 3.0,
        prompts_dir: Path | str | None = None,
        default_external: ExternalParty | None = None,
        conference_size: int = 6,
        retain_ended_calls: int = 1000,
        raise_handler_errors: bool = False,
    ) -> None:
        _check_delay("setup_delay", setup_delay, allow_none=False)
        _check_delay("default_prompt_duration", default_prompt_duration, allow_none=False)
        if conference_size < 2:
            raise InvalidArgumentError("conference_size must be at least 2")
        self._clock = clock
        self.recordings_dir = Path(recordings_dir) if recordings_dir is not None else None
        self.recording_enabled = recording_enabled
        self.recording_encoding = AudioEncoding(recording_encoding)
        self.sample_rate = int(sample_rate)
        self.tones: dict[LegRole, int] = {**DEFAULT_TONES, **(tones or {})}
        self.setup_delay = float(setup_delay)
        self.default_prompt_duration = float(default_prompt_duration)
        self.prompts_dir = Path(prompts_dir) if prompts_dir is not None else None
        self.default_external = default_external
        self.conference_size = conference_size
        self.retain_ended_calls = retain_ended_calls
        self.raise_handler_errors = raise_handler_errors

        self._id_rng = random.Random(seed) if seed is not None else None
        self.rng = random.Random(None if seed is None else seed + 1)
        """For scripts that want randomness tied to the PBX's seed."""

        self._handlers: list[EventHandler] = []
        self._pending: deque[TelephonyEvent] = deque()
        self._drain_scheduled = False

        self._calls: dict[str, _Call] = {}
        self._ended_calls: deque[str] = deque()
        self._legs: dict[str, _Leg] = {}
        self._bridges: dict[str, _Bridge] = {}
        self._playbacks: dict[str, _Playback] = {}
        self._collects: dict[str, _Collect] = {}
        self._transfers: dict[str, _Transfer] = {}
        self._recordings: dict[str, _Recording] = {}
        self._devices: dict[str, _Device] = {}
        self._lines: dict[str, _Line] = {}
        self._prompt_durations: dict[str, float] = {}
        self._file_durations: dict[str, float] = {}
        self.stats = PBXStats()

    # ---------------------------------------------------------------------------- basics ----

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def capabilities(self) -> frozenset[Capability]:
        caps = set(Capability)
        if self.conference_size < 3:
            caps.discard(Capability.CONFERENCE)
        return frozenset(caps)

    def subscribe(self, handler: EventHandler) -> Callable[[], None]:
        self._handlers.append(handler)

        def unsubscribe() -> None:
            if handler in self._handlers:
                self._handlers.remove(handler)

        return unsubscribe

    def _new_id(self) -> str:
        if self._id_rng is None:
            return uuid.uuid4().hex  # service: unpredictable ids (os.urandom)
        return uuid.UUID(int=self._id_rng.getrandbits(128), version=4).hex

    def _now(self) -> float:
        return self._clock.now()

    def _emit(self, event: TelephonyEvent) -> None:
        self.stats.events_emitted += 1
        if not self._handlers:
            return
        self._pending.append(event)
        if not self._drain_scheduled:
            self._drain_scheduled = True
            self._clock.call_later(0.0, self._drain)

    def _drain(self) -> None:
        pending = self._pending
        first_error: Exception | None = None
        try:
            while pending:
                event = pending.popleft()
                for handler in tuple(self._handlers):
                    try:
                        handler(event)
                    except Exception as exc:
                        self.stats.handler_errors += 1
                        log.exception("telephony event handler failed on %s", event.type)
                        if first_error is None:
                            first_error = exc
        finally:
            self._drain_scheduled = False
        if first_error is not None and self.raise_handler_errors:
            raise first_error

    # ----------------------------------------------------------------------- validation ----

    def _get_call(self, call_id: str) -> _Call:
        call = self._calls.get(call_id)
        if call is None:
            raise UnknownCallError(f"no call {call_id!r}", call_id=call_id)
        return call

    def _live_call(self, call_id: str) -> _Call:
        call = self._get_call(call_id)
        if call.ended_at is not None:
            raise CallStateError(f"call {call_id} has ended", code="call_ended", call_id=call_id)
        return call

    def _get_leg(self, leg_id: str) -> _Leg:
        leg = self._legs.get(leg_id)
        if leg is None:
            raise UnknownLegError(f"no leg {leg_id!r}", leg_id=leg_id)
        return leg

    def _answered_leg(self, leg_id: str) -> _Leg:
        leg = self._get_leg(leg_id)
        if leg.state is LegState.ENDED:
            raise LegStateError(f"leg {leg_id} has hung up", code="leg_ended", leg_id=leg_id)
        if leg.state is not LegState.ANSWERED:
            raise LegStateError(
                f"leg {leg_id} is {leg.state.value}, not answered", code="leg_not_answered", leg_id=leg_id
            )
        return leg

    def _free_leg(self, leg_id: str) -> _Leg:
        """An answered leg that may join a bridge or be parked."""
        leg = self._answered_leg(leg_id)
        if leg.bridge is not None:
            raise LegStateError(
                f"leg {leg_id} is already in bridge {leg.bridge.id}", code="leg_bridged", leg_id=leg_id
            )
        if leg.transfer is not None:
            raise LegStateError(
                f"leg {leg_id} is in transfer {leg.transfer.id}", code="leg_in_transfer", leg_id=leg_id
            )
        return leg

    @staticmethod
    def _check_target(target: object) -> Target:
        if isinstance(target, EndpointTarget) and target.endpoint_id:
            return target
        if isinstance(target, NumberTarget) and target.number:
            return target
        raise InvalidArgumentError(f"not a valid target: {target!r} (EndpointTarget or NumberTarget)")

    @staticmethod
    def _check_timeout(name: str, value: float) -> float:
        if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise InvalidArgumentError(f"{name} must be a positive number of seconds, not {value!r}")
        return float(value)

    # -------------------------------------------------------------- simulated world setup ----

    def register_device(
        self, endpoint_id: str, behaviour: AgentBehaviour | None = None, *, max_calls: int = 1
    ) -> None:
        """Register (or re-register) an agent softphone. ``behaviour=None``: driven by a human
        through ``device_answer`` / ``device_reject`` / ``device_hangup`` / ``device_press``."""
        if not endpoint_id:
            raise InvalidArgumentError("endpoint_id is required")
        if max_calls < 1:
            raise InvalidArgumentError("max_calls must be at least 1")
        dev = self._devices.get(endpoint_id)
        if dev is None:
            self._devices[endpoint_id] = _Device(endpoint_id, behaviour, max_calls)
        else:
            dev.behaviour = behaviour
            dev.max_calls = max_calls
            dev.registered = True

    def unregister_device(self, endpoint_id: str) -> None:
        """The softphone goes offline: new agent legs to it fail (unreachable); calls in
        progress continue."""
        self._device(endpoint_id).registered = False

    def set_device_behaviour(self, endpoint_id: str, behaviour: AgentBehaviour | None) -> None:
        self._device(endpoint_id).behaviour = behaviour

    def register_number(self, number: str, party: PartyBehaviour, *, max_calls: int | None = None) -> None:
        """Make ``number`` reachable for transfers and outbound calls, behaving as ``party``
        (an :class:`ExternalParty`, or a :class:`SimulatedCaller` called back)."""
        if not number:
            raise InvalidArgumentError("number is required")
        if not isinstance(party, PartyBehaviour):
            raise InvalidArgumentError("party must be an ExternalParty, SimulatedCaller or AgentBehaviour")
        self._lines[number] = _Line(number, party, max_calls)

    def register_prompt(
        self, prompt_id: str, *, duration: float | None = None, path: Path | str | None = None
    ) -> float:
        """Give a prompt id its length, directly or from a WAV file. Returns the duration."""
        if (duration is None) == (path is None):
            raise InvalidArgumentError("give exactly one of duration or path")
        if path is not None:
            duration = self._file_duration(str(path))
        assert duration is not None
        _check_delay("duration", duration, allow_none=False)
        self._prompt_durations[prompt_id] = float(duration)
        return float(duration)

    def _file_duration(self, path: str) -> float:
        cached = self._file_durations.get(path)
        if cached is not None:
            return cached
        p = Path(path)
        if not p.is_file():
            raise InvalidArgumentError(f"prompt file not found: {path}", code="prompt_not_found")
        try:
            duration = read_wav_info(p).duration
        except (ValueError, OSError) as exc:
            raise InvalidArgumentError(
                f"prompt file unreadable: {path}: {exc}", code="prompt_unreadable"
            ) from exc
        self._file_durations[path] = duration
        return duration

    def prompt_duration(self, prompt: Prompt) -> float:
        """How long ``prompt`` plays."""
        if prompt.prompt_id:
            known = self._prompt_durations.get(prompt.prompt_id)
            if known is not None:
                return known
            if self.prompts_dir is not None:
                candidate = self.prompts_dir / f"{prompt.prompt_id}.wav"
                if candidate.is_file():
                    return self._file_duration(str(candidate))
            return self.default_prompt_duration
        if prompt.path:
            return self._file_duration(prompt.path)
        return estimate_speech_seconds(prompt.text or "")

    def place_call(self, caller: SimulatedCaller) -> str:
        """Schedule ``caller`` to dial at ``caller.dial_at`` (now if None or past). Returns the
        call id the ``IncomingCall`` event will carry."""
        if not isinstance(caller, SimulatedCaller):
            raise InvalidArgumentError("place_call needs a SimulatedCaller")
        call_id, leg_id = self._new_id(), self._new_id()
        when = self._now() if caller.dial_at is None else caller.dial_at
        self._clock.call_at(when, self._dial, caller, call_id, leg_id)
        return call_id

    def place_calls(self, callers: Iterable[SimulatedCaller]) -> None:
        """Feed callers lazily, one timer at a time (for millions of calls): ``callers`` must be
        ordered by ``dial_at``; each is scheduled when the previous one dials."""
        self._feed(iter(callers))

    def _feed(self, it: Iterator[SimulatedCaller]) -> None:
        caller = next(it, None)
        if caller is None:
            return
        when = self._now() if caller.dial_at is None else caller.dial_at
        self._clock.call_at(when, self._feed_dial, caller, it)

    def _feed_dial(self, caller: SimulatedCaller, it: Iterator[SimulatedCaller]) -> None:
        self._dial(caller, self._new_id(), self._new_id())
        self._feed(it)

    def _dial(self, caller: SimulatedCaller, call_id: str, leg_id: str) -> None:
        now = self._now()
        call = self._new_call(call_id, Direction.INBOUND, caller.from_number, caller.to_number)
        leg = self._new_leg(call, LegRole.CUSTOMER, Direction.INBOUND, LegState.INCOMING, leg_id=leg_id)
        leg.from_number, leg.to_number = caller.from_number, caller.to_number
        self._attach_script(leg, caller)
        self.stats.calls_placed += 1
        self._emit(
            IncomingCall(
                at=now,
                call_id=call.id,
                leg_id=leg.id,
                from_number=caller.from_number,
                to_number=caller.to_number,
            )
        )
        self._touch(call)

    def _new_call(
        self, call_id: str, direction: Direction, from_number: str | None, to_number: str | None
    ) -> _Call:
        call = _Call(call_id, direction, from_number, to_number, self._now())
        self._calls[call_id] = call
        st = self.stats
        st.calls_active += 1
        st.calls_peak = max(st.calls_peak, st.calls_active)
        return call

    def _new_leg(
        self, call: _Call, role: LegRole, direction: Direction, state: LegState, *, leg_id: str | None = None
    ) -> _Leg:
        leg = _Leg(leg_id or self._new_id(), call, role, direction, state, self._now())
        call.legs.append(leg)
        call.live += 1
        self._legs[leg.id] = leg
        self.stats.legs_created += 1
        return leg

    def _attach_script(self, leg: _Leg, script: PartyBehaviour | None) -> None:
        leg.script = script
        if script is None:
            return
        if script.talk_time is not None:
            leg.talk = _Budget(script.talk_time, self._on_talk_over)
        if (
            isinstance(script, SimulatedCaller)
            and script.patience is not None
            and leg.direction is Direction.INBOUND
        ):
            leg.patience = _Budget(script.patience, self._on_patience_over)

    # ------------------------------------------------------------------ devices (humans) ----

    def _device(self, endpoint_id: str) -> _Device:
        dev = self._devices.get(endpoint_id)
        if dev is None:
            raise UnknownEndpointError(f"no device {endpoint_id!r}", endpoint_id=endpoint_id)
        return dev

    def device_info(self, endpoint_id: str) -> DeviceInfo:
        dev = self._device(endpoint_id)
        return DeviceInfo(
            endpoint_id=dev.endpoint_id,
            registered=dev.registered,
            behaviour=dev.behaviour,
            max_calls=dev.max_calls,
            ringing_leg_ids=tuple(leg.id for leg in dev.legs if leg.state is LegState.RINGING),
            active_leg_ids=tuple(leg.id for leg in dev.legs if leg.state is LegState.ANSWERED),
        )

    def _device_leg(self, endpoint_id: str, state: LegState) -> _Leg | None:
        for leg in self._device(endpoint_id).legs:
            if leg.state is state:
                return leg
        return None

    def device_answer(self, endpoint_id: str) -> str:
        """The person at the softphone picks up the ringing call. Returns the leg id."""
        leg = self._device_leg(endpoint_id, LegState.RINGING)
        if leg is None:
            raise DeviceStateError(f"device {endpoint_id} is not ringing", code="device_not_ringing")
        self._remote_answer(leg)
        return leg.id

    def device_reject(self, endpoint_id: str) -> str:
        leg = self._device_leg(endpoint_id, LegState.RINGING)
        if leg is None:
            raise DeviceStateError(f"device {endpoint_id} is not ringing", code="device_not_ringing")
        self._fail_leg(leg, HangupCause.REJECTED, HangupSide.REMOTE)
        return leg.id

    def device_hangup(self, endpoint_id: str) -> str:
        """Hang up the device's call (or decline it while ringing)."""
        leg = self._device_leg(endpoint_id, LegState.ANSWERED) or self._device_leg(
            endpoint_id, LegState.RINGING
        )
        if leg is None:
            raise DeviceStateError(f"device {endpoint_id} has no call", code="device_idle")
        self.remote_hangup(leg.id)
        return leg.id

    def device_press(self, endpoint_id: str, digits: str) -> str:
        leg = self._device_leg(endpoint_id, LegState.ANSWERED)
        if leg is None:
            raise DeviceStateError(f"device {endpoint_id} has no answered call", code="device_idle")
        self.remote_press(leg.id, digits)
        return leg.id

    # The far end of any leg, driven by hand (demos: a person plays the caller).

    def remote_answer(self, leg_id: str) -> None:
        leg = self._get_leg(leg_id)
        if leg.state is not LegState.RINGING:
            raise LegStateError(f"leg {leg_id} is not ringing", code="leg_not_ringing")
        self._remote_answer(leg)

    def remote_hangup(self, leg_id: str) -> None:
        leg = self._get_leg(leg_id)
        if leg.state is LegState.ENDED:
            raise LegStateError(f"leg {leg_id} has hung up", code="leg_ended")
        self._remote_hangup(leg)

    def remote_press(self, leg_id: str, digits: str, *, interval: float = 0.25) -> None:
        """The far end presses ``digits`` (the first at once, then one every ``interval``)."""
        leg = self._answered_leg(leg_id)
        digits = validate_dtmf(digits)
        _check_delay("interval", interval, allow_none=False)
        self._schedule_presses(leg, digits, first_delay=0.0, interval=interval)

    # ------------------------------------------------------------------ call/leg control ----

    def answer(self, leg_id: str) -> None:
        leg = self._get_leg(leg_id)
        if leg.state is LegState.ENDED:
            raise LegStateError(f"leg {leg_id} has hung up", code="leg_ended")
        if leg.state is LegState.ANSWERED:
            raise LegStateError(f"leg {leg_id} is already answered", code="leg_already_answered")
        if leg.state is not LegState.INCOMING:
            raise LegStateError(
                f"leg {leg_id} was originated by us; the far end answers it", code="leg_not_incoming"
            )
        self._set_answered(leg)
        self._touch(leg.call)

    def reject(self, leg_id: str, cause: HangupCause = HangupCause.REJECTED) -> None:
        leg = self._get_leg(leg_id)
        cause = _enum(HangupCause, cause, "cause")
        if leg.state is LegState.ENDED:
            return
        if leg.state is LegState.ANSWERED:
            raise LegStateError(f"leg {leg_id} is already answered; hang it up", code="leg_already_answered")
        if leg.state is not LegState.INCOMING:
            raise LegStateError(f"leg {leg_id} is not an incoming leg; hang it up", code="leg_not_incoming")
        self._end_leg(leg, HangupSide.LOCAL, cause)

    def hangup(self, leg_id: str, cause: HangupCause = HangupCause.NORMAL) -> None:
        leg = self._get_leg(leg_id)
        cause = _enum(HangupCause, cause, "cause")
        if leg.state is LegState.ENDED:
            return
        if leg.state in (LegState.DIALING, LegState.RINGING):
            self._fail_leg(leg, HangupCause.CANCELLED, HangupSide.LOCAL)
        else:
            self._end_leg(leg, HangupSide.LOCAL, cause)

    def hangup_call(self, call_id: str, cause: HangupCause = HangupCause.NORMAL) -> None:
        call = self._get_call(call_id)
        cause = _enum(HangupCause, cause, "cause")
        for leg in list(call.legs):
            if leg.live:
                self.hangup(leg.id, cause)

    def originate_leg(
        self,
        call_id: str,
        target: Target,
        *,
        role: LegRole | None = None,
        timeout: float = 30.0,
        caller_id: str | None = None,
    ) -> str:
        call = self._live_call(call_id)
        target = self._check_target(target)
        timeout = self._check_timeout("timeout", timeout)
        role = (
            _enum(LegRole, role, "role")
            if role is not None
            else self._default_role(target, outbound_call=False)
        )
        leg = self._originate(call, target, role, timeout, caller_id or call.from_number)
        self._touch(call)
        return leg.id

    def originate_agent_leg(
        self, call_id: str, endpoint_id: str, *, timeout: float = 20.0, caller_id: str | None = None
    ) -> str:
        if not endpoint_id:
            raise InvalidArgumentError("endpoint_id is required")
        return self.originate_leg(
            call_id, EndpointTarget(endpoint_id), role=LegRole.AGENT, timeout=timeout, caller_id=caller_id
        )

    def originate_call(
        self,
        target: Target,
        *,
        caller_id: str,
        timeout: float = 45.0,
        role: LegRole | None = None,
    ) -> Originated:
        target = self._check_target(target)
        timeout = self._check_timeout("timeout", timeout)
        if not caller_id or not isinstance(caller_id, str):
            raise InvalidArgumentError("caller_id (a tenant number) is required for outbound calls")
        role = (
            _enum(LegRole, role, "role")
            if role is not None
            else self._default_role(target, outbound_call=True)
        )
        to_number = target.number if isinstance(target, NumberTarget) else None
        call = self._new_call(self._new_id(), Direction.OUTBOUND, caller_id, to_number)
        leg = self._originate(call, target, role, timeout, caller_id)
        return Originated(call.id, leg.id)

    @staticmethod
    def _default_role(target: Target, *, outbound_call: bool) -> LegRole:
        if isinstance(target, EndpointTarget):
            return LegRole.AGENT
        return LegRole.CUSTOMER if outbound_call else LegRole.EXTERNAL

    def _originate(
        self, call: _Call, target: Target, role: LegRole, timeout: float, caller_id: str | None
    ) -> _Leg:
        leg = self._new_leg(call, role, Direction.OUTBOUND, LegState.DIALING)
        leg.target = str(target)
        leg.from_number = caller_id
        leg.to_number = target.number if isinstance(target, NumberTarget) else None
        leg.originate_timer = self._clock.call_later(timeout, self._on_originate_timeout, leg)
        leg.react_timer = self._clock.call_later(self.setup_delay, self._on_setup, leg, target)
        return leg

    def _on_setup(self, leg: _Leg, target: Target) -> None:
        leg.react_timer = None
        if not leg.live:
            return
        script: PartyBehaviour | None
        if isinstance(target, EndpointTarget):
            dev = self._devices.get(target.endpoint_id)
            if dev is None or not dev.registered:
                self._fail_leg(leg, HangupCause.UNREACHABLE, HangupSide.REMOTE)
                return
            if len(dev.legs) >= dev.max_calls or (dev.behaviour is not None and dev.behaviour.busy):
                self._fail_leg(leg, HangupCause.BUSY, HangupSide.REMOTE)
                return
            dev.legs.append(leg)
            leg.device = dev
            script = dev.behaviour
        else:
            line = self._lines.get(target.number)
            if line is None:
                if self.default_external is None:
                    self._fail_leg(leg, HangupCause.UNREACHABLE, HangupSide.REMOTE)
                    return
                line = _Line(target.number, self.default_external, None)
            if line.party.busy or (line.max_calls is not None and len(line.legs) >= line.max_calls):
                self._fail_leg(leg, HangupCause.BUSY, HangupSide.REMOTE)
                return
            line.legs.append(leg)
            leg.line = line
            script = line.party
        self._attach_script(leg, script)
        leg.state = LegState.RINGING
        self._emit(
            LegRinging(
                at=self._now(), call_id=leg.call.id, leg_id=leg.id, role=leg.role, target=leg.target or ""
            )
        )
        if script is not None:
            answer, give_up = script.answer_after, script.no_answer_after
            if answer is not None and (give_up is None or answer <= give_up):
                leg.react_timer = self._clock.call_later(answer, self._on_react, leg)
            elif give_up is not None:
                leg.react_timer = self._clock.call_later(give_up, self._on_no_answer, leg)

    def _on_react(self, leg: _Leg) -> None:
        leg.react_timer = None
        if leg.state is not LegState.RINGING:
            return
        if leg.script is not None and leg.script.reject:
            self._fail_leg(leg, HangupCause.REJECTED, HangupSide.REMOTE)
        else:
            self._remote_answer(leg)

    def _on_no_answer(self, leg: _Leg) -> None:
        leg.react_timer = None
        if leg.state is LegState.RINGING:
            self._fail_leg(leg, HangupCause.NO_ANSWER, HangupSide.REMOTE)

    def _on_originate_timeout(self, leg: _Leg) -> None:
        leg.originate_timer = None
        if leg.state in (LegState.DIALING, LegState.RINGING):
            self._fail_leg(leg, HangupCause.TIMEOUT, HangupSide.SYSTEM)

    def _remote_answer(self, leg: _Leg) -> None:
        for attr in ("originate_timer", "react_timer"):
            handle = getattr(leg, attr)
            if handle is not None:
                handle.cancel()
                setattr(leg, attr, None)
        self._set_answered(leg)
        if leg.transfer is not None:
            self._transfer_target_answered(leg.transfer, leg)
        self._touch(leg.call)

    def _set_answered(self, leg: _Leg) -> None:
        now = self._now()
        leg.state = LegState.ANSWERED
        leg.answered_at = now
        if leg.script is not None and leg.script.hangup_after is not None:
            leg.timer_after_answer = self._clock.call_later(
                leg.script.hangup_after, self._on_hangup_after, leg
            )
        self._emit(LegAnswered(at=now, call_id=leg.call.id, leg_id=leg.id, role=leg.role))

    def _remote_hangup(self, leg: _Leg) -> None:
        if leg.state is LegState.INCOMING:
            self._end_leg(leg, HangupSide.REMOTE, HangupCause.CANCELLED)
        elif leg.state in (LegState.DIALING, LegState.RINGING):
            self._fail_leg(leg, HangupCause.REJECTED, HangupSide.REMOTE)
        elif leg.state is LegState.ANSWERED:
            self._end_leg(leg, HangupSide.REMOTE, HangupCause.NORMAL)

    def _fail_leg(self, leg: _Leg, cause: HangupCause, side: HangupSide) -> None:
        self._end_leg(leg, side, cause)

    def _end_leg(self, leg: _Leg, side: HangupSide, cause: HangupCause) -> None:
        if leg.state is LegState.ENDED:
            return
        now = self._now()
        call = leg.call
        leg.state = LegState.ENDED
        leg.ended_at = now
        leg.end_cause = cause
        for attr in ("originate_timer", "react_timer", "idle_timer", "timer_after_answer", "press_timer"):
            handle = getattr(leg, attr)
            if handle is not None:
                handle.cancel()
                setattr(leg, attr, None)
        leg.press_queue.clear()
        for budget in (leg.patience, leg.talk):
            if budget is not None:
                budget.cancel()
        for pb in list(leg.playbacks):
            self._finish_playback(pb, PlaybackReason.HANGUP)
        if leg.collect is not None:
            self._finish_collect(leg.collect, CollectReason.HANGUP)
        if leg.direction is Direction.OUTBOUND and leg.answered_at is None:
            self._emit(
                LegFailed(
                    at=now,
                    call_id=call.id,
                    leg_id=leg.id,
                    role=leg.role,
                    target=leg.target or "",
                    cause=cause,
                )
            )
        else:
            self._emit(
                LegHungUp(
                    at=now,
                    call_id=call.id,
                    leg_id=leg.id,
                    role=leg.role,
                    side=side,
                    cause=cause,
                    answered=leg.answered_at is not None,
                )
            )
        if leg.bridge is not None:
            self._leave_bridge(leg)
        leg.parked = None
        leg.buffer.clear()
        if leg.device is not None:
            leg.device.legs.remove(leg)
            leg.device = None
        if leg.line is not None:
            if leg in leg.line.legs:
                leg.line.legs.remove(leg)
            leg.line = None
        if leg.transfer is not None:
            transfer = leg.transfer
            leg.transfer = None
            self._transfer_leg_ended(transfer, leg)
        call.live -= 1
        self._touch(call)
        if call.live == 0:
            self._end_call(call)

    def _end_call(self, call: _Call) -> None:
        now = self._now()
        if call.recording is not None:
            self._stop_recording(call.recording)
        call.ended_at = now
        self._emit(CallEnded(at=now, call_id=call.id, duration=now - call.created_at))
        st = self.stats
        st.calls_active -= 1
        st.calls_ended += 1
        self._ended_calls.append(call.id)
        while len(self._ended_calls) > self.retain_ended_calls:
            self._forget(self._ended_calls.popleft())

    def _forget(self, call_id: str) -> None:
        call = self._calls.pop(call_id, None)
        if call is None:
            return
        for leg in call.legs:
            self._legs.pop(leg.id, None)
        for oid in call.owned:
            self._playbacks.pop(oid, None)
            self._collects.pop(oid, None)
            self._transfers.pop(oid, None)
            self._recordings.pop(oid, None)

    # ------------------------------------------------------------------------ prompts ----

    def play(self, leg_id: str, prompt: Prompt, *, interruptible: bool = False) -> str:
        leg = self._answered_leg(leg_id)
        if not isinstance(prompt, Prompt):
            raise InvalidArgumentError("prompt must be a Prompt")
        duration = self.prompt_duration(prompt)
        pb = _Playback(self._new_id(), leg, prompt, bool(interruptible), duration)
        self._playbacks[pb.id] = pb
        leg.call.owned.append(pb.id)
        leg.playbacks.append(pb)
        if len(leg.playbacks) == 1:
            self._start_playback(pb)
        self._touch(leg.call)
        return pb.id

    def _start_playback(self, pb: _Playback) -> None:
        pb.started = True
        pb.timer = self._clock.call_later(pb.duration, self._finish_playback, pb, PlaybackReason.COMPLETED)
        self._caller_consider(pb.leg)

    def stop_playback(self, playback_id: str) -> None:
        pb = self._playbacks.get(playback_id)
        if pb is None:
            raise UnknownPlaybackError(f"no playback {playback_id!r}", playback_id=playback_id)
        if not pb.done:
            self._finish_playback(pb, PlaybackReason.STOPPED)
            self._touch(pb.leg.call)

    def _finish_playback(self, pb: _Playback, reason: PlaybackReason, digit: str | None = None) -> None:
        if pb.done:
            return
        pb.done = True
        if pb.timer is not None:
            pb.timer.cancel()
            pb.timer = None
        leg = pb.leg
        if pb in leg.playbacks:
            leg.playbacks.remove(pb)
        self._emit(
            PlaybackFinished(
                at=self._now(),
                call_id=leg.call.id,
                leg_id=leg.id,
                playback_id=pb.id,
                prompt=pb.prompt.describe(),
                reason=reason,
                digit=digit,
            )
        )
        if reason is PlaybackReason.HANGUP or not leg.live:
            return
        if pb.started and leg.playbacks:
            self._start_playback(leg.playbacks[0])
        self._caller_consider(leg)
        self._touch(leg.call)

    # --------------------------------------------------------------------------- DTMF ----

    def collect_digits(
        self,
        leg_id: str,
        *,
        max_digits: int = 1,
        terminator: str | None = "#",
        first_digit_timeout: float = 5.0,
        inter_digit_timeout: float = 3.0,
        flush_buffer: bool = False,
    ) -> str:
        leg = self._answered_leg(leg_id)
        if leg.collect is not None:
            raise LegStateError(
                f"leg {leg_id} is already collecting digits ({leg.collect.id})", code="collect_active"
            )
        if not isinstance(max_digits, int) or isinstance(max_digits, bool) or not 1 <= max_digits <= 64:
            raise InvalidArgumentError("max_digits must be an integer from 1 to 64")
        if terminator is not None:
            terminator = validate_dtmf(terminator)
            if len(terminator) != 1:
                raise InvalidArgumentError("terminator must be one DTMF digit or None")
        first = self._check_timeout("first_digit_timeout", first_digit_timeout)
        inter = self._check_timeout("inter_digit_timeout", inter_digit_timeout)
        col = _Collect(self._new_id(), leg, max_digits, terminator, first, inter)
        self._collects[col.id] = col
        leg.call.owned.append(col.id)
        leg.collect = col
        leg.collects_seen += 1
        buffered = [] if flush_buffer else list(leg.buffer)
        leg.buffer.clear()
        if buffered or leg.press_queue:
            leg.served = col.id  # the caller already typed ahead for this one
        for digit in buffered:
            self._collect_digit(col, digit)
            if col.done:
                break
        if not col.done:
            col.timer = self._clock.call_later(
                first if not col.digits else inter, self._finish_collect, col, CollectReason.TIMEOUT
            )
            self._caller_consider(leg)
        self._touch(leg.call)
        return col.id

    def cancel_collect(self, collect_id: str) -> None:
        col = self._collects.get(collect_id)
        if col is None:
            raise UnknownCollectError(f"no digit collection {collect_id!r}", collect_id=collect_id)
        if not col.done:
            self._finish_collect(col, CollectReason.CANCELLED)
            self._touch(col.leg.call)

    def _collect_digit(self, col: _Collect, digit: str) -> None:
        if col.terminator is not None and digit == col.terminator:
            self._finish_collect(col, CollectReason.TERMINATOR)
            return
        col.digits.append(digit)
        if len(col.digits) >= col.max_digits:
            self._finish_collect(col, CollectReason.MAX_DIGITS)
        elif col.timer is not None:
            col.timer.cancel()
            col.timer = self._clock.call_later(
                col.inter_timeout, self._finish_collect, col, CollectReason.TIMEOUT
            )

    def _finish_collect(self, col: _Collect, reason: CollectReason) -> None:
        if col.done:
            return
        col.done = True
        if col.timer is not None:
            col.timer.cancel()
            col.timer = None
        leg = col.leg
        if leg.collect is col:
            leg.collect = None
        self._emit(
            DigitsCollected(
                at=self._now(),
                call_id=leg.call.id,
                leg_id=leg.id,
                collect_id=col.id,
                digits="".join(col.digits),
                reason=reason,
            )
        )
        if reason is CollectReason.TIMEOUT:
            self._touch(leg.call)

    def _dtmf_in(self, leg: _Leg, digit: str) -> None:
        if leg.state is not LegState.ANSWERED:
            return
        self._emit(DigitsReceived(at=self._now(), call_id=leg.call.id, leg_id=leg.id, digit=digit))
        if leg.playbacks:
            current = leg.playbacks[0]
            if current.started and current.interruptible:
                self._finish_playback(current, PlaybackReason.INTERRUPTED, digit)
        if leg.collect is not None:
            self._collect_digit(leg.collect, digit)
        elif leg.bridge is None and len(leg.buffer) < _BUFFER_MAX:
            leg.buffer.append(digit)

    def send_dtmf(self, leg_id: str, digits: str, *, tone_duration: float = 0.1) -> None:
        leg = self._answered_leg(leg_id)
        digits = validate_dtmf(digits)
        tone_duration = self._check_timeout("tone_duration", tone_duration)
        total = len(digits) * tone_duration + (len(digits) - 1) * _TONE_GAP
        self._clock.call_later(total, self._dtmf_sent, leg, digits)

    def _dtmf_sent(self, leg: _Leg, digits: str) -> None:
        if leg.live:
            self._emit(DtmfSent(at=self._now(), call_id=leg.call.id, leg_id=leg.id, digits=digits))

    # ------------------------------------------------------------- simulated callers ----

    def _caller_consider(self, leg: _Leg) -> None:
        """A scripted caller decides whether to press digits now."""
        script = leg.script
        if not isinstance(script, SimulatedCaller) or leg.state is not LegState.ANSWERED:
            return
        if leg.press_queue or leg.press_timer is not None:
            return
        playing = leg.playbacks[0] if leg.playbacks and leg.playbacks[0].started else None
        col = leg.collect
        if col is not None and leg.served != col.id:
            if playing is not None and not (script.barge_in and playing.interruptible):
                return  # listens to the prompt first
            leg.served = col.id
            self._caller_answers(leg, script, col.max_digits, col.terminator)
        elif (
            col is None
            and playing is not None
            and playing.interruptible
            and script.barge_in
            and leg.served != playing.id
            and not leg.buffer
        ):
            leg.served = playing.id
            self._caller_answers(leg, script, 1, None)

    def _caller_answers(
        self, leg: _Leg, script: SimulatedCaller, max_digits: int, terminator: str | None
    ) -> None:
        index = leg.collects_seen - 1 if leg.collect is not None else leg.collects_seen
        if callable(script.digits):
            request = DigitRequest(
                index=index,
                call_id=leg.call.id,
                leg_id=leg.id,
                max_digits=max_digits,
                terminator=terminator,
                at=self._now(),
            )
            entry = _check_entry(script.digits(request))
        else:
            seq = script.digits
            entry = seq[index] if index < len(seq) else None
        if entry is None:
            return
        if entry is HANGUP:
            leg.press_timer = self._clock.call_later(script.digit_delay, self._on_script_hangup, leg)
            return
        assert isinstance(entry, str)
        self._schedule_presses(
            leg, entry.upper(), first_delay=script.digit_delay, interval=script.inter_digit_delay
        )

    def _schedule_presses(self, leg: _Leg, digits: str, *, first_delay: float, interval: float) -> None:
        leg.press_queue.extend(digits)
        if leg.press_timer is None:
            leg.press_timer = self._clock.call_later(first_delay, self._press_next, leg, interval)

    def _press_next(self, leg: _Leg, interval: float) -> None:
        leg.press_timer = None
        if not leg.live or not leg.press_queue:
            return
        digit = leg.press_queue.popleft()
        self._dtmf_in(leg, digit)
        if leg.press_queue:
            leg.press_timer = self._clock.call_later(interval, self._press_next, leg, interval)
        self._touch(leg.call)

    def _on_script_hangup(self, leg: _Leg) -> None:
        leg.press_timer = None
        if leg.live:
            self._remote_hangup(leg)

    def _on_patience_over(self, leg: _Leg) -> None:
        if leg.live:
            self._remote_hangup(leg)

    def _on_talk_over(self, leg: _Leg) -> None:
        if leg.live:
            self._remote_hangup(leg)

    def _on_hangup_after(self, leg: _Leg) -> None:
        leg.timer_after_answer = None
        if leg.live:
            self._remote_hangup(leg)

    def _on_idle(self, leg: _Leg) -> None:
        leg.idle_timer = None
        if leg.live and self._is_idle(leg):
            self._remote_hangup(leg)

    @staticmethod
    def _is_connected(leg: _Leg) -> bool:
        bridge = leg.bridge
        if bridge is None or leg.held:
            return False
        return any(other is not leg and not other.held for other in bridge.legs)

    @staticmethod
    def _is_idle(leg: _Leg) -> bool:
        return (
            leg.state is LegState.ANSWERED
            and leg.bridge is None
            and leg.parked is None
            and leg.transfer is None
            and not leg.playbacks
            and leg.collect is None
            and not leg.press_queue
            and leg.press_timer is None
            # Someone else on the call being dialled (ringback) is not dead air.
            and not any(other.state in _DIALLING for other in leg.call.legs)
        )

    def _touch(self, call: _Call) -> None:
        """Re-evaluate what the simulated people on this call experience: run or pause their
        patience and talk budgets, start or stop dead-air timers, and mark the recording."""
        rec = call.recording
        if rec is not None and rec.audio:
            self._mark(rec)
        clock = self._clock
        for leg in call.legs:
            script = leg.script
            if script is None or leg.state is LegState.ENDED:
                continue
            connected = self._is_connected(leg)
            if leg.patience is not None:
                waiting = leg.state is LegState.INCOMING or (
                    leg.state is LegState.ANSWERED and leg.parked is not None
                )
                leg.patience.run(clock, waiting, leg)
            if leg.talk is not None:
                leg.talk.run(clock, connected, leg)
            if script.idle_hangup_after is not None:
                idle = self._is_idle(leg)
                if idle and leg.idle_timer is None:
                    leg.idle_timer = clock.call_later(script.idle_hangup_after, self._on_idle, leg)
                elif not idle and leg.idle_timer is not None:
                    leg.idle_timer.cancel()
                    leg.idle_timer = None

    # ---------------------------------------------------------------------- parking ----

    def park(self, leg_id: str, *, moh: str = "default") -> None:
        leg = self._answered_leg(leg_id)
        if leg.parked is not None:
            raise LegStateError(f"leg {leg_id} is already parked", code="leg_parked")
        leg = self._free_leg(leg_id)
        if not moh or not isinstance(moh, str):
            raise InvalidArgumentError("moh must be a music-on-hold class name")
        leg.parked = moh
        self._emit(LegParked(at=self._now(), call_id=leg.call.id, leg_id=leg.id, moh=moh))
        self._touch(leg.call)

    def unpark(self, leg_id: str) -> None:
        leg = self._answered_leg(leg_id)
        if leg.parked is None:
            raise LegStateError(f"leg {leg_id} is not parked", code="leg_not_parked")
        leg.parked = None
        self._emit(LegUnparked(at=self._now(), call_id=leg.call.id, leg_id=leg.id))
        self._touch(leg.call)

    # ---------------------------------------------------------------------- bridges ----

    def _check_joinable(self, leg_id: str) -> _Leg:
        leg = self._free_leg(leg_id)
        if leg.parked is not None:
            raise LegStateError(f"leg {leg_id} is parked; unpark it first", code="leg_parked")
        return leg

    def bridge(self, leg_ids: Sequence[str]) -> str:
        if isinstance(leg_ids, str) or not isinstance(leg_ids, Sequence):
            raise InvalidArgumentError("leg_ids must be a sequence of leg ids")
        if len(leg_ids) < 2:
            raise InvalidArgumentError("a bridge needs at least two legs")
        if len(set(leg_ids)) != len(leg_ids):
            raise InvalidArgumentError("a leg can appear only once in a bridge")
        legs = [self._check_joinable(lid) for lid in leg_ids]
        if len({leg.call.id for leg in legs}) != 1:
            raise InvalidArgumentError("legs of different calls cannot be bridged", code="cross_call_bridge")
        self._check_size(len(legs))
        bridge = self._make_bridge(legs[0].call, legs)
        self._touch(bridge.call)
        return bridge.id

    def _check_size(self, size: int) -> None:
        if size > 2 and Capability.CONFERENCE not in self.capabilities:
            raise NotSupportedError("this PBX has no conferencing (bridges of more than two legs)")
        if size > self.conference_size:
            raise InvalidArgumentError(
                f"a bridge holds at most {self.conference_size} legs", code="bridge_full"
            )

    def add_to_bridge(self, bridge_id: str, leg_id: str) -> None:
        bridge = self._bridges.get(bridge_id)
        if bridge is None:
            raise UnknownBridgeError(f"no bridge {bridge_id!r}", bridge_id=bridge_id)
        leg = self._check_joinable(leg_id)
        if leg.call is not bridge.call:
            raise InvalidArgumentError("legs of different calls cannot be bridged", code="cross_call_bridge")
        if bridge.transfer is not None:
            raise CallStateError("this bridge is a transfer consultation", code="transfer_active")
        self._check_size(len(bridge.legs) + 1)
        bridge.legs.append(leg)
        leg.bridge = bridge
        leg.buffer.clear()
        self._emit(
            BridgeChanged(
                at=self._now(),
                call_id=bridge.call.id,
                bridge_id=bridge.id,
                change=BridgeChange.JOINED,
                leg_id=leg.id,
                leg_ids=tuple(m.id for m in bridge.legs),
            )
        )
        self._touch(bridge.call)

    def remove_from_bridge(self, leg_id: str) -> None:
        leg = self._answered_leg(leg_id)
        if leg.bridge is None:
            raise LegStateError(f"leg {leg_id} is not bridged", code="leg_not_bridged")
        if leg.transfer is not None:
            raise LegStateError(f"leg {leg_id} is in transfer {leg.transfer.id}", code="leg_in_transfer")
        self._leave_bridge(leg)
        self._touch(leg.call)

    def unbridge(self, bridge_id: str) -> None:
        bridge = self._bridges.get(bridge_id)
        if bridge is None:
            raise UnknownBridgeError(f"no bridge {bridge_id!r}", bridge_id=bridge_id)
        if bridge.transfer is not None:
            raise CallStateError(
                "this bridge is a transfer consultation; complete or cancel it", code="transfer_active"
            )
        self._destroy_bridge(bridge)
        self._touch(bridge.call)

    def _make_bridge(self, call: _Call, legs: list[_Leg], bridge_id: str | None = None) -> _Bridge:
        bridge = _Bridge(bridge_id or self._new_id(), call, list(legs), self._now())
        for leg in legs:
            leg.bridge = bridge
            leg.held = False
            leg.buffer.clear()
        call.bridges[bridge.id] = bridge
        self._bridges[bridge.id] = bridge
        self._emit(
            BridgeChanged(
                at=self._now(),
                call_id=call.id,
                bridge_id=bridge.id,
                change=BridgeChange.CREATED,
                leg_id=None,
                leg_ids=tuple(leg.id for leg in legs),
            )
        )
        return bridge

    def _leave_bridge(self, leg: _Leg) -> None:
        bridge = leg.bridge
        assert bridge is not None
        bridge.legs.remove(leg)
        leg.bridge = None
        leg.held = False
        self._emit(
            BridgeChanged(
                at=self._now(),
                call_id=bridge.call.id,
                bridge_id=bridge.id,
                change=BridgeChange.LEFT,
                leg_id=leg.id,
                leg_ids=tuple(m.id for m in bridge.legs),
            )
        )
        if len(bridge.legs) < 2:
            self._destroy_bridge(bridge)

    def _destroy_bridge(self, bridge: _Bridge) -> None:
        members = tuple(m.id for m in bridge.legs)
        for leg in bridge.legs:
            leg.bridge = None
            leg.held = False
        bridge.legs = []
        bridge.call.bridges.pop(bridge.id, None)
        self._bridges.pop(bridge.id, None)
        if bridge.transfer is not None and bridge.transfer.consult_bridge is bridge:
            bridge.transfer.consult_bridge = None
        bridge.transfer = None
        self._emit(
            BridgeChanged(
                at=self._now(),
                call_id=bridge.call.id,
                bridge_id=bridge.id,
                change=BridgeChange.DESTROYED,
                leg_id=None,
                leg_ids=members,
            )
        )

    def hold(self, leg_id: str) -> None:
        leg = self._answered_leg(leg_id)
        if leg.bridge is None:
            raise LegStateError(f"leg {leg_id} is not bridged; park it instead", code="leg_not_bridged")
        if leg.held:
            raise LegStateError(f"leg {leg_id} is already on hold", code="leg_held")
        leg.held = True
        self._emit(LegHeld(at=self._now(), call_id=leg.call.id, leg_id=leg.id))
        self._touch(leg.call)

    def resume(self, leg_id: str) -> None:
        leg = self._answered_leg(leg_id)
        if not leg.held:
            raise LegStateError(f"leg {leg_id} is not on hold", code="leg_not_held")
        leg.held = False
        self._emit(LegResumed(at=self._now(), call_id=leg.call.id, leg_id=leg.id))
        self._touch(leg.call)

    def mute(self, leg_id: str) -> None:
        leg = self._answered_leg(leg_id)
        if leg.muted:
            raise LegStateError(f"leg {leg_id} is already muted", code="leg_muted")
        leg.muted = True
        self._emit(LegMuted(at=self._now(), call_id=leg.call.id, leg_id=leg.id))
        self._touch(leg.call)

    def unmute(self, leg_id: str) -> None:
        leg = self._answered_leg(leg_id)
        if not leg.muted:
            raise LegStateError(f"leg {leg_id} is not muted", code="leg_not_muted")
        leg.muted = False
        self._emit(LegUnmuted(at=self._now(), call_id=leg.call.id, leg_id=leg.id))
        self._touch(leg.call)

    # -------------------------------------------------------------------- transfers ----

    def _transferable(self, leg_id: str) -> _Leg:
        leg = self._answered_leg(leg_id)
        if leg.transfer is not None:
            raise LegStateError(
                f"leg {leg_id} is already in transfer {leg.transfer.id}", code="leg_in_transfer"
            )
        if leg.bridge is None:
            raise LegStateError(
                f"leg {leg_id} is not bridged: there is nothing to transfer from", code="leg_not_bridged"
            )
        for other in leg.bridge.legs:
            if other.transfer is not None:
                raise CallStateError(
                    f"leg {other.id} in this bridge is in transfer {other.transfer.id}",
                    code="transfer_active",
                )
        return leg

    def _new_transfer(self, kind: TransferKind, leg: _Leg, transferor: _Leg | None) -> _Transfer:
        transfer = _Transfer(self._new_id(), kind, leg.call, leg, transferor)
        self._transfers[transfer.id] = transfer
        leg.call.owned.append(transfer.id)
        leg.call.transfers.append(transfer)
        return transfer

    def blind_transfer(
        self, leg_id: str, target: Target, *, timeout: float = 30.0, caller_id: str | None = None
    ) -> TransferHandle:
        leg = self._transferable(leg_id)
        target = self._check_target(target)
        timeout = self._check_timeout("timeout", timeout)
        bridge = leg.bridge
        assert bridge is not None
        peers = [other for other in bridge.legs if other is not leg]
        transferor = peers[0] if len(peers) == 1 else None
        transfer = self._new_transfer(TransferKind.BLIND, leg, transferor)
        call = leg.call
        self._leave_bridge(leg)
        leg.transfer = transfer
        role = LegRole.AGENT if isinstance(target, EndpointTarget) else LegRole.EXTERNAL
        target_leg = self._originate(call, target, role, timeout, caller_id or call.from_number)
        target_leg.transfer = transfer
        transfer.target = target_leg
        self._emit(
            TransferStarted(
                at=self._now(),
                call_id=call.id,
                transfer_id=transfer.id,
                kind=transfer.kind,
                transferee_leg_id=leg.id,
                transferor_leg_id=transfer.transferor_id,
                target_leg_id=target_leg.id,
                target=str(target),
            )
        )
        if transferor is not None:
            transfer.transferor = None
            self._end_leg(transferor, HangupSide.SYSTEM, HangupCause.TRANSFERRED)
        self._touch(call)
        return TransferHandle(transfer.id, target_leg.id)

    def start_attended_transfer(
        self, leg_id: str, target: Target, *, timeout: float = 30.0, caller_id: str | None = None
    ) -> TransferHandle:
        leg = self._transferable(leg_id)
        target = self._check_target(target)
        timeout = self._check_timeout("timeout", timeout)
        bridge = leg.bridge
        assert bridge is not None
        if len(bridge.legs) != 2:
            raise LegStateError("attended transfer needs a two-party bridge", code="not_two_party_bridge")
        transferor = next(other for other in bridge.legs if other is not leg)
        call = leg.call
        transfer = self._new_transfer(TransferKind.ATTENDED, leg, transferor)
        transfer.original_bridge_id = bridge.id
        self._destroy_bridge(bridge)
        leg.transfer = transfer
        transferor.transfer = transfer
        target_leg = self._originate(call, target, LegRole.CONSULT, timeout, caller_id or call.from_number)
        target_leg.transfer = transfer
        transfer.target = target_leg
        self._emit(
            TransferStarted(
                at=self._now(),
                call_id=call.id,
                transfer_id=transfer.id,
                kind=transfer.kind,
                transferee_leg_id=leg.id,
                transferor_leg_id=transferor.id,
                target_leg_id=target_leg.id,
                target=str(target),
            )
        )
        self._touch(call)
        return TransferHandle(transfer.id, target_leg.id)

    def _get_transfer(self, transfer_id: str) -> _Transfer:
        transfer = self._transfers.get(transfer_id)
        if transfer is None:
            raise UnknownTransferError(f"no transfer {transfer_id!r}", transfer_id=transfer_id)
        if transfer.done:
            raise TransferStateError(f"transfer {transfer_id} is finished", code="transfer_finished")
        if transfer.kind is not TransferKind.ATTENDED:
            raise TransferStateError(f"transfer {transfer_id} is a blind transfer", code="not_attended")
        return transfer

    def complete_attended_transfer(self, transfer_id: str) -> None:
        transfer = self._get_transfer(transfer_id)
        if transfer.target.state is not LegState.ANSWERED or transfer.transferor is None:
            raise TransferStateError("the consulted party has not answered yet", code="consult_not_answered")
        transferor = transfer.transferor
        self._complete(transfer)
        self._end_leg(transferor, HangupSide.SYSTEM, HangupCause.TRANSFERRED)
        self._touch(transfer.call)

    def _complete(self, transfer: _Transfer) -> None:
        """Bridge the transferee with the target and finish the transfer."""
        transfer.done = True
        transferee, target = transfer.transferee, transfer.target
        if transfer.consult_bridge is not None:
            self._destroy_bridge(transfer.consult_bridge)
        for leg in (transferee, target, transfer.transferor):
            if leg is not None:
                leg.transfer = None
        transfer.transferor = None
        bridge = self._make_bridge(transfer.call, [transferee, target])
        self._emit(
            TransferCompleted(
                at=self._now(),
                call_id=transfer.call.id,
                transfer_id=transfer.id,
                kind=transfer.kind,
                transferee_leg_id=transferee.id,
                transferor_leg_id=transfer.transferor_id,
                target_leg_id=target.id,
                bridge_id=bridge.id,
            )
        )

    def cancel_attended_transfer(self, transfer_id: str) -> None:
        transfer = self._get_transfer(transfer_id)
        transferor = transfer.transferor
        if transferor is None:
            raise TransferStateError(
                "the transferring party has hung up; the transfer can only complete", code="transferor_gone"
            )
        transfer.done = True
        target, transferee = transfer.target, transfer.transferee
        if transfer.consult_bridge is not None:
            self._destroy_bridge(transfer.consult_bridge)
        for leg in (target, transferee, transferor):
            leg.transfer = None
        if target.live:
            if target.state is LegState.ANSWERED:
                self._end_leg(target, HangupSide.SYSTEM, HangupCause.NORMAL)
            else:
                self._fail_leg(target, HangupCause.CANCELLED, HangupSide.SYSTEM)
        bridge = self._make_bridge(
            transfer.call, [transferee, transferor], bridge_id=transfer.original_bridge_id
        )
        self._emit(
            TransferCancelled(
                at=self._now(),
                call_id=transfer.call.id,
                transfer_id=transfer.id,
                transferee_leg_id=transferee.id,
                transferor_leg_id=transferor.id,
                target_leg_id=target.id,
                restored_bridge_id=bridge.id,
            )
        )
        self._touch(transfer.call)

    def _transfer_target_answered(self, transfer: _Transfer, target: _Leg) -> None:
        if transfer.done:
            return
        if transfer.kind is TransferKind.BLIND or transfer.transferor is None:
            self._complete(transfer)
        else:
            bridge = self._make_bridge(transfer.call, [transfer.transferor, target])
            bridge.transfer = transfer
            transfer.consult_bridge = bridge

    def _transfer_failed(self, transfer: _Transfer, cause: HangupCause, restored: str | None) -> None:
        self._emit(
            TransferFailed(
                at=self._now(),
                call_id=transfer.call.id,
                transfer_id=transfer.id,
                kind=transfer.kind,
                transferee_leg_id=transfer.transferee.id,
                transferor_leg_id=transfer.transferor_id,
                target_leg_id=transfer.target.id,
                cause=cause,
                restored_bridge_id=restored,
            )
        )

    def _transfer_leg_ended(self, transfer: _Transfer, leg: _Leg) -> None:
        """A leg that belongs to an unfinished transfer has ended (``leg.transfer`` is cleared)."""
        if transfer.done:
            return
        transferee, target, transferor = transfer.transferee, transfer.target, transfer.transferor
        if leg is target:
            transfer.done = True
            transferee.transfer = None
            restored: str | None = None
            if transferor is not None:
                transferor.transfer = None
                if transferor.live and transferee.live:
                    if transferor.bridge is not None:  # pragma: no cover - consult bridge already gone
                        self._leave_bridge(transferor)
                    bridge = self._make_bridge(
                        transfer.call, [transferee, transferor], bridge_id=transfer.original_bridge_id
                    )
                    restored = bridge.id
            cause = leg.end_cause or HangupCause.FAILURE
            self._transfer_failed(transfer, cause, restored)
        elif leg is transferee:
            transfer.done = True
            for other in (target, transferor):
                if other is not None:
                    other.transfer = None
            if transfer.consult_bridge is not None:
                transfer.consult_bridge.transfer = None
                transfer.consult_bridge = None
            self._transfer_failed(transfer, HangupCause.CANCELLED, None)
            if target.state in (LegState.DIALING, LegState.RINGING):
                self._fail_leg(target, HangupCause.CANCELLED, HangupSide.SYSTEM)
        elif leg is transferor:
            transfer.transferor = None
            if target.state is LegState.ANSWERED:
                self._complete(transfer)
            # else: the target is still ringing; it is bridged with the transferee on answer.

    # -------------------------------------------------------------------- recording ----

    def start_recording(self, call_id: str) -> str:
        call = self._live_call(call_id)
        if call.recording is not None:
            raise CallStateError(
                f"call {call_id} is already being recorded ({call.recording.id})", code="recording_active"
            )
        now = self._now()
        rid = self._new_id()
        path: Path | None = None
        if self.recording_enabled and self.recordings_dir is not None:
            day = to_datetime(now)
            path = self.recordings_dir / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}" / f"{rid}.wav"
        rec = _Recording(rid, call, now, path, self.recording_encoding)
        call.recording = rec
        call.last_recording = rec
        call.owned.append(rid)
        self._recordings[rid] = rec
        self._emit(
            RecordingStarted(
                at=now,
                call_id=call.id,
                recording_id=rid,
                path=str(path) if path else None,
                encoding=rec.encoding.value,
                sample_rate=self.sample_rate,
                channels=2,
            )
        )
        if rec.audio:
            self._mark(rec)
        return rid

    def _active_recording(self, call_id: str) -> _Recording:
        call = self._get_call(call_id)
        if call.recording is None:
            raise CallStateError(f"call {call_id} is not being recorded", code="not_recording")
        return call.recording

    def pause_recording(self, call_id: str) -> None:
        rec = self._active_recording(call_id)
        if rec.paused_since is not None:
            raise CallStateError("the recording is already paused", code="recording_paused")
        now = self._now()
        rec.paused_since = now
        self._emit(RecordingPaused(at=now, call_id=call_id, recording_id=rec.id, offset=now - rec.started_at))

    def resume_recording(self, call_id: str) -> None:
        rec = self._active_recording(call_id)
        if rec.paused_since is None:
            raise CallStateError("the recording is not paused", code="recording_not_paused")
        now = self._now()
        rec.paused.append((rec.paused_since, now))
        rec.paused_since = None
        self._emit(
            RecordingResumed(at=now, call_id=call_id, recording_id=rec.id, offset=now - rec.started_at)
        )

    def stop_recording(self, call_id: str) -> None:
        self._stop_recording(self._active_recording(call_id))

    def _activity(self, call: _Call) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Which tones are audible now: (customer side, agent side)."""
        left: set[int] = set()
        right: set[int] = set()
        for bridge in call.bridges.values():
            audible = [leg for leg in bridge.legs if not leg.held]
            if len(audible) < 2:
                continue
            for leg in audible:
                if not leg.muted:
                    (left if leg.role is LegRole.CUSTOMER else right).add(self.tones[leg.role])
        return tuple(sorted(left)), tuple(sorted(right))

    def _mark(self, rec: _Recording) -> None:
        now = self._now()
        left, right = self._activity(rec.call)
        marks = rec.marks
        if marks and marks[-1][1] == left and marks[-1][2] == right:
            return
        if marks and marks[-1][0] == now:
            marks.pop()
            if marks and marks[-1][1] == left and marks[-1][2] == right:
                return
        marks.append((now, left, right))

    def _segments(self, rec: _Recording, end: float) -> list[ToneSegment]:
        start = rec.started_at
        segments: list[ToneSegment] = []
        marks = rec.marks
        for i, (t0, left, right) in enumerate(marks):
            t1 = marks[i + 1][0] if i + 1 < len(marks) else end
            if t1 <= t0 or not (left or right):
                continue
            pieces = [(t0, t1)]
            for p0, p1 in rec.paused:
                cut: list[tuple[float, float]] = []
                for a, b in pieces:
                    if p1 <= a or p0 >= b:
                        cut.append((a, b))
                        continue
                    if a < p0:
                        cut.append((a, p0))
                    if p1 < b:
                        cut.append((p1, b))
                pieces = cut
            segments.extend(ToneSegment(a - start, b - start, left, right) for a, b in pieces if b > a)
        return segments

    def _stop_recording(self, rec: _Recording) -> None:
        now = self._now()
        if rec.paused_since is not None:
            rec.paused.append((rec.paused_since, now))
            rec.paused_since = None
        rec.stopped_at = now
        rec.call.recording = None
        duration = now - rec.started_at
        path = rec.path
        if rec.audio and path is not None:
            try:
                rec.size = write_tone_wav(
                    path,
                    duration=duration,
                    segments=self._segments(rec, now),
                    sample_rate=self.sample_rate,
                    encoding=rec.encoding,
                    amplitude=0.3,
                )
                self.stats.recordings_written += 1
                self.stats.recording_bytes += rec.size
            except OSError:
                log.exception("could not write recording %s", path)
                rec.path = path = None
                rec.size = 0
        rec.marks = []
        self._emit(
            RecordingStopped(
                at=now,
                call_id=rec.call.id,
                recording_id=rec.id,
                path=str(path) if path else None,
                duration=duration,
                channels=2,
                sample_rate=self.sample_rate,
                encoding=rec.encoding.value,
                size_bytes=rec.size,
                paused_intervals=tuple((a - rec.started_at, b - rec.started_at) for a, b in rec.paused),
            )
        )

    def get_recording(self, recording_id: str) -> RecordingInfo:
        rec = self._recordings.get(recording_id)
        if rec is None:
            raise UnknownRecordingError(f"no recording {recording_id!r}", recording_id=recording_id)
        return RecordingInfo(
            recording_id=rec.id,
            call_id=rec.call.id,
            path=str(rec.path) if rec.path else None,
            encoding=rec.encoding.value,
            sample_rate=self.sample_rate,
            channels=2,
            started_at=rec.started_at,
            stopped_at=rec.stopped_at,
            duration=None if rec.stopped_at is None else rec.stopped_at - rec.started_at,
            paused=rec.paused_since is not None,
            paused_intervals=tuple((a - rec.started_at, b - rec.started_at) for a, b in rec.paused),
            size_bytes=rec.size,
        )

    # -------------------------------------------------------------------- snapshots ----

    def _leg_info(self, leg: _Leg) -> LegInfo:
        return LegInfo(
            leg_id=leg.id,
            call_id=leg.call.id,
            role=leg.role,
            direction=leg.direction,
            state=leg.state,
            from_number=leg.from_number,
            to_number=leg.to_number,
            target=leg.target,
            created_at=leg.created_at,
            answered_at=leg.answered_at,
            ended_at=leg.ended_at,
            end_cause=leg.end_cause,
            bridge_id=leg.bridge.id if leg.bridge else None,
            parked=leg.parked,
            held=leg.held,
            muted=leg.muted,
            transfer_id=leg.transfer.id if leg.transfer else None,
        )

    def get_leg(self, leg_id: str) -> LegInfo:
        return self._leg_info(self._get_leg(leg_id))

    def get_call(self, call_id: str) -> CallInfo:
        call = self._get_call(call_id)
        rec = call.recording or call.last_recording
        return CallInfo(
            call_id=call.id,
            direction=call.direction,
            from_number=call.from_number,
            to_number=call.to_number,
            created_at=call.created_at,
            ended_at=call.ended_at,
            legs=tuple(self._leg_info(leg) for leg in call.legs),
            bridges=tuple(
                BridgeInfo(
                    bridge_id=b.id,
                    call_id=call.id,
                    leg_ids=tuple(m.id for m in b.legs),
                    created_at=b.created_at,
                )
                for b in call.bridges.values()
            ),
            recording_id=rec.id if rec else None,
        )

    def active_call_ids(self) -> list[str]:
        return [cid for cid, call in self._calls.items() if call.ended_at is None]
