"""The call controller: IVR, queueing, offers, bridging, transfers and wrap-up for every call.

It sits between the telephony port and the router host:

* telephony events (incoming call, digits, answered, hung up …) and routing
  events (task offered, offer timed out, exception triggered …) land on one
  asyncio queue and are handled in order, so call state is single-writer;
* it drives the PBX through the port and the router through its commands;
* it hands every change of a call to the :class:`~kefu.contacts.store.CallStore`
  (batched writes) and pushes real-time events to the agent desktop
  (``agent:<user id>``) and the wallboard (``wallboard``).

Agent devices are telephony endpoints named ``agent-<user id>``. On the
simulated PBX a person answers from the browser (``device_answer``); on real
SIP the phone rings and the person answers it there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from kefu.contacts import rules
from kefu.contacts.hooks import CONDITION_PROVIDERS, SELF_SERVICE_ACTIONS, CallContext
from kefu.contacts.models import IvrFlow, PlatformNumber, TenantNumber
from kefu.contacts.rules import CallSettings
from kefu.contacts.store import CallStore
from kefu.core.context import Context
from kefu.core.db import bind_tenant
from kefu.core.errors import Conflict, InvalidInput, NotFound
from kefu.core.ids import new_id
from kefu.core.pii import TenantCrypto, mask_phone, normalize_phone, tenant_crypto
from kefu.core.time import to_datetime
from kefu.ivr.rules import (
    ConditionNode,
    FlowDefinition,
    HangupNode,
    HoursNode,
    MenuNode,
    PlayNode,
    QueueNode,
    SelfServiceNode,
    TransferNode,
    VoicemailNode,
    parse_flow,
)
from kefu.routing import events as rev
from kefu.routing.errors import RoutingError
from kefu.routing.host import RouterHost
from kefu.routing.models import Queue
from kefu.telephony import port as tp
from kefu.tenancy.models import Tenant

log = logging.getLogger("kefu.calls")

AGENT_ENDPOINT_PREFIX = "agent-"


def agent_endpoint(agent_id: str | uuid.UUID) -> str:
    return f"{AGENT_ENDPOINT_PREFIX}{agent_id}"


def agent_of_endpoint(endpoint: str) -> str | None:
    return endpoint[len(AGENT_ENDPOINT_PREFIX) :] if endpoint.startswith(AGENT_ENDPOINT_PREFIX) else None


# --------------------------------------------------------------------------- state


@dataclass
class TenantInfo:
    id: uuid.UUID
    slug: str
    timezone: str
    settings: CallSettings
    crypto: TenantCrypto
    queues_by_name: dict[str, str]  # queue name → queue id (engine key)
    queue_names: dict[str, str]  # queue id → name
    default_number: str | None


@dataclass
class Offer:
    agent_id: str
    token: int
    leg_id: str | None


@dataclass(eq=False)
class CallSession:
    id: uuid.UUID
    tenant: TenantInfo
    pbx_call_id: str
    direction: str
    number: str
    tenant_number: str
    customer_leg: str | None = None
    state: str = "ivr"
    flow: FlowDefinition | None = None
    node: str | None = None
    retries: int = 0
    #: ("playback" | "collect", id) the IVR waits for, and what to do with the result.
    waiting: tuple[str, str] | None = None
    continuation: Callable[[Any], None] | None = None
    task_id: str | None = None
    queue_id: str | None = None
    queue_node: QueueNode | None = None
    offers: dict[str, Offer] = field(default_factory=dict)
    agent_id: str | None = None
    agent_leg: str | None = None
    bridge_id: str | None = None
    recording: str | None = None
    started_at: float = 0.0
    queued_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    held_since: float | None = None
    hold_total: float = 0.0
    muted: bool = False
    after_hours: bool = False
    outcome: str | None = None
    ivr_path: list[str] = field(default_factory=list)
    consult: dict[str, Any] | None = None
    callback_offered: bool = False
    survey_pending: bool = False
    #: Outbound: the agent who dialled, the number to reach once the agent answers.
    outbound_agent: str | None = None
    kind: str = "call"  # call | callback | outbound

    def summary(self) -> dict[str, Any]:
        return {
            "call_id": str(self.id),
            "direction": self.direction,
            "kind": self.kind,
            "state": self.state,
            "number": mask_phone(self.number),
            "tenant_number": self.tenant_number,
            "queue": self.tenant.queue_names.get(self.queue_id or "", None),
            "queue_id": self.queue_id,
            "agent_id": self.agent_id,
            "started_at": self.started_at,
            "queued_at": self.queued_at,
            "answered_at": self.answered_at,
            "held": self.held_since is not None,
            "muted": self.muted,
            "recording": self.recording is not None,
            "consulting": self.consult is not None,
            "ivr_path": list(self.ivr_path),
        }


class CallController:
    def __init__(self, ctx: Context, port: Any, host: RouterHost, store: CallStore) -> None:
        self.ctx = ctx
        self.port = port
        self.host = host
        self.store = store
        self.clock = ctx.clock
        self.by_pbx: dict[str, CallSession] = {}
        self.by_id: dict[uuid.UUID, CallSession] = {}
        self.by_task: dict[str, CallSession] = {}
        self.leg_owner: dict[str, CallSession] = {}
        self.agent_call: dict[tuple[uuid.UUID, str], CallSession] = {}
        self.tenants: dict[uuid.UUID, TenantInfo] = {}
        self.numbers: dict[str, uuid.UUID | None] = {}
        self.flows: dict[tuple[uuid.UUID, str], FlowDefinition | None] = {}
        self._queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        from kefu.domains import import_call_hooks

        import_call_hooks()
        self._unsubscribe = self.port.subscribe(self._on_telephony)
        self.host.listen(self._on_routing)
        self._task = asyncio.get_running_loop().create_task(self._pump(), name="call-controller")

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for session in list(self.by_id.values()):
            self._end_session(session, rules.INTERRUPTED)
        await self.store.close()

    def _on_telephony(self, event: tp.TelephonyEvent) -> None:
        self._put(("t", event))

    def _on_routing(self, tenant_id: uuid.UUID, event: Any) -> None:
        self._put(("r", tenant_id, event))

    def _put(self, item: tuple[Any, ...]) -> None:
        self._busy += 1
        self._idle.clear()
        self._queue.put_nowait(item)

    async def _pump(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                if item[0] == "t":
                    await self._telephony(item[1])
                elif item[0] == "r":
                    await self._routing(item[1], item[2])
                else:
                    await item[1]()
            except Exception:
                log.exception("call controller failed on %r", item)
            finally:
                self._busy -= 1
                if self._busy == 0:
                    self._idle.set()

    async def settle(self, rounds: int = 50) -> None:
        """Wait until every queued event has been handled (tests, benchmarks)."""
        for _ in range(rounds):
            await self._idle.wait()
            await asyncio.sleep(0)
            run_until = getattr(self.clock, "run_until", None)
            if run_until is not None:
                run_until(self.clock.now())
            await asyncio.sleep(0)
            if self._busy == 0 and self._queue.empty():
                return

    def _publish(self, tenant_id: uuid.UUID, topic: str, type_: str, data: dict[str, Any]) -> None:
        hub = self.ctx.services.get("hub")
        if hub is not None:
            hub.publish(tenant_id, topic, type_, data)

    def _now_dt(self) -> datetime:
        return to_datetime(self.clock.now())

    # ------------------------------------------------------------------ tenant, numbers, flows

    async def tenant_info(self, tenant_id: uuid.UUID, *, refresh: bool = False) -> TenantInfo:
        info = self.tenants.get(tenant_id)
        if info is not None and not refresh:
            return info
        assert self.ctx.session_factory is not None
        async with self.ctx.session_factory() as session:
            await bind_tenant(session, tenant_id)
            tenant = await session.get(Tenant, tenant_id)
            if tenant is None:
                raise LookupError(tenant_id)
            queues = list((await session.execute(sa.select(Queue).where(Queue.tenant_id == tenant_id))).scalars())
            number = (
                await session.execute(
                    sa.select(TenantNumber.number)
                    .where(TenantNumber.tenant_id == tenant_id, TenantNumber.outbound_caller_id.is_(True))
                    .order_by(TenantNumber.created_at)
                    .limit(1)
                )
            ).scalar_one_or_none()
            await session.commit()
        info = TenantInfo(
            id=tenant.id,
            slug=tenant.slug,
            timezone=tenant.timezone,
            settings=CallSettings.of(tenant.settings),
            crypto=tenant_crypto(self.ctx.settings.secret, tenant.id, tenant.pii_key_salt),
            queues_by_name={q.name: str(q.id) for q in queues},
            queue_names={str(q.id): q.name for q in queues},
            default_number=number,
        )
        self.tenants[tenant_id] = info
        return info

    def forget(self, tenant_id: uuid.UUID) -> None:
        """Configuration changed (numbers, flows, queues, settings): reload on next use."""
        self.tenants.pop(tenant_id, None)
        self.numbers = {k: v for k, v in self.numbers.items() if v != tenant_id}
        self.flows = {k: v for k, v in self.flows.items() if k[0] != tenant_id}

    async def _tenant_for_number(self, number: str) -> uuid.UUID | None:
        if number in self.numbers:
            return self.numbers[number]
        assert self.ctx.session_factory is not None
        async with self.ctx.session_factory() as session:
            tenant_id = (
                await session.execute(sa.select(PlatformNumber.tenant_ref).where(PlatformNumber.number == number))
            ).scalar_one_or_none()
            await session.commit()
        self.numbers[number] = tenant_id
        return tenant_id

    async def _flow_for(self, tenant: TenantInfo, number: str) -> FlowDefinition | None:
        key = (tenant.id, number)
        if key in self.flows:
            return self.flows[key]
        assert self.ctx.session_factory is not None
        async with self.ctx.session_factory() as session:
            await bind_tenant(session, tenant.id)
            flow_key = (
                await session.execute(
                    sa.select(TenantNumber.flow_id).where(
                        TenantNumber.tenant_id == tenant.id, TenantNumber.number == number
                    )
                )
            ).scalar_one_or_none()
            definition = None
            if flow_key is not None:
                definition = (
                    await session.execute(
                        sa.select(IvrFlow.definition).where(
                            IvrFlow.tenant_id == tenant.id, IvrFlow.flow_key == flow_key, IvrFlow.is_current.is_(True)
                        )
                    )
                ).scalar_one_or_none()
            await session.commit()
        flow = None
        if definition is not None:
            flow = parse_flow(definition)
        elif tenant.queues_by_name:
            flow = parse_flow(rules.default_flow(sorted(tenant.queues_by_name)[0]))
        self.flows[key] = flow
        return flow

    # ------------------------------------------------------------------ telephony events

    async def _telephony(self, event: tp.TelephonyEvent) -> None:
        if isinstance(event, tp.IncomingCall):
            await self._incoming(event)
            return
        session = self.by_pbx.get(event.call_id)
        if session is None:
            return
        if isinstance(event, tp.LegAnswered):
            self._leg_answered(session, event)
        elif isinstance(event, tp.PlaybackFinished):
            if session.waiting == ("playback", event.playback_id):
                self._resume(session, event)
        elif isinstance(event, tp.DigitsCollected):
            if session.waiting == ("collect", event.collect_id):
                self._resume(session, event)
        elif isinstance(event, tp.LegFailed):
            self._leg_failed(session, event)
        elif isinstance(event, tp.LegHungUp):
            self._leg_hung_up(session, event)
        elif isinstance(event, tp.RecordingStopped):
            self._recording_stopped(session, event)
        elif isinstance(event, tp.TransferCompleted):
            self._transfer_completed(session, event)
        elif isinstance(event, tp.TransferFailed | tp.TransferCancelled):
            self._transfer_ended(session, event)
        elif isinstance(event, tp.CallEnded):
            self._call_ended(session)

    async def _incoming(self, event: tp.IncomingCall) -> None:
        try:
            dialled = normalize_phone(event.to_number)
        except ValueError:
            dialled = event.to_number
        tenant_id = await self._tenant_for_number(dialled)
        if tenant_id is None:
            self.port.reject(event.leg_id, tp.HangupCause.UNREACHABLE)
            return
        tenant = await self.tenant_info(tenant_id)
        await self.host.get(tenant_id)
        try:
            number = normalize_phone(event.from_number)
        except ValueError:
            number = event.from_number
        session = CallSession(
            id=new_id(),
            tenant=tenant,
            pbx_call_id=event.call_id,
            direction="inbound",
            number=number,
            tenant_number=dialled,
            customer_leg=event.leg_id,
            started_at=event.at,
        )
        self._register(session)
        session.flow = await self._flow_for(tenant, dialled)
        self._store_new(session)
        self.port.answer(event.leg_id)
        self._publish(tenant.id, "wallboard", "call.started", {"call_id": str(session.id), "at": event.at})

    def _register(self, session: CallSession) -> None:
        self.by_pbx[session.pbx_call_id] = session
        self.by_id[session.id] = session
        if session.customer_leg:
            self.leg_owner[session.customer_leg] = session

    def _store_new(self, session: CallSession) -> None:
        crypto = session.tenant.crypto
        number_ok = session.number.startswith("+") or session.number.isdigit()
        self.store.insert(
            session.tenant.id,
            session.id,
            {
                "pbx_call_id": session.pbx_call_id,
                "direction": session.direction,
                "number_enc": crypto.seal(session.number, row_id=session.id, field="number"),
                "number_index": crypto.phone_index(session.number) if number_ok else None,
                "number_masked": mask_phone(session.number),
                "tenant_number": session.tenant_number,
                "state": session.state,
                "started_at": to_datetime(session.started_at),
                "hold_seconds": 0.0,
                "ivr_path": [],
                "agent_id": uuid.UUID(session.outbound_agent) if session.outbound_agent else None,
            },
        )
        self._event(session, "call.started", direction=session.direction, tenant_number=session.tenant_number)

    def _event(self, session: CallSession, type_: str, agent_id: str | None = None, **data: Any) -> None:
        self.store.event(
            session.tenant.id, session.id, self._now_dt(), type_, uuid.UUID(agent_id) if agent_id else None, **data
        )

    def _set(self, session: CallSession, **fields: Any) -> None:
        if "state" in fields:
            session.state = fields["state"]
        self.store.update(session.tenant.id, session.id, **fields)

    # ------------------------------------------------------------------ answering and the IVR

    def _leg_answered(self, session: CallSession, event: tp.LegAnswered) -> None:
        if event.leg_id == session.customer_leg:
            if session.direction == "inbound" and session.state == "ivr":
                self._run_node(session, session.flow.start if session.flow else None)
            elif session.direction == "outbound":
                self._outbound_customer_answered(session)
            return
        agent = self._offer_agent_for_leg(session, event.leg_id)
        if agent is not None:
            self._agent_answered(session, agent, event.leg_id)
        elif session.consult and session.consult.get("kind") == "conference" and session.consult["leg"] == event.leg_id:
            self._conference_answered(session, event.leg_id)
        elif session.kind == "outbound" and event.leg_id == session.agent_leg:
            self._outbound_agent_answered(session)

    def _wait(self, session: CallSession, kind: str, ident: str, then: Callable[[Any], None]) -> None:
        session.waiting = (kind, ident)
        session.continuation = then

    def _resume(self, session: CallSession, event: Any) -> None:
        then = session.continuation
        session.waiting = None
        session.continuation = None
        if then is not None and session.state != "ended":
            then(event)

    def _play(
        self,
        session: CallSession,
        prompt: Any,
        then: Callable[[Any], None],
        *,
        leg: str | None = None,
        interruptible: bool = False,
    ) -> None:
        leg_id = leg or session.customer_leg
        assert leg_id is not None
        text = prompt.text if hasattr(prompt, "text") else None
        file = prompt.file if hasattr(prompt, "file") else None
        prompt_obj = tp.Prompt.tts(text, language="zh-CN") if text else tp.Prompt.file(file)
        try:
            playback = self.port.play(leg_id, prompt_obj, interruptible=interruptible)
        except tp.TelephonyError as exc:
            log.info("call %s: cannot play a prompt (%s)", session.id, exc)
            return
        self._wait(session, "playback", playback, then)

    def _collect(
        self, session: CallSession, then: Callable[[Any], None], *, timeout: float = 5.0, max_digits: int = 1
    ) -> None:
        assert session.customer_leg is not None
        try:
            collect = self.port.collect_digits(
                session.customer_leg, max_digits=max_digits, terminator=None, first_digit_timeout=timeout
            )
        except tp.TelephonyError as exc:
            log.info("call %s: cannot collect digits (%s)", session.id, exc)
            return
        self._wait(session, "collect", collect, then)

    def _run_node(self, session: CallSession, name: str | None) -> None:
        flow = session.flow
        if flow is None or name is None:
            session.outcome = rules.FAILED
            self._play(
                session, _TextPrompt("您拨打的号码暂未开通服务，再见。"), lambda _e: self._hangup_customer(session)
            )
            return
        node = flow.nodes[name]
        session.node = name
        session.ivr_path.append(name)
        self._set(session, ivr_path=list(session.ivr_path))
        if isinstance(node, PlayNode):
            self._play(session, node.prompt, lambda _e: self._run_node(session, node.next))
        elif isinstance(node, MenuNode):
            session.retries = 0
            self._menu(session, node)
        elif isinstance(node, HoursNode):
            is_open = node.hours.is_open(self._now_dt())
            if not is_open:
                session.after_hours = True
            self._run_node(session, node.open if is_open else node.closed)
        elif isinstance(node, SelfServiceNode):
            self._self_service(session, node)
        elif isinstance(node, ConditionNode):
            self._condition(session, node)
        elif isinstance(node, QueueNode):
            self._enter_queue(session, node)
        elif isinstance(node, VoicemailNode):
            self._voicemail(session, node)
        elif isinstance(node, TransferNode):
            self._transfer_out_of_ivr(session, node)
        elif isinstance(node, HangupNode):
            session.outcome = rules.AFTER_HOURS if session.after_hours else rules.SELF_SERVICE
            if node.prompt is not None:
                self._play(session, node.prompt, lambda _e: self._hangup_customer(session))
            else:
                self._hangup_customer(session)

    def _menu(self, session: CallSession, node: MenuNode) -> None:
        def on_digits(event: Any) -> None:
            digit = event.digits[:1] if event.reason != tp.CollectReason.HANGUP else ""
            if digit in node.options:
                self._event(session, "ivr.menu", node=session.node, digit=digit)
                self._run_node(session, node.options[digit])
                return
            session.retries += 1
            if session.retries > node.retries:
                self._run_node(session, node.no_input)
                return
            prompt = node.invalid_prompt or node.prompt
            self._play(session, prompt, lambda e: on_prompt(e), interruptible=True)

        def on_prompt(event: Any) -> None:
            self._collect(session, on_digits, timeout=node.timeout)

        self._play(session, node.prompt, on_prompt, interruptible=True)

    def _call_context(self, session: CallSession) -> CallContext:
        return CallContext(session.tenant.id, session.id, session.number, session.tenant_number)

    def _self_service(self, session: CallSession, node: SelfServiceNode) -> None:
        action = SELF_SERVICE_ACTIONS.get(node.action)

        async def run() -> None:
            text: str | None = None
            if action is not None:
                try:
                    text = await action(self.ctx, self._call_context(session))
                except Exception:
                    log.exception("self-service action %s failed", node.action)
            elif node.action in ("sms_balance", "sms_incident_notice"):
                self._queue_sms(session, session.number, session.tenant.settings.self_service_sms, "self_service")
            self._event(session, "ivr.self_service", action=node.action)
            if session.state == "ended":
                return
            if text:
                self._play(session, _TextPrompt(text), lambda _e: self._after_self_service(session, node))
            else:
                self._after_self_service(session, node)

        self._put(("f", run))

    def _after_self_service(self, session: CallSession, node: SelfServiceNode) -> None:
        if node.prompt is not None:
            self._play(session, node.prompt, lambda _e: self._run_node(session, node.next))
        else:
            self._run_node(session, node.next)

    def _condition(self, session: CallSession, node: ConditionNode) -> None:
        provider = CONDITION_PROVIDERS.get(node.attribute)

        async def decide() -> None:
            result = False
            if provider is not None:
                try:
                    result = await provider(self.ctx, self._call_context(session))
                except Exception:
                    log.exception("condition %s failed; taking the 'else' branch", node.attribute)
            if session.state != "ended":
                self._run_node(session, node.then if result else node.otherwise)

        self._put(("f", decide))

    # ------------------------------------------------------------------ queueing

    def _router(self, session: CallSession) -> Any:
        hosted = self.host.loaded(session.tenant.id)
        assert hosted is not None, "router loaded at call start"
        return hosted.router

    def _enter_queue(self, session: CallSession, node: QueueNode) -> None:
        queue_id = session.tenant.queues_by_name.get(node.queue)
        if queue_id is None:
            log.warning("call %s: queue %r is gone; sending to voicemail-less goodbye", session.id, node.queue)
            session.outcome = rules.FAILED
            self._play(
                session, _TextPrompt("抱歉，暂时无法为您转接，请稍后再拨。"), lambda _e: self._hangup_customer(session)
            )
            return
        session.queue_node = node
        if node.prompt is not None:
            self._play(session, node.prompt, lambda _e: self._submit(session, queue_id, node))
        else:
            self._submit(session, queue_id, node)

    def _submit(
        self,
        session: CallSession,
        queue_id: str,
        node: QueueNode,
        *,
        enqueued_at: float | None = None,
        kind: str = "call",
    ) -> None:
        router = self._router(session)
        task_id = str(session.id) if kind == "call" else str(new_id())
        attributes = {"call_id": str(session.id), **{k: v for k, v in node.attributes.items()}}
        try:
            router.submit_task(
                task_id,
                queue_id=queue_id,
                priority=node.priority,
                kind=kind,
                attributes=attributes,
                enqueued_at=enqueued_at,
            )
        except RoutingError as exc:
            log.info("call %s: queue %s refused the call (%s)", session.id, queue_id, exc.code)
            session.outcome = rules.AFTER_HOURS if exc.code == "queue_closed" else rules.FAILED
            if exc.code == "queue_closed":
                session.after_hours = True
            text = (
                "现在是非工作时间，请在工作时间再拨。"
                if exc.code == "queue_closed"
                else "当前排队人数已满，请稍后再拨。"
            )
            self._play(session, _TextPrompt(text), lambda _e: self._hangup_customer(session))
            return
        session.task_id = task_id
        session.queue_id = queue_id
        session.queued_at = self.clock.now()
        self.by_task[task_id] = session
        if router.task_state(task_id) == "waiting":
            self._park(session)
        self._set(session, state="queued", queue_id=uuid.UUID(queue_id), queued_at=to_datetime(session.queued_at))
        self._event(session, "call.queued", queue_id=queue_id)
        self._maybe_offer_callback(session)

    def _park(self, session: CallSession) -> None:
        if session.customer_leg is None:
            return
        with contextlib.suppress(tp.TelephonyError):
            self.port.park(session.customer_leg)

    def _unpark(self, session: CallSession) -> None:
        if session.customer_leg is None:
            return
        try:
            leg = self.port.get_leg(session.customer_leg)
            if getattr(leg, "parked", False) or str(getattr(leg, "state", "")) == "parked":
                self.port.unpark(session.customer_leg)
        except tp.TelephonyError:
            pass

    def _maybe_offer_callback(self, session: CallSession) -> None:
        node = session.queue_node
        if node is None or node.callback_offer_after is None or session.callback_offered or session.task_id is None:
            return
        try:
            ewt = self._router(session).estimated_wait(session.task_id)
        except RoutingError:
            return
        if ewt is not None and ewt > node.callback_offer_after:
            self._offer_callback(session, node.callback_prompt)

    def _offer_callback(self, session: CallSession, prompt: Any) -> None:
        session.callback_offered = True
        self._unpark(session)

        def on_digits(event: Any) -> None:
            if event.digits[:1] == "1":
                self._convert_to_callback(session)
            elif session.state in ("queued",):
                self._park(session)

        self._play(
            session,
            prompt or _TextPrompt("如需回电请按1。"),
            lambda _e: self._collect(session, on_digits),
            interruptible=True,
        )

    def _convert_to_callback(self, session: CallSession) -> None:
        """The caller asked to be called back: the callback keeps the caller's place in line."""
        router = self._router(session)
        if session.task_id is None or not router.has_task(session.task_id):
            return
        info = router.task_info(session.task_id)
        router.cancel(session.task_id, "callback_requested")
        self.by_task.pop(session.task_id, None)
        callback_task = str(new_id())
        router.submit_task(
            callback_task,
            queue_id=info["queue_id"],
            priority=info["priority"],
            kind="callback",
            attributes={"call_id": str(session.id)},
            enqueued_at=info["enqueued_at"],
        )
        callback = self._callback_session(session.tenant, callback_task, info, session.number, session.tenant_number)
        session.outcome = rules.CALLBACK
        self._event(session, "call.callback_requested", callback_id=str(callback.id))
        if session.tenant.settings.missed_call.notify_caller:
            self._queue_sms(
                session,
                session.number,
                session.tenant.settings.missed_call.caller_text,
                "callback_promise",
                dedupe=f"callback:{session.id}",
            )
        self._play(
            session,
            _TextPrompt("好的，我们将按您的排队顺序尽快回电，再见。"),
            lambda _e: self._hangup_customer(session),
        )
        self._publish(session.tenant.id, "wallboard", "callback.queued", {"call_id": str(session.id)})

    def _voicemail(self, session: CallSession, node: VoicemailNode) -> None:
        session.outcome = rules.VOICEMAIL

        def record(_event: Any) -> None:
            with contextlib.suppress(tp.TelephonyError):
                session.recording = self.port.start_recording(session.pbx_call_id)
            self._event(session, "call.voicemail")
            self.clock.call_later(node.max_seconds, self._hangup_customer, session)

        self._play(session, node.prompt, record)

    def _transfer_out_of_ivr(self, session: CallSession, node: TransferNode) -> None:
        session.outcome = rules.TRANSFERRED_OUT

        def dial(_event: Any) -> None:
            try:
                leg = self.port.originate_leg(
                    session.pbx_call_id,
                    tp.NumberTarget(node.number),
                    role=tp.LegRole.EXTERNAL,
                    caller_id=session.tenant_number,
                )
            except tp.TelephonyError:
                self._hangup_customer(session)
                return
            session.consult = {"kind": "ivr_transfer", "leg": leg}
            self.leg_owner[leg] = session

        if node.prompt is not None:
            self._play(session, node.prompt, dial)
        else:
            dial(None)

    # ------------------------------------------------------------------ routing events

    async def _routing(self, tenant_id: uuid.UUID, event: Any) -> None:
        if isinstance(event, rev.AgentStateChanged | rev.AgentStatusChanged):
            self._publish_agent(tenant_id, event)
            return
        task_id = getattr(event, "task_id", None)
        session = self.by_task.get(task_id) if task_id else None
        if isinstance(
            event,
            rev.TaskQueued
            | rev.TaskAbandoned
            | rev.TaskAssigned
            | rev.TaskCompleted
            | rev.TaskOverflowed
            | rev.TaskTransferred
            | rev.TaskCancelled,
        ):
            self._publish(
                tenant_id,
                "wallboard",
                "queue.changed",
                {"queue_id": getattr(event, "queue_id", None), "type": event.type},
            )
        if session is None and isinstance(event, rev.TaskOffered):
            session = await self._callback_session(tenant_id, event.task_id)
        if session is None:
            return
        if isinstance(event, rev.TaskOffered):
            self._offered(session, event)
        elif isinstance(event, rev.OfferTimedOut | rev.OfferWithdrawn):
            self._offer_gone(session, event.token, list(event.agent_ids), event.type)
        elif isinstance(event, rev.OfferRejected):
            self._offer_gone(session, event.token, [event.agent_id], event.type)
        elif isinstance(event, rev.TaskOverflowed):
            session.queue_id = event.queue_id
            self._set(session, queue_id=uuid.UUID(event.queue_id))
            self._event(session, "call.overflowed", queue_id=event.queue_id, reason=event.reason)
        elif isinstance(event, rev.ExceptionTriggered):
            self._exception(session, event)

    async def _callback_session(self, tenant_id: uuid.UUID, task_id: str) -> CallSession | None:
        """A callback task this process has not seen (queued before a restart): rebuild it from the call
        it came from, whose number is stored encrypted."""
        hosted = self.host.loaded(tenant_id)
        if hosted is None or not hosted.router.has_task(task_id):
            return None
        info = hosted.router.task_info(task_id)
        call_id = (info.get("attributes") or {}).get("call_id")
        if info.get("kind") != "callback" or not call_id:
            return None
        tenant = await self.tenant_info(tenant_id)
        assert self.ctx.session_factory is not None
        async with self.ctx.session_factory() as db:
            await bind_tenant(db, tenant_id)
            from kefu.contacts.models import Call

            call = (
                await db.execute(sa.select(Call).where(Call.tenant_id == tenant_id, Call.id == uuid.UUID(call_id)))
            ).scalar_one_or_none()
            await db.commit()
        if call is None or call.number_enc is None:
            return None
        number = tenant.crypto.open(call.number_enc, row_id=call.id, field="number")
        return self._callback_session(tenant, task_id, info, number or "", call.tenant_number)

    def _callback_session(
        self, tenant: Any, task_id: str, info: dict[str, Any], number: str, tenant_number: str
    ) -> CallSession:
        """A queued callback task's call session (outbound to ``number`` once an agent takes it), registered."""
        session = CallSession(
            id=new_id(),
            tenant=tenant,
            pbx_call_id=f"callback:{task_id}",
            direction="outbound",
            number=number,
            tenant_number=tenant_number,
            state="queued",
            kind="callback",
            task_id=task_id,
            queue_id=info["queue_id"],
            started_at=self.clock.now(),
            queued_at=info["enqueued_at"],
        )
        self.by_task[task_id] = session
        self.by_id[session.id] = session
        return session

    def _publish_agent(self, tenant_id: uuid.UUID, event: Any) -> None:
        data = {"agent_id": event.agent_id, "at": event.at}
        if isinstance(event, rev.AgentStateChanged):
            data.update(state=event.state, previous=event.previous)
        else:
            data.update(status=event.status, reason=event.reason, previous=event.previous)
        self._publish(tenant_id, f"agent:{event.agent_id}", event.type, data)
        self._publish(tenant_id, "wallboard", event.type, data)

    def _offered(self, session: CallSession, event: Any) -> None:
        if session.kind == "callback" and session.customer_leg is None:
            self._offer_callback_task(session, event)
            return
        session.state = "ringing"
        timeout = max(1.0, event.expires_at - event.at) if event.expires_at else 30.0
        for agent_id in event.agent_ids:
            try:
                leg = self.port.originate_agent_leg(session.pbx_call_id, agent_endpoint(agent_id), timeout=timeout)
            except tp.TelephonyError as exc:
                log.info("call %s: cannot ring agent %s (%s)", session.id, agent_id, exc)
                self._reject_offer(session, agent_id, event.token)
                continue
            session.offers[agent_id] = Offer(agent_id, event.token, leg)
            self.leg_owner[leg] = session
            self._publish(
                session.tenant.id,
                f"agent:{agent_id}",
                "call.offered",
                {**session.summary(), "token": event.token, "expires_at": event.expires_at},
            )
        self._set(session, state="ringing")

    def _offer_callback_task(self, session: CallSession, event: Any) -> None:
        """A callback reached an agent: ring the agent first, then dial the customer."""
        agent_id = event.agent_ids[0]
        caller_id = session.tenant_number or session.tenant.default_number or "10000"
        try:
            originated = self.port.originate_call(
                tp.EndpointTarget(agent_endpoint(agent_id)),
                caller_id=caller_id,
                timeout=max(1.0, event.expires_at - event.at),
            )
        except tp.TelephonyError as exc:
            log.info("callback %s: cannot ring agent %s (%s)", session.id, agent_id, exc)
            self._reject_offer(session, agent_id, event.token)
            return
        session.pbx_call_id = originated.call_id
        session.offers[agent_id] = Offer(agent_id, event.token, originated.leg_id)
        self.by_pbx[originated.call_id] = session
        self.leg_owner[originated.leg_id] = session
        session.state = "ringing"
        self._store_new(session)
        self._publish(
            session.tenant.id,
            f"agent:{agent_id}",
            "call.offered",
            {**session.summary(), "token": event.token, "expires_at": event.expires_at},
        )

    def _offer_agent_for_leg(self, session: CallSession, leg_id: str) -> str | None:
        for agent_id, offer in session.offers.items():
            if offer.leg_id == leg_id:
                return agent_id
        return None

    def _reject_offer(self, session: CallSession, agent_id: str, token: int) -> None:
        if session.task_id is None:
            return
        with contextlib.suppress(RoutingError):
            self._router(session).reject(session.task_id, agent_id, token)

    def _offer_gone(self, session: CallSession, token: int, agent_ids: list[str], why: str) -> None:
        for agent_id in agent_ids:
            offer = session.offers.get(agent_id)
            if offer is None or offer.token != token:
                continue
            del session.offers[agent_id]
            if offer.leg_id is not None:
                self.leg_owner.pop(offer.leg_id, None)
                with contextlib.suppress(tp.TelephonyError):
                    self.port.hangup(offer.leg_id, tp.HangupCause.CANCELLED)
            self._publish(
                session.tenant.id, f"agent:{agent_id}", "call.offer_ended", {"call_id": str(session.id), "reason": why}
            )
        if not session.offers and session.state == "ringing" and session.agent_id is None:
            self._set(session, state="queued")
            if session.kind == "call":
                self._park(session)

    def _agent_answered(self, session: CallSession, agent_id: str, leg_id: str) -> None:
        offer = session.offers.get(agent_id)
        if offer is None or session.task_id is None:
            self.port.hangup(leg_id)
            return
        try:
            self._router(session).accept(session.task_id, agent_id, offer.token)
        except RoutingError as exc:
            log.info("call %s: agent %s answered too late (%s)", session.id, agent_id, exc.code)
            del session.offers[agent_id]
            self.leg_owner.pop(leg_id, None)
            self.port.hangup(leg_id, tp.HangupCause.CANCELLED)
            return
        for other, other_offer in list(session.offers.items()):
            if other != agent_id and other_offer.leg_id:
                self.leg_owner.pop(other_offer.leg_id, None)
                with contextlib.suppress(tp.TelephonyError):
                    self.port.hangup(other_offer.leg_id, tp.HangupCause.CANCELLED)
        session.offers.clear()
        session.agent_id = agent_id
        session.agent_leg = leg_id
        session.answered_at = self.clock.now()
        self.agent_call[(session.tenant.id, agent_id)] = session
        if session.kind == "callback":
            self._dial_callback_customer(session)
            return
        self._connect(session)

    def _connect(self, session: CallSession) -> None:
        self._unpark(session)
        assert session.customer_leg is not None and session.agent_leg is not None
        try:
            session.bridge_id = self.port.bridge([session.customer_leg, session.agent_leg])
        except tp.TelephonyError as exc:
            log.warning("call %s: bridging failed (%s)", session.id, exc)
            return
        wait = (session.answered_at or self.clock.now()) - (session.queued_at or session.started_at)
        session.outcome = rules.ANSWERED
        self._set(
            session,
            state="connected",
            agent_id=uuid.UUID(session.agent_id) if session.agent_id else None,
            answered_at=to_datetime(session.answered_at or self.clock.now()),
            wait_seconds=round(wait, 3),
        )
        self._event(session, "call.connected", agent_id=session.agent_id, wait_seconds=round(wait, 3))
        if session.tenant.settings.record_calls and session.recording is None:
            with contextlib.suppress(tp.TelephonyError):
                session.recording = self.port.start_recording(session.pbx_call_id)
        self._publish(session.tenant.id, f"agent:{session.agent_id}", "call.connected", session.summary())
        self._publish(
            session.tenant.id, "wallboard", "call.connected", {"call_id": str(session.id), "wait_seconds": wait}
        )

    def _dial_callback_customer(self, session: CallSession) -> None:
        try:
            leg = self.port.originate_leg(
                session.pbx_call_id,
                tp.NumberTarget(session.number),
                role=tp.LegRole.CUSTOMER,
                caller_id=session.tenant_number or session.tenant.default_number,
            )
        except tp.TelephonyError as exc:
            log.info("callback %s: cannot dial the customer (%s)", session.id, exc)
            self._finish_task(session)
            return
        session.customer_leg = leg
        self.leg_owner[leg] = session
        self._set(session, state="dialing")
        self._publish(session.tenant.id, f"agent:{session.agent_id}", "call.dialing", session.summary())

    def _exception(self, session: CallSession, event: Any) -> None:
        self._event(session, "call.exception", action=event.action, trigger=event.trigger)
        if event.action == "callback_offer" and not session.callback_offered:
            prompt = session.queue_node.callback_prompt if session.queue_node else None
            self._offer_callback(session, prompt)
        elif event.action == "voicemail":
            if session.task_id and self._router(session).has_task(session.task_id):
                pass  # the router already ended the task for a voicemail rule
            self._voicemail(session, VoicemailNode(type="voicemail", prompt=_pm("请在提示音后留言，我们会尽快处理。")))
        elif event.action == "announce" and event.message:
            self._unpark(session)
            self._play(session, _TextPrompt(event.message), lambda _e: self._park(session))
        elif event.action == "cancel":
            session.outcome = rules.FAILED
            self._unpark(session)
            self._play(
                session,
                _TextPrompt(event.message or "抱歉，当前无法为您服务，请稍后再拨。"),
                lambda _e: self._hangup_customer(session),
            )

    # ------------------------------------------------------------------ failures and hang-ups

    def _leg_failed(self, session: CallSession, event: tp.LegFailed) -> None:
        agent = self._offer_agent_for_leg(session, event.leg_id)
        self.leg_owner.pop(event.leg_id, None)
        if agent is not None:
            offer = session.offers.pop(agent)
            self._reject_offer(session, agent, offer.token)
            if session.kind == "callback" and session.customer_leg is None:
                self._forget_pbx(session)
            return
        if event.leg_id == session.customer_leg and session.direction == "outbound":
            session.outcome = rules.FAILED
            self._event(session, "call.dial_failed", cause=str(event.cause))
            self._publish(
                session.tenant.id,
                f"agent:{session.agent_id}",
                "call.dial_failed",
                {**session.summary(), "cause": str(event.cause)},
            )
            self._finish_task(session)
            if session.agent_leg:
                with contextlib.suppress(tp.TelephonyError):
                    self.port.hangup(session.agent_leg)
            return
        if session.kind == "outbound" and event.leg_id == session.agent_leg:
            session.outcome = rules.FAILED
            self._finish_outbound(session)
            return
        if (
            session.consult
            and session.consult.get("leg") == event.leg_id
            and session.consult.get("kind") == "ivr_transfer"
        ):
            self._hangup_customer(session)

    def _forget_pbx(self, session: CallSession) -> None:
        self.by_pbx.pop(session.pbx_call_id, None)
        session.pbx_call_id = f"callback:{session.task_id}"
        session.state = "queued"

    def _leg_hung_up(self, session: CallSession, event: tp.LegHungUp) -> None:
        self.leg_owner.pop(event.leg_id, None)
        if event.leg_id == session.customer_leg:
            self._customer_gone(session, event)
        elif event.leg_id == session.agent_leg:
            self._agent_gone(session, event)
        elif session.consult and session.consult.get("kind") == "conference" and session.consult["leg"] == event.leg_id:
            guest = session.consult.get("agent")
            session.consult = None
            if guest:
                self._mark_consulted(session, guest, False)
            self._event(session, "call.conference_left")
        else:
            agent = self._offer_agent_for_leg(session, event.leg_id)
            if agent is not None:
                offer = session.offers.pop(agent)
                if event.side == tp.HangupSide.REMOTE:
                    self._reject_offer(session, agent, offer.token)

    def _customer_gone(self, session: CallSession, event: tp.LegHungUp) -> None:
        now = self.clock.now()
        session.customer_leg = None
        self._event(session, "call.customer_hung_up", side=str(event.side))
        if session.state in ("queued", "ringing") and session.task_id:
            router = self._router(session)
            if router.has_task(session.task_id) and router.task_state(session.task_id) in ("waiting", "offered"):
                router.abandon(session.task_id)
            session.outcome = session.outcome if session.outcome == rules.CALLBACK else rules.ABANDONED
            for agent_id, offer in list(session.offers.items()):
                if offer.leg_id:
                    self.leg_owner.pop(offer.leg_id, None)
                    with contextlib.suppress(tp.TelephonyError):
                        self.port.hangup(offer.leg_id, tp.HangupCause.CANCELLED)
                self._publish(
                    session.tenant.id,
                    f"agent:{agent_id}",
                    "call.offer_ended",
                    {"call_id": str(session.id), "reason": "caller_hung_up"},
                )
            session.offers.clear()
        elif session.state == "connected":
            self._finish_task(session)
            self._end_talk(session, now)
            if session.agent_leg:
                with contextlib.suppress(tp.TelephonyError):
                    self.port.hangup(session.agent_leg)
            if session.tenant.settings.survey.mode == "sms" and session.kind == "call":
                self._send_sms_survey(session)
        elif session.state == "ivr" and session.outcome is None:
            session.outcome = rules.AFTER_HOURS if session.after_hours else rules.IVR_ABANDONED
        elif session.state == "survey":
            pass
        if session.state != "ended" and session.direction == "outbound" and session.agent_leg:
            with contextlib.suppress(tp.TelephonyError):
                self.port.hangup(session.agent_leg)

    def _agent_gone(self, session: CallSession, event: tp.LegHungUp) -> None:
        now = self.clock.now()
        agent_leg = session.agent_leg
        session.agent_leg = None
        self._event(session, "call.agent_hung_up", agent_id=session.agent_id, side=str(event.side))
        if session.state in ("connected", "dialing"):
            self._finish_task(session)
            self._end_talk(session, now)
            if session.customer_leg is None:
                return
            if (
                session.tenant.settings.survey.mode == "ivr"
                and session.kind == "call"
                and event.side != tp.HangupSide.SYSTEM
            ):
                self._ivr_survey(session)
            elif event.side != tp.HangupSide.SYSTEM:
                self._hangup_customer(session)
        elif session.kind == "outbound" and session.state == "ringing":
            self._finish_outbound(session)
        del agent_leg

    def _end_talk(self, session: CallSession, now: float) -> None:
        if session.held_since is not None:
            session.hold_total += now - session.held_since
            session.held_since = None
        talk = now - session.answered_at if session.answered_at else None
        self._set(
            session,
            talk_seconds=round(talk, 3) if talk is not None else None,
            hold_seconds=round(session.hold_total, 3),
        )
        if session.recording is not None:
            with contextlib.suppress(tp.TelephonyError):
                self.port.stop_recording(session.pbx_call_id)

    def _finish_task(self, session: CallSession) -> None:
        """The agent's part of the call is over: complete the routing task (wrap-up follows)."""
        if session.task_id is None:
            if session.kind == "outbound":
                self._finish_outbound(session)
            return
        router = self._router(session)
        agent = session.agent_id
        if router.has_task(session.task_id) and router.task_state(session.task_id) == "assigned":
            try:
                router.complete(session.task_id, agent)
            except RoutingError as exc:
                log.info("call %s: completing the task failed (%s)", session.id, exc.code)
        if agent is not None:
            self.agent_call.pop((session.tenant.id, agent), None)
            self._set(session, state="wrap_up")
            self._publish(
                session.tenant.id,
                f"agent:{agent}",
                "call.wrap_up",
                {**session.summary(), "wrap_up_codes": session.tenant.settings.wrap_up_codes},
            )

    def _ivr_survey(self, session: CallSession) -> None:
        session.state = "survey"
        survey = session.tenant.settings.survey

        def on_digits(event: Any) -> None:
            score = rules.survey_score(event.digits)
            if score is not None:
                self._set(session, survey_score=score, survey_channel="ivr")
                self._event(session, "survey.answered", score=score, channel="ivr")
                self._publish(session.tenant.id, "wallboard", "survey.answered", {"score": score})
            self._play(session, _TextPrompt("感谢您的评价，再见。"), lambda _e: self._hangup_customer(session))

        self._play(
            session,
            _TextPrompt(survey.prompt),
            lambda _e: self._collect(session, on_digits, timeout=6.0),
            interruptible=True,
        )

    def _send_sms_survey(self, session: CallSession) -> None:
        self._queue_sms(
            session,
            session.number,
            session.tenant.settings.survey.sms_text,
            "survey",
            dedupe=f"survey:{session.id}",
            expects_reply=True,
        )

    def _hangup_customer(self, session: CallSession) -> None:
        if session.customer_leg is None:
            return
        with contextlib.suppress(tp.TelephonyError):
            self.port.hangup(session.customer_leg)

    def _call_ended(self, session: CallSession) -> None:
        if session.kind == "callback" and session.state == "queued":
            return  # the agent leg of a callback attempt ended before we dialled; the task goes on
        self._end_session(session, session.outcome or rules.IVR_ABANDONED)

    def _end_session(self, session: CallSession, outcome: str) -> None:
        if session.state == "ended":
            return
        now = self.clock.now()
        if session.task_id and session.state in ("queued", "ringing"):
            router = self.host.loaded(session.tenant.id)
            if router is not None and router.router.has_task(session.task_id):
                state = router.router.task_state(session.task_id)
                if state in ("waiting", "offered"):
                    with contextlib.suppress(RoutingError):
                        router.router.abandon(
                            session.task_id
                        ) if outcome != rules.INTERRUPTED else router.router.cancel(session.task_id, "interrupted")
        if (
            session.consult
            and session.consult.get("kind") in ("handed_over", "attended", "conference")
            and session.consult.get("agent")
        ):
            self._system_break(session.tenant.id, session.consult["agent"], "consult", False)
        session.ended_at = now
        session.outcome = outcome
        session.state = "ended"
        wait = None
        if session.queued_at is not None and session.answered_at is None:
            wait = round(now - session.queued_at, 3)
        fields: dict[str, Any] = {"state": "ended", "outcome": outcome, "ended_at": to_datetime(now)}
        if wait is not None:
            fields["wait_seconds"] = wait
        self.store.update(session.tenant.id, session.id, **fields)
        self._event(session, "call.ended", outcome=outcome)
        if outcome in rules.MISSED_OUTCOMES and session.direction == "inbound":
            self._missed_call_notice(session)
        for key in (session.pbx_call_id,):
            self.by_pbx.pop(key, None)
        self.by_id.pop(session.id, None)
        if session.task_id:
            self.by_task.pop(session.task_id, None)
        if session.agent_id and self.agent_call.get((session.tenant.id, session.agent_id)) is session:
            self.agent_call.pop((session.tenant.id, session.agent_id), None)
        if session.agent_id:
            self._publish(
                session.tenant.id,
                f"agent:{session.agent_id}",
                "call.ended",
                {"call_id": str(session.id), "outcome": outcome},
            )
        self._publish(session.tenant.id, "wallboard", "call.ended", {"call_id": str(session.id), "outcome": outcome})

    # ------------------------------------------------------------------ recordings

    def _recording_stopped(self, session: CallSession, event: tp.RecordingStopped) -> None:
        store = self.ctx.services.get("recording_store")
        key = store.key_for(event.path) if store is not None and event.path else None
        recording_id = new_id()
        self.store.recording(
            session.tenant.id,
            {
                "id": recording_id,
                "call_id": session.id,
                "pbx_recording_id": event.recording_id,
                "storage_key": key,
                "started_at": to_datetime(session.answered_at or session.started_at),
                "duration_s": round(event.duration, 3),
                "size_bytes": event.size_bytes,
                "channels": event.channels,
                "sample_rate": event.sample_rate,
                "encoding": event.encoding,
                "paused_intervals": [list(p) for p in event.paused_intervals],
            },
        )
        self.store.update(session.tenant.id, session.id, recording_id=recording_id)
        session.recording = None

    # ------------------------------------------------------------------ SMS

    def _queue_sms(
        self,
        session: CallSession,
        number: str,
        text: str,
        purpose: str,
        *,
        dedupe: str | None = None,
        expects_reply: bool = False,
    ) -> None:
        tenant_id = session.tenant.id
        call_id = session.id

        async def job(db: Any) -> None:
            from kefu.messaging import queue_sms

            tenant = await db.get(Tenant, tenant_id)
            await queue_sms(
                db,
                tenant=tenant,
                to_number=number,
                body=text,
                purpose=purpose,
                reference_type="call",
                reference_id=str(call_id),
                dedupe_key=dedupe,
                expects_reply=expects_reply,
            )

        self.store.job(tenant_id, job)

    def _missed_call_notice(self, session: CallSession) -> None:
        settings = session.tenant.settings.missed_call
        if not settings.enabled:
            return
        tenant = session.tenant
        number = session.number
        call_id = session.id
        at = self._now_dt()

        async def job(db: Any) -> None:
            from datetime import timedelta

            from kefu.messaging import queue_sms, sent_recently

            row = await db.get(Tenant, tenant.id)
            since = at - timedelta(minutes=settings.window_minutes)
            if settings.window_minutes and await sent_recently(db, row, number, "missed_call_notice", since):
                return  # one notice per caller per window
            text = rules.missed_call_text(number, at, tenant.timezone)
            for i, recipient in enumerate(settings.recipients):
                await queue_sms(
                    db,
                    tenant=row,
                    to_number=recipient,
                    body=text,
                    purpose="missed_call_notice",
                    reference_type="call",
                    reference_id=str(call_id),
                    dedupe_key=f"missed:{call_id}:{i}",
                )
            if not settings.recipients:
                # Record the notice against the caller's number even without staff recipients, so the
                # window applies to the optional caller SMS below.
                pass
            if settings.notify_caller:
                await queue_sms(
                    db,
                    tenant=row,
                    to_number=number,
                    body=settings.caller_text,
                    purpose="missed_call_notice",
                    reference_type="call",
                    reference_id=str(call_id),
                    dedupe_key=f"missed:{call_id}:caller",
                )

        self.store.job(tenant.id, job)

    # ------------------------------------------------------------------ agent commands (desktop)

    def call_for_agent(self, tenant_id: uuid.UUID, agent_id: str, call_id: uuid.UUID) -> CallSession:
        session = self.by_id.get(call_id)
        if session is None or session.tenant.id != tenant_id:
            raise NotFound("This call is not live (it ended, or it is not in this organisation).", code="call-not-live")
        if session.agent_id != agent_id and agent_id not in session.offers and session.outbound_agent != agent_id:
            raise Conflict("You are not on this call.", code="not-your-call")
        return session

    def _ringing_for(self, tenant_id: uuid.UUID, agent_id: str, call_id: uuid.UUID) -> CallSession:
        session = self.by_id.get(call_id)
        if session is None or session.tenant.id != tenant_id:
            raise NotFound("This call is not live (it ended, or it is not in this organisation).", code="call-not-live")
        if agent_id not in session.offers:
            raise Conflict("This call is not ringing for you (any more).", code="offer-expired")
        return session

    def answer(self, tenant_id: uuid.UUID, agent_id: str, call_id: uuid.UUID) -> None:
        self._ringing_for(tenant_id, agent_id, call_id)
        self._device(agent_id, "device_answer")

    def reject(self, tenant_id: uuid.UUID, agent_id: str, call_id: uuid.UUID) -> None:
        self._ringing_for(tenant_id, agent_id, call_id)
        self._device(agent_id, "device_reject")

    def _device(self, agent_id: str, method: str) -> None:
        action = getattr(self.port, method, None)
        if action is None:
            raise Conflict(
                "Answer on your phone: this telephony connection cannot be answered from the browser.",
                code="use-your-phone",
            )
        try:
            action(agent_endpoint(agent_id))
        except tp.TelephonyError as exc:
            raise Conflict(f"Your phone is not ringing ({exc.code}).", code="offer-expired") from None

    def _connected_call(self, tenant_id: uuid.UUID, agent_id: str, call_id: uuid.UUID) -> CallSession:
        session = self.call_for_agent(tenant_id, agent_id, call_id)
        if session.state != "connected" or session.agent_id != agent_id:
            raise Conflict("You are not talking on this call.", code="not-connected")
        return session

    def hold(self, tenant_id: uuid.UUID, agent_id: str, call_id: uuid.UUID, on: bool) -> dict[str, Any]:
        session = self._connected_call(tenant_id, agent_id, call_id)
        assert session.customer_leg is not None
        if on and session.held_since is None:
            self.port.hold(session.customer_leg)
            session.held_since = self.clock.now()
        elif not on and session.held_since is not None:
            self.port.resume(session.customer_leg)
            session.hold_total += self.clock.now() - session.held_since
            session.held_since = None
        self._event(session, "call.hold" if on else "call.resume", agent_id=agent_id)
        return session.summary()

    def mute(self, tenant_id: uuid.UUID, agent_id: str, call_id: uuid.UUID, on: bool) -> dict[str, Any]:
        session = self._connected_call(tenant_id, agent_id, call_id)
        assert session.agent_leg is not None
        (self.port.mute if on else self.port.unmute)(session.agent_leg)
        session.muted = on
        self._event(session, "call.mute" if on else "call.unmute", agent_id=agent_id)
        return session.summary()

    def recording_pause(self, tenant_id: uuid.UUID, agent_id: str, call_id: uuid.UUID, pause: bool) -> dict[str, Any]:
        session = self._connected_call(tenant_id, agent_id, call_id)
        if session.recording is None:
            raise Conflict("This call is not being recorded.", code="not-recording")
        (self.port.pause_recording if pause else self.port.resume_recording)(session.pbx_call_id)
        self._event(session, "recording.paused" if pause else "recording.resumed", agent_id=agent_id)
        return session.summary()

    def hangup(self, tenant_id: uuid.UUID, agent_id: str, call_id: uuid.UUID) -> None:
        session = self.call_for_agent(tenant_id, agent_id, call_id)
        leg = session.agent_leg if session.agent_id == agent_id else None
        if leg is None:
            raise Conflict("You are not on this call.", code="not-your-call")
        self.port.hangup(leg)

    def transfer_to_queue(self, tenant_id: uuid.UUID, agent_id: str, call_id: uuid.UUID, queue_id: str) -> None:
        session = self._connected_call(tenant_id, agent_id, call_id)
        if queue_id not in session.tenant.queue_names:
            raise NotFound("No such queue.")
        assert session.task_id is not None and session.customer_leg is not None and session.agent_leg is not None
        router = self._router(session)
        try:
            router.transfer(session.task_id, queue_id=queue_id)
        except RoutingError as exc:
            raise Conflict(f"The transfer was refused: {exc.message}.", code=exc.code.replace("_", "-")) from None
        self._event(session, "call.transferred", agent_id=agent_id, to_queue=queue_id)
        self._after_blind_transfer(session, agent_id)
        session.queue_id = queue_id
        session.queued_at = self.clock.now()
        self._set(session, state="queued", queue_id=uuid.UUID(queue_id))
        if router.task_state(session.task_id) == "waiting":
            self._park(session)

    def transfer_to_agent(self, tenant_id: uuid.UUID, agent_id: str, call_id: uuid.UUID, target: str) -> None:
        session = self._connected_call(tenant_id, agent_id, call_id)
        if target == agent_id:
            raise InvalidInput("Choose another agent.")
        assert session.task_id is not None
        router = self._router(session)
        if not router.has_agent(target):
            raise NotFound("No such agent.")
        try:
            router.transfer(session.task_id, agent_id=target)
        except RoutingError as exc:
            raise Conflict(f"The transfer was refused: {exc.message}.", code=exc.code.replace("_", "-")) from None
        self._event(session, "call.transferred", agent_id=agent_id, to_agent=target)
        self._after_blind_transfer(session, agent_id)
        self._set(session, state="queued")
        if router.task_state(session.task_id) == "waiting":
            self._park(session)

    def _after_blind_transfer(self, session: CallSession, agent_id: str) -> None:
        """The transferring agent leaves: drop their leg (wrap-up follows), the customer waits."""
        self.agent_call.pop((session.tenant.id, agent_id), None)
        if session.held_since is not None:
            with contextlib.suppress(tp.TelephonyError):
                self.port.resume(session.customer_leg)
            session.hold_total += self.clock.now() - session.held_since
            session.held_since = None
        if session.recording is not None:
            with contextlib.suppress(tp.TelephonyError):
                self.port.stop_recording(session.pbx_call_id)
        leg = session.agent_leg
        session.agent_leg = None
        session.agent_id = None
        session.answered_at = None
        session.bridge_id = None
        session.state = "queued"
        if leg is not None:
            self.leg_owner.pop(leg, None)
            with contextlib.suppress(tp.TelephonyError):
                self.port.hangup(leg, tp.HangupCause.TRANSFERRED)
        self._publish(
            session.tenant.id,
            f"agent:{agent_id}",
            "call.wrap_up",
            {**session.summary(), "wrap_up_codes": session.tenant.settings.wrap_up_codes, "transferred": True},
        )

    def transfer_to_number(self, tenant_id: uuid.UUID, agent_id: str, call_id: uuid.UUID, number: str) -> None:
        session = self._connected_call(tenant_id, agent_id, call_id)
        assert session.customer_leg is not None
        try:
            target = normalize_phone(number)
        except ValueError as exc:
            raise InvalidInput(str(exc), errors=[{"field": "target", "message": str(exc)}]) from None
        self.port.blind_transfer(session.customer_leg, tp.NumberTarget(target), caller_id=session.tenant_number)
        session.outcome = rules.TRANSFERRED_OUT
        self._event(session, "call.transferred", agent_id=agent_id, to_number=mask_phone(target))

    def consult(
        self,
        tenant_id: uuid.UUID,
        agent_id: str,
        call_id: uuid.UUID,
        *,
        agent: str | None = None,
        number: str | None = None,
    ) -> dict[str, Any]:
        session = self._connected_call(tenant_id, agent_id, call_id)
        if session.consult is not None:
            raise Conflict("A consultation is already in progress.", code="consult-in-progress")
        assert session.customer_leg is not None
        if agent is not None:
            if agent == agent_id:
                raise InvalidInput("Choose another agent.")
            target: Any = tp.EndpointTarget(agent_endpoint(agent))
        elif number is not None:
            try:
                target = tp.NumberTarget(normalize_phone(number))
            except ValueError as exc:
                raise InvalidInput(str(exc)) from None
        else:
            raise InvalidInput("Name an agent or a number to consult.")
        handle = self.port.start_attended_transfer(session.customer_leg, target, caller_id=session.tenant_number)
        session.consult = {
            "kind": "attended",
            "transfer_id": handle.transfer_id,
            "leg": handle.leg_id,
            "agent": agent,
            "number": mask_phone(number) if number else None,
        }
        self.leg_owner[handle.leg_id] = session
        if agent is not None:
            self._mark_consulted(session, agent, True)
        self._event(
            session,
            "call.consult_started",
            agent_id=agent_id,
            to_agent=agent,
            to_number=mask_phone(number) if number else None,
        )
        return session.summary()

    def _mark_consulted(self, session: CallSession, agent: str, busy: bool) -> None:
        """The consulted agent is busy outside routing: keep the router from offering them a call."""
        self._system_break(session.tenant.id, agent, "consult", busy)

    def _system_break(self, tenant_id: uuid.UUID, agent: str, reason: str, on: bool) -> None:
        """Put an available agent on a break the system owns (outbound call, consultation), or end it.

        Only an agent who was available is paused, and only a break with this very
        reason is ended: a person's own break is never touched.
        """
        hosted = self.host.loaded(tenant_id)
        if hosted is None or not hosted.router.has_agent(agent):
            return
        router = hosted.router
        stats = router.agent_stats(agent)
        try:
            if on and stats.status == "available":
                router.set_status(agent, "break", reason, actor="system")
            elif not on and stats.status == "break" and stats.break_reason == reason:
                router.set_status(agent, "available", None, actor="system")
        except RoutingError:
            pass

    def consult_complete(self, tenant_id: uuid.UUID, agent_id: str, call_id: uuid.UUID) -> None:
        session = self._connected_call(tenant_id, agent_id, call_id)
        if session.consult is None:
            raise Conflict("No consultation is in progress.", code="no-consult")
        self.port.complete_attended_transfer(session.consult["transfer_id"])

    def consult_cancel(self, tenant_id: uuid.UUID, agent_id: str, call_id: uuid.UUID) -> None:
        session = self._connected_call(tenant_id, agent_id, call_id)
        if session.consult is None:
            raise Conflict("No consultation is in progress.", code="no-consult")
        self.port.cancel_attended_transfer(session.consult["transfer_id"])

    def conference(self, tenant_id: uuid.UUID, agent_id: str, call_id: uuid.UUID, *, agent: str | None = None,
                   number: str | None = None) -> dict[str, Any]:
        """Add a third party (another agent or a number) to the call: customer, agent and guest together."""
        session = self._connected_call(tenant_id, agent_id, call_id)
        if session.consult is not None:
            raise Conflict("Finish the consultation first.", code="consult-in-progress")
        if session.bridge_id is None:
            raise Conflict("The call is not connected.", code="not-connected")
        if agent is not None:
            if agent == agent_id:
                raise InvalidInput("Choose another agent.")
            target: Any = tp.EndpointTarget(agent_endpoint(agent))
            role = tp.LegRole.AGENT
        elif number is not None:
            try:
                target = tp.NumberTarget(normalize_phone(number))
            except ValueError as exc:
                raise InvalidInput(str(exc)) from None
            role = tp.LegRole.EXTERNAL
        else:
            raise InvalidInput("Name an agent or a number to add.")
        leg = self.port.originate_leg(session.pbx_call_id, target, role=role, caller_id=session.tenant_number)
        session.consult = {"kind": "conference", "leg": leg, "agent": agent, "joined": False,
                           "number": mask_phone(number) if number else None}
        self.leg_owner[leg] = session
        if agent is not None:
            self._mark_consulted(session, agent, True)
        self._event(session, "call.conference_dialing", agent_id=agent_id, to_agent=agent,
                    to_number=mask_phone(number) if number else None)
        return session.summary()

    def _conference_answered(self, session: CallSession, leg_id: str) -> None:
        consult = session.consult
        if consult is None or session.bridge_id is None:
            self.port.hangup(leg_id)
            return
        self.port.add_to_bridge(session.bridge_id, leg_id)
        consult["joined"] = True
        self._event(session, "call.conference", agent_id=session.agent_id)
        self._publish(session.tenant.id, f"agent:{session.agent_id}", "call.conference", session.summary())

    def _transfer_completed(self, session: CallSession, event: tp.TransferCompleted) -> None:
        consult = session.consult
        if consult is None:
            if session.outcome == rules.TRANSFERRED_OUT and session.state == "connected":
                self._finish_task(session)
                self._end_talk(session, self.clock.now())
            return
        session.consult = None
        self._event(session, "call.consult_completed", to_agent=consult.get("agent"))
        previous = session.agent_id
        self._finish_task(session)
        self._end_talk(session, self.clock.now())
        if consult.get("agent"):
            # The consulted agent now has the customer (outside routing until the call ends).
            session.agent_id = consult["agent"]
            session.agent_leg = event.target_leg_id
            session.answered_at = self.clock.now()
            session.task_id = None
            session.state = "connected"
            self.agent_call[(session.tenant.id, consult["agent"])] = session
            self._publish(session.tenant.id, f"agent:{consult['agent']}", "call.connected", session.summary())
            session.consult = {"kind": "handed_over", "agent": consult["agent"]}
        else:
            session.outcome = rules.TRANSFERRED_OUT
            session.agent_leg = None
        del previous

    def _transfer_ended(self, session: CallSession, event: Any) -> None:
        consult = session.consult
        if consult is None or consult.get("transfer_id") != event.transfer_id:
            return
        session.consult = None
        if consult.get("agent"):
            self._mark_consulted(session, consult["agent"], False)
        self._event(session, "call.consult_ended", reason=event.type)
        if session.agent_id:
            self._publish(session.tenant.id, f"agent:{session.agent_id}", "call.consult_ended", session.summary())

    # ------------------------------------------------------------------ outbound

    async def dial(self, tenant_id: uuid.UUID, agent_id: str, number: str) -> CallSession:
        """Click-to-dial: ring the agent's phone first, then the customer, with a tenant number as caller id."""
        tenant = await self.tenant_info(tenant_id)
        await self.host.get(tenant_id)
        if (tenant_id, agent_id) in self.agent_call:
            raise Conflict("Finish your current call first.", code="agent-busy")
        try:
            target = normalize_phone(number)
        except ValueError as exc:
            raise InvalidInput(str(exc), errors=[{"field": "number", "message": str(exc)}]) from None
        caller_id = tenant.default_number
        if caller_id is None:
            raise Conflict("This organisation has no number to show as caller id; add one first.", code="no-caller-id")
        originated = self.port.originate_call(
            tp.EndpointTarget(agent_endpoint(agent_id)), caller_id=caller_id, timeout=30.0
        )
        session = CallSession(
            id=new_id(),
            tenant=tenant,
            pbx_call_id=originated.call_id,
            direction="outbound",
            number=target,
            tenant_number=caller_id,
            state="ringing",
            kind="outbound",
            started_at=self.clock.now(),
            outbound_agent=agent_id,
            agent_id=agent_id,
            agent_leg=originated.leg_id,
        )
        self._register(session)
        self.leg_owner[originated.leg_id] = session
        self.agent_call[(tenant_id, agent_id)] = session
        self._system_break(tenant_id, agent_id, "outbound", True)
        self._store_new(session)
        self._publish(tenant_id, f"agent:{agent_id}", "call.dialing", session.summary())
        return session

    def _outbound_agent_answered(self, session: CallSession) -> None:
        try:
            leg = self.port.originate_leg(
                session.pbx_call_id,
                tp.NumberTarget(session.number),
                role=tp.LegRole.CUSTOMER,
                caller_id=session.tenant_number,
                timeout=45.0,
            )
        except tp.TelephonyError:
            session.outcome = rules.FAILED
            self._finish_outbound(session)
            return
        session.customer_leg = leg
        self.leg_owner[leg] = session
        self._set(session, state="dialing")

    def _outbound_customer_answered(self, session: CallSession) -> None:
        if session.kind == "callback":
            self._connect(session)
            return
        session.answered_at = self.clock.now()
        assert session.customer_leg is not None and session.agent_leg is not None
        session.bridge_id = self.port.bridge([session.customer_leg, session.agent_leg])
        session.outcome = rules.ANSWERED
        self._set(session, state="connected", answered_at=to_datetime(session.answered_at))
        self._event(session, "call.connected", agent_id=session.agent_id)
        if session.tenant.settings.record_calls:
            with contextlib.suppress(tp.TelephonyError):
                session.recording = self.port.start_recording(session.pbx_call_id)
        self._publish(session.tenant.id, f"agent:{session.agent_id}", "call.connected", session.summary())

    def _finish_outbound(self, session: CallSession) -> None:
        agent = session.outbound_agent
        if agent is None:
            return
        session.outbound_agent = None
        self.agent_call.pop((session.tenant.id, agent), None)
        self._system_break(session.tenant.id, agent, "outbound", False)
        self._set(session, state="wrap_up")
        self._publish(
            session.tenant.id,
            f"agent:{agent}",
            "call.wrap_up",
            {**session.summary(), "wrap_up_codes": session.tenant.settings.wrap_up_codes},
        )

    # ------------------------------------------------------------------ snapshot for the desktop

    def agent_snapshot(self, tenant_id: uuid.UUID, agent_id: str) -> dict[str, Any]:
        """The live calls of one agent: the one they are on, and any ringing for them."""
        current = self.agent_call.get((tenant_id, agent_id))
        ringing = []
        for session in self.by_id.values():
            if session.tenant.id == tenant_id and agent_id in session.offers:
                offer = session.offers[agent_id]
                ringing.append({**session.summary(), "token": offer.token})
        return {"current": current.summary() if current is not None else None, "ringing": ringing}


class _TextPrompt:
    """A prompt given as text inside the controller (announcements it makes itself)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.file = None


def _pm(text: str) -> Any:
    from kefu.ivr.rules import Prompt

    return Prompt(text=text)


def controller_of(ctx: Context) -> CallController:
    controller = ctx.services.get("call_controller")
    if controller is None:
        raise NotFound("Calls are not running in this process.", code="calls-not-running")
    return controller


__all__ = ["CallController", "CallSession", "agent_endpoint", "controller_of"]


async def ensure_started(ctx: Context) -> CallController:
    """Build and start the call controller for this process (idempotent)."""
    controller = ctx.services.get("call_controller")
    if controller is not None:
        return controller
    port = ctx.services["telephony"]
    controller = CallController(ctx, port, ctx.services["router_host"], CallStore(ctx))
    ctx.services["call_controller"] = controller
    await controller.start()
    return controller
