"""The telephony port: what call control (IVR, queues, agent desktop) may ask of a PBX.

The port is shaped after what a SIP B2BUA plus a media server can do (sippy + rtpengine over
*ng*, see ``notes/routing-and-telephony.md`` §5): a **call** is a set of **legs** (SIP dialogs:
the customer leg, agent legs, consultation legs, legs to external numbers); legs are joined in
**bridges** (two legs, or three or more for a conference); media operations act on one leg
(prompts, digit collection, music on hold, DTMF) or on the whole call (recording). Transfers
are done by the B2BUA itself (drop a leg, originate a new one, re-bridge), never by SIP REFER,
because trunks and many phones do not honour REFER.

Contract
========

* **Commands are synchronous and non-blocking.** They validate at once and raise a
  :class:`TelephonyError` subclass (with a stable ``code`` and a human message) for an unknown
  call/leg/bridge, a leg in the wrong state, a bad argument or an unsupported feature. A command
  that raises has changed nothing. A command that succeeds returns at once (with the id of
  whatever it created) and its outcome arrives later as an event.
* **Events are typed, frozen dataclasses** delivered to every handler registered with
  :meth:`TelephonyPort.subscribe`, in the order they happened, never re-entrantly from inside a
  command. Each carries ``at`` (POSIX seconds from the clock port), the ``call_id`` and, where it
  concerns a leg, the ``leg_id``; each has a stable ``type`` string and ``to_dict()``; the
  catalogue is :data:`EVENT_TYPES`.
* **Every operation that starts something finishes with exactly one event**: an originated leg
  ends in ``LegAnswered`` or ``LegFailed``; a playback in ``PlaybackFinished``; a digit
  collection in ``DigitsCollected``; a transfer in ``TransferCompleted``, ``TransferFailed`` or
  ``TransferCancelled``; a recording in ``RecordingStopped``; a call in ``CallEnded`` once its
  last leg has ended.
* A leg that was never answered and that *we* originated ends with ``LegFailed``; every other leg
  end (an incoming leg, or any leg after it was answered) is ``LegHungUp``.
* Hanging up a leg that has already ended is a no-op: races with the far end are normal in
  telephony and must not raise.
* Ids are opaque strings (uuid4 hex), unique within one PBX.

Handlers run synchronously on the PBX's loop; a controller that must do I/O puts the event on its
own queue.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

__all__ = [
    "DTMF_DIGITS",
    "EVENT_TYPES",
    "BridgeChange",
    "BridgeChanged",
    "BridgeInfo",
    "CallEnded",
    "CallInfo",
    "CallStateError",
    "Capability",
    "CollectReason",
    "DeviceStateError",
    "DigitsCollected",
    "DigitsReceived",
    "Direction",
    "DtmfSent",
    "EndpointTarget",
    "EventHandler",
    "HangupCause",
    "HangupSide",
    "IncomingCall",
    "InvalidArgumentError",
    "InvalidStateError",
    "LegAnswered",
    "LegFailed",
    "LegHeld",
    "LegHungUp",
    "LegInfo",
    "LegMuted",
    "LegParked",
    "LegResumed",
    "LegRinging",
    "LegRole",
    "LegState",
    "LegStateError",
    "LegUnmuted",
    "LegUnparked",
    "NotFoundError",
    "NotSupportedError",
    "NumberTarget",
    "Originated",
    "PlaybackFinished",
    "PlaybackReason",
    "Prompt",
    "RecordingPaused",
    "RecordingResumed",
    "RecordingStarted",
    "RecordingStopped",
    "Target",
    "TelephonyError",
    "TelephonyEvent",
    "TelephonyPort",
    "TransferCancelled",
    "TransferCompleted",
    "TransferFailed",
    "TransferHandle",
    "TransferKind",
    "TransferStarted",
    "TransferStateError",
    "UnknownBridgeError",
    "UnknownCallError",
    "UnknownCollectError",
    "UnknownEndpointError",
    "UnknownLegError",
    "UnknownPlaybackError",
    "UnknownRecordingError",
    "UnknownTransferError",
    "event_from_dict",
    "format_target",
    "parse_target",
    "validate_dtmf",
]

DTMF_DIGITS = frozenset("0123456789*#ABCD")
"""The sixteen DTMF symbols (RFC 4733 events 0–15)."""


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class TelephonyError(Exception):
    """A command was refused. ``code`` is stable (for APIs and tests); the message is for humans.

    ``http_status`` is a hint for the web layer's problem-details mapping.
    """

    code: str = "telephony_error"
    http_status: int = 400

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.details: dict[str, Any] = details

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class NotFoundError(TelephonyError):
    code = "not_found"
    http_status = 404


class UnknownCallError(NotFoundError):
    code = "unknown_call"


class UnknownLegError(NotFoundError):
    code = "unknown_leg"


class UnknownBridgeError(NotFoundError):
    code = "unknown_bridge"


class UnknownPlaybackError(NotFoundError):
    code = "unknown_playback"


class UnknownCollectError(NotFoundError):
    code = "unknown_collect"


class UnknownTransferError(NotFoundError):
    code = "unknown_transfer"


class UnknownRecordingError(NotFoundError):
    code = "unknown_recording"


class UnknownEndpointError(NotFoundError):
    code = "unknown_endpoint"


class InvalidStateError(TelephonyError):
    """The object exists but is in the wrong state for this command (HTTP 409)."""

    code = "invalid_state"
    http_status = 409


class LegStateError(InvalidStateError):
    """Specific codes: ``leg_ended``, ``leg_not_answered``, ``leg_already_answered``,
    ``leg_not_incoming``, ``leg_not_bridged``, ``leg_bridged``, ``leg_parked``, ``leg_not_parked``,
    ``leg_held``, ``leg_not_held``, ``leg_muted``, ``leg_not_muted``, ``collect_active``,
    ``leg_in_transfer``, ``not_two_party_bridge``."""

    code = "invalid_leg_state"


class CallStateError(InvalidStateError):
    """Specific codes: ``call_ended``, ``recording_active``, ``not_recording``,
    ``recording_paused``, ``recording_not_paused``, ``transfer_active``."""

    code = "invalid_call_state"


class TransferStateError(InvalidStateError):
    """Specific codes: ``transfer_finished``, ``consult_not_answered``, ``not_attended``."""

    code = "invalid_transfer_state"


class DeviceStateError(InvalidStateError):
    """Specific codes: ``device_not_ringing``, ``device_idle``."""

    code = "invalid_device_state"


class InvalidArgumentError(TelephonyError):
    code = "invalid_argument"
    http_status = 422


class NotSupportedError(TelephonyError):
    code = "not_supported"
    http_status = 501


# --------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------


class LegRole(enum.StrEnum):
    CUSTOMER = "customer"
    """The customer side: the caller of an inbound call, the callee of an outbound call."""
    AGENT = "agent"
    """An agent's device (softphone, WebRTC endpoint, desk phone)."""
    CONSULT = "consult"
    """The party consulted during an attended transfer."""
    EXTERNAL = "external"
    """A third party on an external number (blind transfer target, conference guest)."""


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class LegState(enum.StrEnum):
    INCOMING = "incoming"
    """An inbound leg offered to us and not yet answered (or rejected)."""
    DIALING = "dialing"
    """A leg we originated; no answer from the far end yet (SIP INVITE sent)."""
    RINGING = "ringing"
    """A leg we originated; the far end is alerting (SIP 180)."""
    ANSWERED = "answered"
    """Media is flowing (SIP 200 OK / ACK)."""
    ENDED = "ended"
    """Hung up or failed; terminal."""


