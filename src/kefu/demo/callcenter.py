"""The demo's live call center: configuration seed, and simulated callers and agents in real time.

``seed_calls`` (a demo seed step) gives the demo tenant skills, three queues,
agent profiles, a 400 number with an IVR flow, and call settings.

``run_demo_call_center`` (a background service, active only under ``kefu demo``)
drives the simulated PBX on the real clock: callers arrive as a Poisson stream
whose rate follows an intraday profile (with a floor, so the demo is never
dead at night), many of them from numbers of the demo's customers so the
screen pop finds someone; five simulated agents answer and talk; ``agent1``
(and the supervisor ``banzhang``) are left to the person at the browser.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from kefu.core.actor import Actor
from kefu.core.db import bind_tenant, commit
from kefu.demo import seed_admin

log = logging.getLogger("kefu.demo")

DEMO_NUMBER = "4008123456"
QUEUES = {
    # name: (settings, skills needed)
    "综合服务": {"eligibility": "general>=1", "mode": "longest_idle", "wrap_up_s": 5, "sl_threshold_s": 20,
              "offer_timeout_s": 20},
    "账单": {"eligibility": "billing>=2", "mode": "best_skill", "wrap_up_s": 5, "sl_threshold_s": 20,
           "offer_timeout_s": 20},
    "投诉": {"eligibility": "complaints>=2", "mode": "longest_idle", "wrap_up_s": 10, "sl_threshold_s": 30,
           "offer_timeout_s": 20, "exception_rules": [
               {"trigger": "wait_time", "action": "callback_offer", "threshold": 90}]},
}
SKILLS = {"general": "综合业务", "billing": "账单与扣费", "complaints": "投诉处理"}
AGENT_SKILLS = {
    "agent1": {"general": 3, "billing": 3, "complaints": 3},
    "banzhang": {"general": 4, "billing": 4, "complaints": 5},
    "agent2": {"general": 3, "billing": 2},
    "agent3": {"general": 3, "complaints": 3},
    "agent4": {"general": 2, "billing": 4},
    "agent5": {"general": 3, "billing": 2, "complaints": 2},
    "agent6": {"general": 2, "complaints": 4},
}


def demo_flow() -> dict[str, Any]:
    return {
        "start": "welcome",
        "nodes": {
            "welcome": {"type": "play", "prompt": {"text": "您好，欢迎致电示例通信客服热线。"}, "next": "menu"},
            "menu": {"type": "menu",
                     "prompt": {"text": "话费查询请按1，账单问题请按2，投诉请按3，人工服务请按0。"},
                     "options": {"1": "balance", "2": "billing", "3": "complaints", "0": "general"},
                     "timeout": 5, "retries": 1, "no_input": "general"},
            "balance": {"type": "self_service", "action": "sms_balance",
                        "prompt": {"text": "账户信息已通过短信发送给您。"}, "next": "bye"},
            "bye": {"type": "hangup", "prompt": {"text": "感谢您的来电，再见。"}},
            "general": {"type": "queue", "queue": "综合服务", "priority": 0, "callback_offer_after": 240,
                        "callback_prompt": {"text": "当前排队较长，如需回电请按1，继续等待请按其他键。"}},
            "billing": {"type": "queue", "queue": "账单", "priority": 0},
            "complaints": {"type": "queue", "queue": "投诉", "priority": 1},
        },
    }


async def seed_calls(ctx: Any, tenant_id: Any) -> None:
    """Skills, queues, agent profiles, the 400 number and its IVR flow (idempotent)."""
    from kefu.contacts.actions import (
        do_add_number,
        do_assign_number,
        do_create_flow,
        do_update_call_settings,
        do_update_number,
    )
    from kefu.contacts.models import PlatformNumber
    from kefu.routing.actions import do_create_queue, do_create_skill, do_set_agent_profile
    from kefu.routing.models import Queue
    from kefu.tenancy.models import Tenant, User

    async with ctx.session_factory() as session:
        if (await session.execute(sa.select(PlatformNumber.id).where(PlatformNumber.number == f"+86{DEMO_NUMBER}"))
                ).first():
            return
        await do_assign_number(session, Actor.system("demo-seed"), number=DEMO_NUMBER, tenant_id=tenant_id, kind="400")
        await bind_tenant(session, tenant_id)
        admin = seed_admin(tenant_id)
        for name, description in SKILLS.items():
            await do_create_skill(session, admin, name=name, description=description)
        existing = set((await session.execute(sa.select(Queue.name).where(Queue.tenant_id == tenant_id))).scalars())
        for name, settings in QUEUES.items():
            if name not in existing:
                await do_create_queue(session, admin, name=name, **settings)
        users = {u.username: u for u in (await session.execute(sa.select(User).where(User.tenant_id == tenant_id)))
                 .scalars()}
        for username, skills in AGENT_SKILLS.items():
            if username in users:
                await do_set_agent_profile(session, admin, users[username].id, skills=skills, capacity={"voice": 1})
        number = await do_add_number(session, admin, number=DEMO_NUMBER, label="客服热线 400")
        flow = await do_create_flow(session, admin, name="客服热线主菜单", definition=demo_flow())
        await do_update_number(session, admin, number.id, {"flow_id": flow.flow_key})
        tenant = await session.get(Tenant, tenant_id)
        await do_update_call_settings(session, admin, tenant, {
            "missed_call": {"enabled": True, "recipients": ["13900000000"], "window_minutes": 30,
                            "notify_caller": True},
            "survey": {"mode": "ivr"},
        })
        await commit(session)


# --------------------------------------------------------------------------- the live simulation


def intraday_factor(local: datetime) -> float:
    """Relative call volume by local time of day: morning and afternoon peaks, a quiet night (floored)."""
    hour = local.hour + local.minute / 60
    morning = math.exp(-((hour - 10.0) ** 2) / 4.0)
    afternoon = 0.85 * math.exp(-((hour - 15.5) ** 2) / 5.0)
    evening = 0.6 * math.exp(-((hour - 20.5) ** 2) / 2.5)
    return max(0.55, morning + afternoon + evening)


async def _customer_numbers(ctx: Any, tenant_id: Any, limit: int = 200) -> list[str]:
    """Numbers of demo customers (decrypted here, inside the server), so callers are people we know."""
    try:
        from kefu.customers.models import CustomerPhone
        from kefu.tenancy.models import Tenant
    except ImportError:
        return []
    async with ctx.session_factory() as session:
        await bind_tenant(session, tenant_id)
        tenant = await session.get(Tenant, tenant_id)
        rows = list((await session.execute(sa.select(CustomerPhone).where(CustomerPhone.tenant_id == tenant_id)
                                           .limit(limit))).scalars())
        await session.commit()
    crypto = ctx.pii(tenant)
    numbers = []
    for row in rows:
        try:
            value = crypto.open(row.phone_enc, row_id=row.id, field="phone")
        except Exception:  # noqa: S112 - a row sealed differently is simply skipped
            continue
        if value:
            numbers.append(value)
    return numbers


async def run_demo_call_center(ctx: Any, stop: asyncio.Event) -> None:
    settings = ctx.settings
    if not settings.demo_call_center or "telephony" not in ctx.services:
        return
    from kefu.contacts.controller import agent_endpoint
    from kefu.routing.host import host_of
    from kefu.routing.models import AgentProfile
    from kefu.telephony.simulated import AgentBehaviour, SimulatedCaller
    from kefu.tenancy.models import Tenant, User

    for _ in range(100):  # the controller starts with the app
        if "call_controller" in ctx.services:
            break
        await asyncio.sleep(0.1)
    pbx = ctx.services["telephony"]
    async with ctx.session_factory() as session:
        tenant = (await session.execute(sa.select(Tenant).where(Tenant.slug == settings.demo_tenant))
                  ).scalar_one_or_none()
        if tenant is None:
            log.warning("demo call center: no tenant %r", settings.demo_tenant)
            return
        await bind_tenant(session, tenant.id)
        agents = {u.username: u.id for u in (await session.execute(
            sa.select(User).join(AgentProfile, AgentProfile.user_id == User.id)
            .where(User.tenant_id == tenant.id, User.is_active.is_(True)))).scalars()}
        await session.commit()
    rng = random.Random(2026)
    simulated = sorted(name for name in agents if name not in settings.demo_human_agents)
    for username in simulated:
        # Each simulated agent has a handle time; when it is shorter than the caller's, the agent ends
        # the call and the caller hears the IVR survey.
        talk = rng.uniform(0.7, 1.4) * settings.demo_talk_seconds
        pbx.register_device(agent_endpoint(agents[username]),
                            AgentBehaviour(answer_after=rng.uniform(2.0, 5.0), idle_hangup_after=2.0, talk_time=talk))
    for username in settings.demo_human_agents:
        if username in agents:
            pbx.register_device(agent_endpoint(agents[username]), None)
    host = host_of(ctx)
    hosted = await host.get(tenant.id)
    for username in simulated:
        agent = str(agents[username])
        if hosted.router.has_agent(agent) and hosted.router.agent_stats(agent).status != "available":
            await host.command(tenant.id, lambda r, a=agent: r.set_status(a, "available", None, actor="supervisor"))
    numbers = await _customer_numbers(ctx, tenant.id)
    zone = ZoneInfo(tenant.timezone)
    fixed = settings.demo_call_rate_per_minute
    log.info("demo call center: %d simulated agents, %d known callers, %s calls/min", len(simulated), len(numbers),
             fixed or "intraday profile, up to 3.5")
    while not stop.is_set():
        now = ctx.clock.now()
        rate = fixed or 3.5 * intraday_factor(datetime.fromtimestamp(now, zone))
        gap = rng.expovariate(rate / 60.0)
        try:
            await asyncio.wait_for(stop.wait(), timeout=gap)
            return
        except TimeoutError:
            pass
        if numbers and rng.random() < 0.6:
            number = rng.choice(numbers)
        else:
            number = f"+86{rng.choice(['138', '139', '150', '186', '177'])}{rng.randrange(10**8):08d}"
        choice = rng.choices(["0", "2", "3", "1", None], weights=[40, 25, 20, 10, 5])[0]
        score = rng.choices(["5", "4", "3", "2", "1", None], weights=[45, 30, 10, 5, 3, 7])[0]
        caller = SimulatedCaller(
            from_number=number, to_number=settings.demo_number, digits=[choice, score],
            talk_time=max(20.0, rng.lognormvariate(math.log(settings.demo_talk_seconds), 0.5)),
            patience=max(15.0, rng.expovariate(1 / settings.demo_patience_seconds)),
            digit_delay=rng.uniform(0.5, 2.0),
        )
        try:
            pbx.place_call(caller)
        except Exception:
            log.exception("demo call center: placing a call failed")
