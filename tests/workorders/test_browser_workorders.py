"""In Chromium: an agent takes a complaint from the desktop hand-off, a supervisor sees the KPI dashboard."""

from __future__ import annotations

import asyncio

import pytest

from browser_support import chromium_page, running_server
from kefu.bootstrap import build_context, dispose_context
from kefu.core.actor import Actor
from kefu.core.db import bind_tenant
from kefu.customers.actions import do_create_customer
from kefu.tenancy.actions import do_create_department, do_create_tenant, do_create_user
from kefu.tenancy.rules import Permission
from kefu.workorders.actions import do_save_dispatch_rule, ensure_category_path

pytestmark = pytest.mark.browser
PASSWORD = "browser pass phrase"
CALL = "0190a0c0-0000-7000-8000-00000000ca11"


@pytest.fixture
def backend() -> str:
    return "sqlite"


def _seed(settings) -> None:
    async def work() -> None:
        ctx = build_context(settings)
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
                admin = Actor(
                    Actor.system("x").kind, tenant.id, None, "seed", frozenset(Permission), roles=("tenant_admin",)
                )
                billing = await do_create_department(s, admin, name="计费部")
                cat = await ensure_category_path(s, admin, "收费争议/增值业务/不知情定制")
                await do_save_dispatch_rule(s, admin, department_id=billing.id, category_id=cat.id)
                await do_create_customer(
                    s, admin, name="张伟", phones=["13812341234"], credit_rating="AA", star_level=5
                )
                await do_create_user(
                    s, admin, username="agent1", display_name="坐席一", password=PASSWORD, roles=["agent"]
                )
                await do_create_user(
                    s, admin, username="boss", display_name="班长", password=PASSWORD, roles=["supervisor"]
                )
                await s.commit()
        finally:
            await dispose_context(ctx)

    asyncio.run(work())


def _login(page, base: str, username: str) -> None:
    page.goto(f"{base}/t/acme/login")
    page.get_by_test_id("username").fill(username)
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.get_by_test_id("home-title").wait_for()


def test_agent_creates_an_order_from_a_call_and_the_dashboard_draws(settings):
    from kefu.web.app import create_app

    _seed(settings)
    with running_server(lambda: create_app(build_context(settings))) as base, chromium_page() as page:
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        _login(page, base, "agent1")
        page.goto(f"{base}/t/acme/workorders/new?call_id={CALL}&caller=%2B8613812341234")
        assert page.get_by_test_id("customer-name").inner_text() == "张*"
        assert "13812341234" not in page.content()
        page.get_by_test_id("order-title").fill("彩铃功能费 35 元")
        page.get_by_test_id("order-category").select_option(label="收费争议/增值业务/不知情定制")
        page.get_by_test_id("order-description").fill("客户称从未订购彩铃")
        page.get_by_test_id("create-order").click()
        page.get_by_test_id("order-number").wait_for()
        assert page.get_by_test_id("order-department").inner_text() == "计费部"
        assert page.locator('[data-testid="timeline"] li').count() == 2
        assert "138****1234" in page.get_by_test_id("customer-card").inner_text()

        page.context.clear_cookies()
        _login(page, base, "boss")
        page.get_by_test_id("nav-kpis").click()
        page.get_by_test_id("kpi-title").wait_for()
        assert page.get_by_test_id("kpi-complaints").inner_text() == "1"
        page.wait_for_selector('#kpi-daily[data-rendered="true"] canvas')
        page.wait_for_selector('#kpi-groups[data-rendered="true"] canvas')
        page.get_by_test_id("nav-workorders").click()
        page.get_by_test_id("orders-table").wait_for()
        assert "彩铃功能费 35 元" in page.get_by_test_id("orders-table").inner_text()
        assert not errors, errors