class HangupCause(enum.StrEnum):
    NORMAL = "normal"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    """The far end rang and gave up itself (SIP 480/408)."""
    TIMEOUT = "timeout"
    """Our originate timeout expired and we cancelled the attempt."""
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    """The leg was given up before it was answered (SIP CANCEL / 487)."""
    UNREACHABLE = "unreachable"
    """No such number, or the device is not registered (SIP 404/480/503)."""
    TRANSFERRED = "transferred"
    """The PBX dropped this leg because its call was transferred away from it."""
    FAILURE = "failure"

    @property
    def sip_status(self) -> int | None:
        """The SIP final response an adapter maps this cause to (None: ends with BYE)."""
        return _SIP_STATUS[self]


_SIP_STATUS: dict[HangupCause, int | None] = {
    HangupCause.NORMAL: None,
    HangupCause.BUSY: 486,
    HangupCause.NO_ANSWER: 480,
    HangupCause.TIMEOUT: 408,
    HangupCause.REJECTED: 603,
    HangupCause.CANCELLED: 487,
    HangupCause.UNREACHABLE: 404,
    HangupCause.TRANSFERRED: None,
    HangupCause.FAILURE: 500,
}


class HangupSide(enum.StrEnum):
    REMOTE = "remote"
    """The party on this leg hung up (BYE/CANCEL from the far end)."""
    LOCAL = "local"
    """The controller hung this leg up (``hangup``/``reject``/``hangup_call``)."""
    SYSTEM = "system"
    """The PBX ended it as part of an operation (transfer completion, cancelled consultation)."""


