"""Calls end to end in a real headless Chromium: an agent answers a simulated call on the desktop, sees
the screen pop, transfers the call to another queue, and the supervisor's wallboard shows it live."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from browser_support import CHROMIUM, CHROMIUM_ARGS, running_server
from kefu.bootstrap import build_context, dispose_context
from kefu.contacts.actions import do_add_number, do_assign_number, do_create_flow, do_update_number
from kefu.contacts.controller import agent_endpoint
from kefu.core.actor import Actor
from kefu.core.db import bind_tenant
from kefu.customers.actions import do_create_customer
from kefu.routing.actions import do_create_queue, do_create_skill, do_set_agent_profile
from kefu.telephony.simulated import SimulatedCaller
from kefu.tenancy.actions import do_create_tenant, do_create_user
from kefu.tenancy.rules import Permission

pytestmark = pytest.mark.browser

PASSWORD = "browser pass phrase"
DID = "4008123456"
CALLER = "+8613812345678"
SHOTS = "/tmp"


@pytest.fixture
def backend() -> str:  # one real server on the embedded database
    return "sqlite"


def _seed(settings: Any) -> dict[str, str]:
    """A tenant with a number, two queues (nobody may serve the second), an agent, a supervisor, a customer."""

    async def work() -> dict[str, str]:
        ctx = build_context(settings)
        try:
            async with ctx.session_factory() as s:
                tenant, _admin = await do_create_tenant(
                    s,
                    Actor.system("browser-test"),
                    slug="acme",
                    name="示例公司",
                    admin_username="admin",
                    admin_password=PASSWORD,
                )
                await do_assign_number(s, Actor.system("browser-test"), number=DID, tenant_id=tenant.id, kind="400")
                await bind_tenant(s, tenant.id)
                admin = Actor(
                    Actor.system("t").kind, tenant.id, None, "t", frozenset(Permission), roles=("tenant_admin",)
                )
                agent = await do_create_user(
                    s, admin, username="lina", display_name="李娜", roles=["agent"], password=PASSWORD
                )
                await do_create_user(
                    s, admin, username="boss", display_name="王主管", roles=["supervisor"], password=PASSWORD
                )
                await do_create_skill(s, admin, name="billing")
                general = await do_create_queue(s, admin, name="general", offer_timeout_s=60)
                billing = await do_create_queue(s, admin, name="billing", eligibility="billing>=1")
                await do_set_agent_profile(s, admin, agent.id, skills={}, capacity={"voice": 1})
                number = await do_add_number(s, admin, number=DID, label="热线")
                flow = await do_create_flow(
                    s,
                    admin,
                    name="straight",
                    definition={"start": "q", "nodes": {"q": {"type": "queue", "queue": "general"}}},
                )
                await do_update_number(s, admin, number.id, {"flow_id": flow.flow_key})
                await do_create_customer(s, admin, name="王芳", phones=[CALLER], plan="畅享套餐", star_level=4)
                await s.commit()
                return {
                    "tenant": str(tenant.id),
                    "agent": str(agent.id),
                    "general": str(general.id),
                    "billing": str(billing.id),
                }
        finally:
            await dispose_context(ctx)

    return asyncio.run(work())


def _watch(page: Any, errors: list[str], who: str) -> None:
    page.on("pageerror", lambda exc: errors.append(f"{who}: {exc}"))
    page.on("console", lambda msg: errors.append(f"{who}: {msg.text}") if msg.type == "error" else None)


def _sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/t/acme/login")
    page.get_by_test_id("username").fill(username)
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.get_by_test_id("home-title").wait_for()


def test_an_agent_answers_and_transfers_a_call_and_the_wallboard_follows(settings):
    from playwright.sync_api import expect, sync_playwright

    from kefu.web.app import create_app

    ids = _seed(settings)
    ctx = build_context(settings)  # the server's own context: its PBX runs on the server's real clock
    pbx = ctx.services["telephony"]
    pbx.register_device(agent_endpoint(uuid.UUID(ids["agent"])), None)  # a person at the softphone

    with running_server(lambda: create_app(ctx)) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            errors: list[str] = []
            agent_ctx = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000})
            boss_ctx = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1000})
            agent, boss = agent_ctx.new_page(), boss_ctx.new_page()
            for page, who in ((agent, "agent"), (boss, "supervisor")):
                page.set_default_timeout(15_000)
                _watch(page, errors, who)

            # The supervisor watches the wallboard (in English).
            _sign_in(boss, base, "boss")
            boss.get_by_test_id("nav-wallboard").click()
            wall_billing = boss.locator(f'[data-testid="queue-row"][data-queue-id="{ids["billing"]}"]')
            expect(wall_billing.get_by_test_id("queue-waiting")).to_have_text("0")
            agent_on_wall = boss.locator(f'[data-testid="agent-row"][data-agent-id="{ids["agent"]}"]')
            expect(agent_on_wall).to_have_attribute("data-status", "offline")
            expect(boss.get_by_test_id("connection")).to_have_attribute("data-state", "open")
            expect(boss.get_by_test_id("intraday-chart")).to_have_attribute("data-rendered", "true")

            # The agent signs in to the desktop (in Chinese) and goes available.
            _sign_in(agent, base, "lina")
            agent.get_by_test_id("nav-desktop").click()
            expect(agent.get_by_test_id("desktop")).to_have_attribute("data-ready", "true")
            expect(agent.get_by_test_id("connection")).to_have_attribute("data-state", "open")
            expect(agent.get_by_test_id("agent-status")).to_have_text("已签出")
            agent.get_by_test_id("go-available").click()
            expect(agent.get_by_test_id("agent-status")).to_have_text("示闲")
            expect(agent_on_wall).to_have_attribute("data-status", "available")  # live, no reload

            # A customer calls; it rings on the desktop with the masked number and the screen pop.
            caller = SimulatedCaller(
                from_number=CALLER, to_number=DID, talk_time=600.0, patience=600.0, idle_hangup_after=None
            )
            ctx.services["loop"].call_soon_threadsafe(pbx.place_call, caller)
            incoming = agent.get_by_test_id("incoming-call")
            expect(incoming.get_by_test_id("incoming-number")).to_have_text("138****5678")
            expect(incoming).to_contain_text("general")
            expect(agent.get_by_test_id("pop-name")).to_have_text("王*")
            expect(agent.get_by_test_id("create-order-link")).to_have_attribute(
                "href", f"/t/acme/workorders/new?call_id={incoming.get_attribute('data-call-id')}"
            )
            assert "13812345678" not in agent.content()
            agent.screenshot(path=f"{SHOTS}/kefu-desktop-ringing.png", full_page=True)

            incoming.get_by_test_id("answer-call").click()
            current = agent.get_by_test_id("current-call")
            expect(current).to_have_attribute("data-state", "connected")
            expect(agent.get_by_test_id("incoming")).to_be_hidden()
            expect(agent.get_by_test_id("agent-state")).to_have_text("通话中")
            expect(agent_on_wall).to_have_attribute("data-state", "busy")

            # A reload loses nothing: the call, its timer and the screen pop come back.
            agent.reload()
            expect(current).to_have_attribute("data-state", "connected")
            expect(agent.get_by_test_id("call-number")).to_have_text("138****5678")
            expect(agent.get_by_test_id("pop-name")).to_have_text("王*")
            expect(agent.get_by_test_id("talk-timer")).not_to_have_text("00:00", timeout=5_000)
            agent.get_by_test_id("call-hold").click()
            expect(agent.get_by_test_id("call-flags")).to_contain_text("保持中")
            agent.get_by_test_id("call-hold").click()
            expect(agent.get_by_test_id("call-flags")).not_to_contain_text("保持中")
            agent.screenshot(path=f"{SHOTS}/kefu-desktop-connected.png", full_page=True)

            # Blind transfer to the second queue, where nobody can take it.
            agent.get_by_test_id("transfer-kind").select_option("queue")
            agent.get_by_test_id("transfer-queue").select_option(ids["billing"])
            agent.get_by_test_id("transfer-submit").click()
            expect(current).to_be_hidden()
            expect(agent.get_by_test_id("wrap-up")).to_be_visible()
            expect(agent.get_by_test_id("wrap-up-call")).to_contain_text("通话已转接")

            # The wallboard shows the caller waiting in the second queue and the agent free again.
            expect(wall_billing.get_by_test_id("queue-waiting")).to_have_text("1")
            expect(agent_on_wall).to_have_attribute("data-state", "idle")
            expect(wall_billing.get_by_test_id("queue-longest")).not_to_have_text("—")
            # An early-warning alert reaches the alerts panel as it happens.
            alert = {
                "id": str(uuid.uuid4()),
                "area_path": "广东省/深圳市/阳光花园",
                "category_path": "网络/信号",
                "count": 6,
                "expected": 0.4,
                "status": "open",
            }
            hub = ctx.services["hub"]
            ctx.services["loop"].call_soon_threadsafe(
                hub.publish, uuid.UUID(ids["tenant"]), "alerts", "alert.grow", alert
            )
            expect(boss.locator('[data-testid="alert-item"][data-type="alert.grow"]')).to_contain_text("阳光花园")
            boss.screenshot(path=f"{SHOTS}/kefu-wallboard.png", full_page=True)

            # Wrap-up (the form survives a reload), then the call is in the agent's history.
            agent.reload()
            expect(agent.get_by_test_id("wrap-up-call")).to_contain_text("通话已转接")
            agent.get_by_test_id("wrap-up-code").select_option("resolved")
            agent.get_by_test_id("wrap-up-notes").fill("转账务组处理")
            agent.get_by_test_id("wrap-up-submit").click()
            expect(agent.get_by_test_id("wrap-up")).to_be_hidden()
            expect(agent.get_by_test_id("recent-call").first).to_contain_text("已解决")
            agent.screenshot(path=f"{SHOTS}/kefu-desktop-after.png", full_page=True)

            # The agent takes a meal break; the wallboard groups them with the reason.
            agent.get_by_test_id("break-reason").select_option("meal")
            agent.get_by_test_id("go-break").click()
            expect(agent.get_by_test_id("agent-status")).to_have_text("示忙 · 用餐")
            expect(boss.locator('[data-testid="agent-group"][data-group="break"]')).to_contain_text("Meal")

            assert not errors, errors
        finally:
            browser.close()
