"""Shared helpers for the telephony tests: an event recorder and a tiny call controller.

Not collected by pytest (no ``test_`` prefix); imported by the test modules next to it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from kefu.core.time import VirtualClock
from kefu.telephony import (
    CallEnded,
    DigitsCollected,
    IncomingCall,
    LegAnswered,
    LegFailed,
    LegHungUp,
    LegRole,
    PlaybackFinished,
    Prompt,
    SimulatedPBX,
    TelephonyEvent,
    TelephonyPort,
    dominant_frequency,
)

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def make_pbx(
    recordings_dir: Path | None = None, *, seed: int = 1, **kwargs: object
) -> tuple[VirtualClock, SimulatedPBX]:
    clock = VirtualClock(T0)
    pbx = SimulatedPBX(clock, recordings_dir, seed=seed, raise_handler_errors=True, **kwargs)  # type: ignore[arg-type]
    pbx.register_prompt("welcome", duration=4.0)
    pbx.register_prompt("menu", duration=3.0)
    return clock, pbx


class Recorder:
    """Collects every event the PBX delivers."""

    def __init__(self, pbx: TelephonyPort) -> None:
        self.events: list[TelephonyEvent] = []
        pbx.subscribe(self.events.append)

    def of(self, cls: type[TelephonyEvent]) -> list:
        return [e for e in self.events if isinstance(e, cls)]

    def one(self, cls: type[TelephonyEvent]):
        found = self.of(cls)
        assert len(found) == 1, f"expected one {cls.__name__}, got {found}"
        return found[0]

    def types(self) -> list[str]:
        return [e.type.removeprefix("telephony.") for e in self.events]

    def timeline(self) -> list[tuple[str, float]]:
        return [(e.type.removeprefix("telephony."), round(e.at - T0, 3)) for e in self.events]

    def clear(self) -> None:
        self.events.clear()


class IvrController:
    """A minimal call controller, the way the real one (IVR + queue + desktop) will use the port:

    incoming → answer → welcome prompt → collect one digit → park with MOH → ring the next free
    agent device → on answer unpark + bridge (+ start recording) → when the customer hangs up,
    hang up the agent leg. An agent leg that fails rings the next agent.
    """

    def __init__(
        self,
        pbx: SimulatedPBX,
        agents: list[str],
        *,
        record: bool = False,
        agent_timeout: float = 20.0,
        on_bridged: Callable[[str, str, str], None] | None = None,
    ) -> None:
        self.pbx = pbx
        self.free_agents = list(agents)
        self.record = record
        self.agent_timeout = agent_timeout
        self.on_bridged = on_bridged
        self.customer_leg: dict[str, str] = {}
        self.agent_leg: dict[str, str] = {}
        self.agent_of_leg: dict[str, str] = {}
        self.menu_choice: dict[str, str] = {}
        self.bridges: dict[str, str] = {}
        self.recordings: dict[str, str] = {}
        self.waiting: list[str] = []
        pbx.subscribe(self.on_event)

    def on_event(self, ev: TelephonyEvent) -> None:
        pbx = self.pbx
        match ev:
            case IncomingCall(call_id=call_id, leg_id=leg_id):
                self.customer_leg[call_id] = leg_id
                pbx.answer(leg_id)
                pbx.play(leg_id, Prompt.of("welcome"))
            case PlaybackFinished(prompt="prompt:welcome", reason="completed", leg_id=leg_id):
                pbx.collect_digits(leg_id, max_digits=1, first_digit_timeout=5.0)
            case DigitsCollected(call_id=call_id, leg_id=leg_id, digits=digits, reason=reason) if (
                reason != "hangup"
            ):
                self.menu_choice[call_id] = digits
                pbx.park(leg_id, moh="default")
                self.waiting.append(call_id)
                self._offer()
            case LegAnswered(role=LegRole.AGENT, call_id=call_id, leg_id=leg_id) if (
                leg_id in self.agent_of_leg
            ):
                customer = self.customer_leg[call_id]
                pbx.unpark(customer)
                self.bridges[call_id] = pbx.bridge([customer, leg_id])
                if self.record:
                    self.recordings[call_id] = pbx.start_recording(call_id)
                if self.on_bridged:
                    self.on_bridged(call_id, customer, leg_id)
            case LegFailed(role=LegRole.AGENT, call_id=call_id, leg_id=leg_id):
                self.free_agents.append(self.agent_of_leg.pop(leg_id))
                self.agent_leg.pop(call_id, None)
                if pbx.get_leg(self.customer_leg[call_id]).state == "answered":
                    self.waiting.insert(0, call_id)
                self._offer()
            case LegHungUp(role=LegRole.CUSTOMER, call_id=call_id):
                if call_id in self.waiting:
                    self.waiting.remove(call_id)
                agent_leg = self.agent_leg.get(call_id)
                if agent_leg is not None:
                    pbx.hangup(agent_leg)
            case LegHungUp(role=LegRole.AGENT, leg_id=leg_id):
                agent = self.agent_of_leg.pop(leg_id, None)
                if agent is not None:
                    self.free_agents.append(agent)
                    self._offer()
            case CallEnded():
                pass

    def _offer(self) -> None:
        while self.waiting and self.free_agents:
            call_id = self.waiting.pop(0)
            agent = self.free_agents.pop(0)
            leg = self.pbx.originate_agent_leg(call_id, agent, timeout=self.agent_timeout)
            self.agent_leg[call_id] = leg
            self.agent_of_leg[leg] = agent


def window(samples: np.ndarray, sample_rate: int, start: float, end: float) -> np.ndarray:
    return samples[int(start * sample_rate) : int(end * sample_rate)]


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2))) if x.size else 0.0


def tone_of(samples: np.ndarray, sample_rate: int) -> float:
    return dominant_frequency(samples, sample_rate)