class PlaybackReason(enum.StrEnum):
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"
    """Stopped by a DTMF digit (interruptible prompts only); the event names the digit."""
    STOPPED = "stopped"
    """Stopped by ``stop_playback``, or because the leg joined a bridge."""
    HANGUP = "hangup"


class CollectReason(enum.StrEnum):
    MAX_DIGITS = "max_digits"
    TERMINATOR = "terminator"
    TIMEOUT = "timeout"
    HANGUP = "hangup"
    CANCELLED = "cancelled"


class BridgeChange(enum.StrEnum):
    CREATED = "created"
    JOINED = "joined"
    LEFT = "left"
    DESTROYED = "destroyed"


class TransferKind(enum.StrEnum):
    BLIND = "blind"
    ATTENDED = "attended"


class Capability(enum.StrEnum):
    """Optional features a PBX may or may not have; see :attr:`TelephonyPort.capabilities`."""

    CONFERENCE = "conference"
    """Bridges of three or more legs (needs audio mixing)."""
    TTS = "tts"
    RECORDING = "recording"
    RECORDING_PAUSE = "recording_pause"
    ATTENDED_TRANSFER = "attended_transfer"
    MUTE = "mute"


# --------------------------------------------------------------------------------------------
# Command arguments and results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EndpointTarget:
    """An agent device (softphone/WebRTC endpoint) by its registration id."""

    endpoint_id: str

    def __str__(self) -> str:
        return f"endpoint:{self.endpoint_id}"


@dataclass(frozen=True, slots=True)
class NumberTarget:
    """A telephone number reached through the trunk (E.164 or a national/short number)."""

    number: str

    def __str__(self) -> str:
        return f"tel:{self.number}"


Target = EndpointTarget | NumberTarget


def format_target(target: Target) -> str:
    """``endpoint:<id>`` or ``tel:<number>``: the form events carry."""
    return str(target)


def parse_target(text: str) -> Target:
    kind, sep, value = text.partition(":")
    if sep and value:
        if kind == "endpoint":
            return EndpointTarget(value)
        if kind == "tel":
            return NumberTarget(value)
    raise InvalidArgumentError(f"not a target: {text!r} (expected 'endpoint:<id>' or 'tel:<number>')")


def validate_dtmf(digits: str, *, allow_empty: bool = False) -> str:
    """Return ``digits`` upper-cased, or raise :class:`InvalidArgumentError`."""
    if not isinstance(digits, str):
        raise InvalidArgumentError("DTMF digits must be a string")
    norm = digits.upper()
    if not norm and not allow_empty:
        raise InvalidArgumentError("no DTMF digits given")
    bad = sorted(set(norm) - DTMF_DIGITS)
    if bad:
        raise InvalidArgumentError(f"not DTMF digits: {''.join(bad)!r} (allowed: 0-9 * # A-D)")
    return norm


@dataclass(frozen=True, slots=True, kw_only=True)
class Prompt:
    """What to play: exactly one of a prompt id (from the prompt store), a file, or TTS text."""

    prompt_id: str | None = None
    path: str | None = None
    text: str | None = None
    language: str | None = None
    """For TTS (BCP 47, e.g. ``zh-CN``); also selects a localized prompt set where supported."""

    def __post_init__(self) -> None:
        given = sum(x is not None and x != "" for x in (self.prompt_id, self.path, self.text))
        if given != 1:
            raise InvalidArgumentError("a prompt needs exactly one of prompt_id, path or text")

    @classmethod
    def of(cls, prompt_id: str, *, language: str | None = None) -> Prompt:
        return cls(prompt_id=prompt_id, language=language)

    @classmethod
    def file(cls, path: str | Any) -> Prompt:
        return cls(path=str(path))

    @classmethod
    def tts(cls, text: str, *, language: str | None = None) -> Prompt:
        return cls(text=text, language=language)

    def describe(self) -> str:
        """``prompt:<id>``, ``file:<path>`` or ``tts:<text>``: the form events carry."""
        if self.prompt_id:
            return f"prompt:{self.prompt_id}"
        if self.path:
            return f"file:{self.path}"
        return f"tts:{self.text}"


