"""In Chromium: a supervisor watches the early-warning board while residents of one compound complain; the
alert appears by itself (SSE → htmx, no reload), its timeline is drawn, the incident is opened and resolved
from the board. Strict CSP: any inline script or style would show up as a console error."""

from __future__ import annotations

import asyncio
import random
import threading
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from browser_support import chromium_page, running_server
from kefu.bootstrap import build_context, dispose_context
from kefu.core.actor import Actor
from kefu.core.db import bind_tenant
from kefu.customers.actions import do_create_customer, ensure_area_path
from kefu.tenancy.actions import do_create_department, do_create_tenant, do_create_user
from kefu.tenancy.rules import Permission
from kefu.workorders.actions import do_create_work_order, do_save_dispatch_rule, ensure_category_path

pytestmark = pytest.mark.browser
PASSWORD = "browser pass phrase"
COMPOUND = "广东省/深圳市/南山区/科技园小区"
SIGNAL = "网络质量/信号覆盖/室内无信号"


@pytest.fixture
def backend() -> str:
    return "sqlite"


def _admin(tenant_id) -> Actor:
    return Actor(Actor.system("x").kind, tenant_id, None, "seed", frozenset(Permission), roles=("tenant_admin",))


def _seed(settings) -> dict:
    async def work() -> dict:
        ctx = build_context(settings)
        ids: dict = {"residents": []}
        try:
            async with ctx.session_factory() as s:
                tenant, _ = await do_create_tenant(
                    s,
                    Actor.system("browser-test"),
                    slug="acme",
                    name="示例通信",
                    admin_username="admin",
                    admin_password=PASSWORD,
                )
                await bind_tenant(s, tenant.id)
                admin = _admin(tenant.id)
                ids["tenant"] = tenant.id
                network = await do_create_department(s, admin, name="网络部")
                signal = await ensure_category_path(s, admin, SIGNAL)
                ids["signal"] = signal.id
                await do_save_dispatch_rule(s, admin, department_id=network.id, category_id=signal.id)
                areas = [
                    (await ensure_area_path(s, admin, p)).id
                    for p in (COMPOUND, "广东省/深圳市/南山区/蛇口花园", "广东省/广州市/天河区/珠江新城")
                ]
                for i in range(4):
                    c = await do_create_customer(
                        s, admin, name=f"住户{i}", phones=[f"1391000{i:04d}"], area_id=areas[0]
                    )
                    ids["residents"].append(c.id)
                await do_create_user(
                    s, admin, username="boss", display_name="班长", password=PASSWORD, roles=["supervisor"]
                )
                rng = random.Random(3)
                for _ in range(20):
                    await do_create_work_order(
                        s,
                        admin,
                        title="历史投诉",
                        category_id=signal.id,
                        area_id=rng.choice(areas),
                        created_at=ctx.now() - timedelta(days=rng.uniform(2, 12)),
                        resolve_now={"resolution": "resolved", "reply": "已处理"},
                    )
                await s.commit()
        finally:
            await dispose_context(ctx)
        return ids

    return asyncio.run(work())


def _complain(settings, ids: dict, who: int) -> None:
    async def work() -> None:
        ctx = build_context(settings)
        try:
            async with ctx.session_factory() as s:
                await bind_tenant(s, ids["tenant"])
                await do_create_work_order(
                    s,
                    _admin(ids["tenant"]),
                    title="室内没信号",
                    category_id=ids["signal"],
                    customer_id=ids["residents"][who],
                )
                await s.commit()
        finally:
            await dispose_context(ctx)

    # Playwright's sync API runs an event loop in this thread: do the database work in another one.
    failure: list[BaseException] = []
    thread = threading.Thread(target=lambda: _run_catching(work, failure))
    thread.start()
    thread.join(timeout=30)
    if failure:
        raise failure[0]


def _run_catching(work, failure: list) -> None:
    try:
        asyncio.run(work())
    except BaseException as exc:  # reported in the test's thread
        failure.append(exc)


def test_the_board_follows_a_group_complaint_live(settings):
    from kefu.web.app import create_app

    ids = _seed(settings)
    live = settings.model_copy(update={"run_background_services": True})
    with running_server(lambda: create_app(build_context(live))) as base, chromium_page() as page:
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto(f"{base}/t/acme/login")
        page.get_by_test_id("username").fill("boss")
        page.get_by_test_id("password").fill(PASSWORD)
        page.get_by_test_id("login-submit").click()
        page.get_by_test_id("home-title").wait_for()
        page.get_by_test_id("nav-alerts").click()
        page.get_by_test_id("alerts-board").wait_for()
        page.wait_for_selector('[data-testid="live-status"][data-state="live"]')
        assert page.locator('[data-testid="alert-row"]').count() == 0

        for who in range(3):  # the detector service in the server picks them up; the board updates itself
            _complain(settings, ids, who)
        page.wait_for_selector('[data-testid="alert-row"]', timeout=30_000)
        row = page.locator('[data-testid="alert-row"]').first
        assert "科技园小区" in row.inner_text() and row.get_attribute("data-status") == "open"

        row.locator("a").click()
        page.wait_for_selector('#alert-chart[data-rendered="true"] canvas')
        page.get_by_test_id("open-incident").click()
        page.get_by_test_id("incident-panel").wait_for()
        assert page.get_by_test_id("linked-orders").inner_text() == "3"
        assert page.locator('[data-testid="member-row"]').count() == 3

        _complain(settings, ids, 3)  # joins the incident; the panel follows
        expect(page.get_by_test_id("linked-orders")).to_have_text("4", timeout=30_000)
        page.get_by_test_id("resolve-note").fill("室分系统故障已修复")
        page.get_by_test_id("resolve-incident").click()
        page.get_by_test_id("incident-status").wait_for()
        assert page.get_by_test_id("incident-status").inner_text() in ("已解决", "Resolved")
        assert not errors, errors
