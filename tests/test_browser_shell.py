"""The web UI shell in a real headless Chromium: sign in, create a user, switch language."""

from __future__ import annotations

import asyncio

import pytest

from browser_support import chromium_page, running_server
from kefu.bootstrap import build_context, dispose_context
from kefu.core.actor import Actor
from kefu.tenancy.actions import do_create_tenant

pytestmark = pytest.mark.browser

PASSWORD = "browser pass phrase"


@pytest.fixture
def backend() -> str:  # one real server on the embedded database is enough here
    return "sqlite"


def _seed(settings) -> None:
    async def work() -> None:
        ctx = build_context(settings)
        try:
            async with ctx.session_factory() as s:
                await do_create_tenant(
                    s,
                    Actor.system("browser-test"),
                    slug="acme",
                    name="示例公司",
                    admin_username="admin",
                    admin_password=PASSWORD,
                )
                await s.commit()
        finally:
            await dispose_context(ctx)

    asyncio.run(work())


def test_sign_in_and_create_a_user_in_chromium(settings):
    from kefu.web.app import create_app

    _seed(settings)
    with running_server(lambda: create_app(build_context(settings))) as base, chromium_page() as page:
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        # The deliberate wrong password answers 401; any other failed load or script error is a defect.
        page.on(
            "console",
            lambda msg: errors.append(msg.text) if msg.type == "error" and "status of 401" not in msg.text else None,
        )

        page.goto(f"{base}/t/acme/login")
        page.get_by_test_id("username").fill("admin")
        page.get_by_test_id("password").fill("wrong password")
        page.get_by_test_id("login-submit").click()
        assert "用户名或密码错误" in page.get_by_test_id("login-error").inner_text()

        page.get_by_test_id("password").fill(PASSWORD)
        page.get_by_test_id("login-submit").click()
        page.get_by_test_id("home-title").wait_for()

        page.get_by_test_id("nav-users").click()
        page.get_by_test_id("new-username").fill("lina")
        page.get_by_test_id("new-display-name").fill("李娜")
        page.get_by_test_id("new-password").fill("a new user pass phrase")
        page.get_by_test_id("role-agent").check()
        page.get_by_test_id("create-user").click()
        page.get_by_test_id("user-created").wait_for()
        row = page.locator('tr[data-username="lina"]')
        assert "李娜" in row.inner_text() and "坐席" in row.inner_text()

        # The form was submitted by htmx (no full page load) and carried the CSRF token.
        assert page.evaluate("typeof window.htmx") == "object"

        page.get_by_test_id("lang-en").click()
        page.wait_for_url("**/admin/users")
        assert "Create user" in page.get_by_test_id("create-user").inner_text()
        assert "Agent" in page.locator('tr[data-username="lina"]').inner_text()

        # The new user can sign in.
        page.context.clear_cookies()
        page.goto(f"{base}/t/acme/login")
        page.get_by_test_id("username").fill("lina")
        page.get_by_test_id("password").fill("a new user pass phrase")
        page.get_by_test_id("login-submit").click()
        page.get_by_test_id("home-title").wait_for()
        assert "李娜" in page.get_by_test_id("home-title").inner_text()
        assert not errors, errors