@dataclass(frozen=True, slots=True)
class Originated:
    """Result of :meth:`TelephonyPort.originate_call`: the new call and its first leg."""

    call_id: str
    leg_id: str


@dataclass(frozen=True, slots=True)
class TransferHandle:
    """Result of a transfer command: the transfer's id and the leg originated to the target."""

    transfer_id: str
    leg_id: str


# --------------------------------------------------------------------------------------------
# Snapshots (read models)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LegInfo:
    leg_id: str
    call_id: str
    role: LegRole
    direction: Direction
    state: LegState
    from_number: str | None
    to_number: str | None
    target: str | None
    """``endpoint:<id>`` / ``tel:<number>`` for legs we originated."""
    created_at: float
    answered_at: float | None
    ended_at: float | None
    end_cause: HangupCause | None
    bridge_id: str | None
    parked: str | None
    """The music-on-hold class while parked, else None."""
    held: bool
    muted: bool
    transfer_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeInfo:
    bridge_id: str
    call_id: str
    leg_ids: tuple[str, ...]
    created_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CallInfo:
    call_id: str
    direction: Direction
    from_number: str | None
    to_number: str | None
    created_at: float
    ended_at: float | None
    legs: tuple[LegInfo, ...]
    bridges: tuple[BridgeInfo, ...]
    recording_id: str | None
    """The active (or last) recording of the call."""


# --------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class TelephonyEvent:
    """Base of all telephony events. ``type`` is the stable catalogue name."""

    type: ClassVar[str] = "telephony.event"
    at: float
    call_id: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: enums become their values, tuples become lists; ``type`` comes first."""
        out: dict[str, Any] = {"type": self.type}
        for f in dataclasses.fields(self):
            out[f.name] = _plain(getattr(self, f.name))
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class IncomingCall(TelephonyEvent):
    type: ClassVar[str] = "telephony.incoming_call"
    leg_id: str
    from_number: str
    to_number: str
    """The dialled number (DID) that selects the tenant and the IVR flow."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LegRinging(TelephonyEvent):
    type: ClassVar[str] = "telephony.leg_ringing"
    leg_id: str
    role: LegRole
    target: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LegAnswered(TelephonyEvent):
    type: ClassVar[str] = "telephony.leg_answered"
    leg_id: str
    role: LegRole


@dataclass(frozen=True, slots=True, kw_only=True)
class LegFailed(TelephonyEvent):
    """A leg we originated ended without being answered."""

    type: ClassVar[str] = "telephony.leg_failed"
    leg_id: str
    role: LegRole
    target: str
    cause: HangupCause


