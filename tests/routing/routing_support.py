"""Shared helpers for the routing tests (a plain module: the test dirs have no __init__)."""

from __future__ import annotations

from typing import Any

from kefu.core.time import VirtualClock
from kefu.routing import AgentConfig, QueueConfig, Router, RouterSettings
from kefu.routing.engine import HolidayCalendar
from kefu.routing.events import TaskOffered

START = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC, a Tuesday


class Harness:
    """A router on a virtual clock, recording every event."""

    def __init__(
        self,
        settings: RouterSettings | None = None,
        holidays: HolidayCalendar | None = None,
        start: float = START,
    ) -> None:
        self.clock = VirtualClock(start)
        self.events: list[Any] = []
        self.settings = settings
        self.router = Router(self.clock, self.events.append, settings=settings, holidays=holidays)

    # configuration
    def queue(self, queue_id: str, **kwargs: Any) -> None:
        self.router.upsert_queue(QueueConfig(queue_id, **kwargs))

    def agent(
        self,
        agent_id: str,
        skills: dict[str, int] | None = None,
        capacity: dict[str, int] | None = None,
        status: str | None = "available",
    ) -> None:
        self.router.upsert_agent(AgentConfig(agent_id, skills or {}, capacity or {"voice": 1}))
        if status is not None and status != "offline":
            self.router.set_status(agent_id, status)

    # tasks
    def submit(self, task_id: str, queue_id: str | None = None, **kwargs: Any) -> str:
        return self.router.submit_task(task_id, queue_id, **kwargs)

    def last_offer(self, task_id: str) -> TaskOffered:
        for ev in reversed(self.events):
            if isinstance(ev, TaskOffered) and ev.task_id == task_id:
                return ev
        raise AssertionError(f"task {task_id} was never offered")

    def offered_to(self, task_id: str) -> tuple[str, ...]:
        """Agents the task is offered to right now (empty if it is not offered)."""
        info = self.router.task_info(task_id)
        return tuple(info["offer_agents"])

    def accept(self, task_id: str, agent_id: str | None = None) -> str:
        offer = self.last_offer(task_id)
        agent_id = agent_id or offer.agent_ids[0]
        self.router.accept(task_id, agent_id, offer.token)
        return agent_id

    def answer(self, task_id: str) -> str:
        """Accept the current offer of a task and return the agent."""
        return self.accept(task_id)

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def types(self, since: int = 0) -> list[str]:
        return [e.type for e in self.events[since:]]

    def of(self, cls: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls)]

    def mark(self) -> int:
        return len(self.events)

    def state(self, task_id: str) -> str:
        return self.router.task_state(task_id)

    def agent_state(self, agent_id: str) -> str:
        return self.router.agent_stats(agent_id).state