@dataclass(frozen=True, slots=True, kw_only=True)
class LegHungUp(TelephonyEvent):
    type: ClassVar[str] = "telephony.leg_hung_up"
    leg_id: str
    role: LegRole
    side: HangupSide
    cause: HangupCause
    answered: bool
    """False for an incoming leg that ended before it was answered (caller gave up, rejected)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEnded(TelephonyEvent):
    """The last leg of the call has ended; the call id will not be used again."""

    type: ClassVar[str] = "telephony.call_ended"
    duration: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackFinished(TelephonyEvent):
    type: ClassVar[str] = "telephony.playback_finished"
    leg_id: str
    playback_id: str
    prompt: str
    reason: PlaybackReason
    digit: str | None = None
    """The digit that interrupted the prompt (reason ``interrupted``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DigitsReceived(TelephonyEvent):
    """One DTMF digit arrived on a leg (always emitted, whether or not digits are collected)."""

    type: ClassVar[str] = "telephony.digits_received"
    leg_id: str
    digit: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DigitsCollected(TelephonyEvent):
    type: ClassVar[str] = "telephony.digits_collected"
    leg_id: str
    collect_id: str
    digits: str
    """Digits collected, the terminator excluded."""
    reason: CollectReason


@dataclass(frozen=True, slots=True, kw_only=True)
class DtmfSent(TelephonyEvent):
    type: ClassVar[str] = "telephony.dtmf_sent"
    leg_id: str
    digits: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LegParked(TelephonyEvent):
    type: ClassVar[str] = "telephony.leg_parked"
    leg_id: str
    moh: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LegUnparked(TelephonyEvent):
    type: ClassVar[str] = "telephony.leg_unparked"
    leg_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LegHeld(TelephonyEvent):
    type: ClassVar[str] = "telephony.leg_held"
    leg_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LegResumed(TelephonyEvent):
    type: ClassVar[str] = "telephony.leg_resumed"
    leg_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LegMuted(TelephonyEvent):
    type: ClassVar[str] = "telephony.leg_muted"
    leg_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LegUnmuted(TelephonyEvent):
    type: ClassVar[str] = "telephony.leg_unmuted"
    leg_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeChanged(TelephonyEvent):
    type: ClassVar[str] = "telephony.bridge_changed"
    bridge_id: str
    change: BridgeChange
    leg_id: str | None
    """The leg that joined or left (None for created/destroyed)."""
    leg_ids: tuple[str, ...]
    """Members after the change (for ``destroyed``: the members it had when destroyed)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferStarted(TelephonyEvent):
    type: ClassVar[str] = "telephony.transfer_started"
    transfer_id: str
    kind: TransferKind
    transferee_leg_id: str
    """The leg being transferred (usually the customer)."""
    transferor_leg_id: str | None
    """The leg giving the call away (usually the agent); None when none."""
    target_leg_id: str
    target: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferCompleted(TelephonyEvent):
    type: ClassVar[str] = "telephony.transfer_completed"
    transfer_id: str
    kind: TransferKind
    transferee_leg_id: str
    transferor_leg_id: str | None
    target_leg_id: str
    bridge_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferFailed(TelephonyEvent):
    """The target never answered, hung up during consultation, or the transferee left.

    After an attended transfer fails while the transferor is still there, the transferee and the
    transferor are bridged again (``restored_bridge_id``); after a blind transfer fails the
    transferee is left idle for the controller to re-queue or hang up.
    """

    type: ClassVar[str] = "telephony.transfer_failed"
    transfer_id: str
    kind: TransferKind
    transferee_leg_id: str
    transferor_leg_id: str | None
    target_leg_id: str
    cause: HangupCause
    restored_bridge_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferCancelled(TelephonyEvent):
    type: ClassVar[str] = "telephony.transfer_cancelled"
    transfer_id: str
    transferee_leg_id: str
    transferor_leg_id: str
    target_leg_id: str
    restored_bridge_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingStarted(TelephonyEvent):
    type: ClassVar[str] = "telephony.recording_started"
    recording_id: str
    path: str | None
    """Where the file will be written; None when this PBX writes no audio."""
    encoding: str
    sample_rate: int
    channels: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingPaused(TelephonyEvent):
    type: ClassVar[str] = "telephony.recording_paused"
    recording_id: str
    offset: float
    """Seconds from the start of the recording."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingResumed(TelephonyEvent):
    type: ClassVar[str] = "telephony.recording_resumed"
    recording_id: str
    offset: float


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingStopped(TelephonyEvent):
    """The recording is final. Channel 0 (left) is the customer side, channel 1 (right) the agents."""

    type: ClassVar[str] = "telephony.recording_stopped"
    recording_id: str
    path: str | None
    duration: float
    channels: int
    sample_rate: int
    encoding: str
    size_bytes: int
    paused_intervals: tuple[tuple[float, float], ...]
    """(start, end) offsets in seconds from the recording start; silent in the file."""


EVENT_TYPES: Mapping[str, type[TelephonyEvent]] = types.MappingProxyType(
    {
        cls.type: cls
        for cls in (
            IncomingCall,
            LegRinging,
            LegAnswered,
            LegFailed,
            LegHungUp,
            CallEnded,
            PlaybackFinished,
            DigitsReceived,
            DigitsCollected,
            DtmfSent,
            LegParked,
            LegUnparked,
            LegHeld,
            LegResumed,
            LegMuted,
            LegUnmuted,
            BridgeChanged,
            TransferStarted,
            TransferCompleted,
            TransferFailed,
            TransferCancelled,
            RecordingStarted,
            RecordingPaused,
            RecordingResumed,
            RecordingStopped,
        )
    }
)
"""The event catalogue: stable ``type`` string → event class."""


def _coerce(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            if arg is not type(None):
                return _coerce(arg, value)
        return value
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value)
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v) for v in value)
        return tuple(_coerce(a, v) for a, v in zip(args, value, strict=True))
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def event_from_dict(data: Mapping[str, Any]) -> TelephonyEvent:
    """Inverse of ``to_dict()`` (for events that crossed a process boundary or were stored)."""
    try:
        cls = EVENT_TYPES[data["type"]]
    except KeyError as exc:
        raise InvalidArgumentError(f"unknown telephony event type: {data.get('type')!r}") from exc
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    kwargs = {f.name: _coerce(hints[f.name], data[f.name]) for f in dataclasses.fields(cls) if f.name in data}
    return cls(**kwargs)


EventHandler = Callable[[TelephonyEvent], None]


# --------------------------------------------------------------------------------------------
# The port
# --------------------------------------------------------------------------------------------


@runtime_checkable
class TelephonyPort(Protocol):
    """What call control may ask of a PBX. See the module docstring for the contract."""

    @property
    def capabilities(self) -> frozenset[Capability]:
        """Optional features this PBX supports; a command needing a missing one raises
        :class:`NotSupportedError`."""
        ...

    def subscribe(self, handler: EventHandler) -> Callable[[], None]:
        """Deliver every later event to ``handler``; returns a function that unsubscribes."""
        ...

    # -- call and leg control ----------------------------------------------------------------

    def answer(self, leg_id: str) -> None:
        """Answer an incoming leg (state ``incoming``) → ``LegAnswered``. Media operations are
        allowed right after this returns."""
        ...

    def reject(self, leg_id: str, cause: HangupCause = HangupCause.REJECTED) -> None:
        """Refuse an incoming leg that is not answered yet → ``LegHungUp(side=local)``."""
        ...

    def hangup(self, leg_id: str, cause: HangupCause = HangupCause.NORMAL) -> None:
        """End a leg in any live state: an incoming leg is rejected, an originated leg still
        ringing is cancelled (``LegFailed(cancelled)``), an answered leg gets BYE
        (``LegHungUp(side=local)``). No-op on an ended leg."""
        ...

    def hangup_call(self, call_id: str, cause: HangupCause = HangupCause.NORMAL) -> None:
        """Hang up every live leg of the call."""
        ...

    def originate_leg(
        self,
        call_id: str,
        target: Target,
        *,
        role: LegRole | None = None,
        timeout: float = 30.0,
        caller_id: str | None = None,
    ) -> str:
        """Add a leg to an existing call, dialling ``target`` → ``LegRinging``, then
        ``LegAnswered`` or ``LegFailed`` (busy, no_answer, rejected, timeout, unreachable).
        ``role`` defaults to ``agent`` for endpoints and ``external`` for numbers; ``caller_id``
        defaults to the call's calling number. The new leg is not bridged automatically."""
        ...

    def originate_agent_leg(
        self, call_id: str, endpoint_id: str, *, timeout: float = 20.0, caller_id: str | None = None
    ) -> str:
        """``originate_leg(call_id, EndpointTarget(endpoint_id), role=AGENT, ...)``."""
        ...

    def originate_call(
        self,
        target: Target,
        *,
        caller_id: str,
        timeout: float = 45.0,
        role: LegRole | None = None,
    ) -> Originated:
        """Start a new outbound call whose first leg dials ``target`` with ``caller_id`` (a tenant
        number). ``role`` defaults to ``customer`` for numbers, ``agent`` for endpoints (agent-first
        preview dialling)."""
        ...

    # -- media on one leg --------------------------------------------------------------------

    def play(self, leg_id: str, prompt: Prompt, *, interruptible: bool = False) -> str:
        """Queue a prompt on an answered leg; returns the playback id → ``PlaybackFinished``.
        Prompts on one leg play one after another. An ``interruptible`` prompt stops at the
        first DTMF digit (the digit is still received and collected)."""
        ...

    def stop_playback(self, playback_id: str) -> None:
        """Stop (or unqueue) a playback → ``PlaybackFinished(stopped)``; no-op once finished."""
        ...

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
        """Collect DTMF on an answered leg → ``DigitsCollected`` (max_digits, terminator,
        timeout, hangup, cancelled). Digits typed ahead (e.g. during an interruptible prompt)
        are used first unless ``flush_buffer``. One collection per leg at a time."""
        ...

    def cancel_collect(self, collect_id: str) -> None:
        """→ ``DigitsCollected(cancelled)`` with the digits so far; no-op once finished."""
        ...

    def send_dtmf(self, leg_id: str, digits: str, *, tone_duration: float = 0.1) -> None:
        """Send RFC 4733 digits to the party on an answered leg → ``DtmfSent``."""
        ...

    def park(self, leg_id: str, *, moh: str = "default") -> None:
        """Put an answered, unbridged leg on music on hold (queueing) → ``LegParked``."""
        ...

    def unpark(self, leg_id: str) -> None:
        """Stop music on hold → ``LegUnparked``."""
        ...

    # -- bridges -----------------------------------------------------------------------------

    def bridge(self, leg_ids: Sequence[str]) -> str:
        """Join two answered legs of one call (three or more: a conference, if
        :attr:`Capability.CONFERENCE`) → ``BridgeChanged(created)``. Legs must not be parked,
        in another bridge, or in a transfer. Returns the bridge id."""
        ...

    def add_to_bridge(self, bridge_id: str, leg_id: str) -> None:
        """→ ``BridgeChanged(joined)`` (a conference needs :attr:`Capability.CONFERENCE`)."""
        ...

    def remove_from_bridge(self, leg_id: str) -> None:
        """Take a leg out of its bridge → ``BridgeChanged(left)``; a bridge left with one leg is
        destroyed (``BridgeChanged(destroyed)``)."""
        ...

    def unbridge(self, bridge_id: str) -> None:
        """Destroy a bridge; its legs stay up, unbridged → ``BridgeChanged(destroyed)``."""
        ...

    def hold(self, leg_id: str) -> None:
        """Hold a bridged leg: it hears music on hold and the others stop hearing it → ``LegHeld``.
        Hold belongs to the bridge: it ends silently when the leg leaves the bridge."""
        ...

    def resume(self, leg_id: str) -> None:
        """Take a held leg off hold → ``LegResumed``."""
        ...

    def mute(self, leg_id: str) -> None:
        """Stop sending this leg's audio to anyone (it still hears) → ``LegMuted``."""
        ...

    def unmute(self, leg_id: str) -> None: ...

    # -- transfers (done by the B2BUA, no REFER) ---------------------------------------------

    def blind_transfer(
        self, leg_id: str, target: Target, *, timeout: float = 30.0, caller_id: str | None = None
    ) -> TransferHandle:
        """Move a bridged leg (the transferee, usually the customer) to ``target``. It leaves its
        bridge (in a two-party bridge the other leg is hung up with cause ``transferred``) and
        waits while the target is dialled; on answer the two are bridged →
        ``TransferCompleted``; otherwise ``TransferFailed`` and the leg is left idle."""
        ...

    def start_attended_transfer(
        self, leg_id: str, target: Target, *, timeout: float = 30.0, caller_id: str | None = None
    ) -> TransferHandle:
        """Consultation: ``leg_id`` is the transferee in a two-party bridge; it is put on hold,
        the target is dialled as a ``consult`` leg and, on answer, bridged with the transferor
        (the other party of the original bridge)."""
        ...

    def complete_attended_transfer(self, transfer_id: str) -> None:
        """Bridge the transferee with the consulted party and drop the transferor (cause
        ``transferred``) → ``TransferCompleted``. The consulted leg must be answered."""
        ...

    def cancel_attended_transfer(self, transfer_id: str) -> None:
        """Drop the consultation leg and restore the original bridge (same bridge id) →
        ``TransferCancelled``."""
        ...

    # -- recording ---------------------------------------------------------------------------

    def start_recording(self, call_id: str) -> str:
        """Record the call (customer left, agents right) → ``RecordingStarted``; returns its id.
        One recording per call at a time; it stops by itself when the call ends."""
        ...

    def pause_recording(self, call_id: str) -> None:
        """Stop capturing audio (card payments) → ``RecordingPaused``; paused time is silent."""
        ...

    def resume_recording(self, call_id: str) -> None: ...

    def stop_recording(self, call_id: str) -> None:
        """→ ``RecordingStopped`` with the file's metadata."""
        ...

    # -- snapshots ---------------------------------------------------------------------------

    def get_call(self, call_id: str) -> CallInfo: ...

    def get_leg(self, leg_id: str) -> LegInfo: ...
