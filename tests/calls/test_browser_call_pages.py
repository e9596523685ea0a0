"""The call history in a real headless Chromium: a supervisor opens a recorded call from the call list and
its ``<audio>`` player loads the recording from the recording API, under the strict CSP, with no console
error; the play is written to the access log."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import sqlalchemy as sa

from browser_support import CHROMIUM, CHROMIUM_ARGS, running_server
from calls.call_support import build_call_center
from kefu.bootstrap import build_context, dispose_context
from kefu.core.db import bind_tenant
from kefu.core.time import VirtualClock
from kefu.telephony.simulated import AgentBehaviour
from support import PASSWORD, World

pytestmark = pytest.mark.browser

SHOTS = "/tmp"


@pytest.fixture
def backend() -> str:  # one real server on the embedded database
    return "sqlite"


def _seed(settings: Any) -> dict[str, str]:
    """A call center whose simulated agent answers a 20-second call, recorded; and a supervisor.

    Run on virtual time (seconds of call in no time), then handed to a real server on the same data."""

    async def work() -> dict[str, str]:
        from kefu.contacts.models import Call
        from kefu.web.app import create_app

        ctx = build_context(settings, clock=VirtualClock(start=time.time() - 3600))
        app = create_app(ctx)
        try:
            async with app.router.lifespan_context(app):
                world = World(ctx, app)
                cc = await build_call_center(world, agents={"bot1": AgentBehaviour(answer_after=2.0)})
                await world.user(cc.tenant, "boss", ["supervisor"], display_name="王主管")
                await cc.available("bot1")
                cc.call(talk_time=20.0)
                await cc.run(45)
                await cc.stored()
                async with world.session() as s:
                    await bind_tenant(s, cc.tenant.id)
                    call = (await s.execute(sa.select(Call))).scalar_one()
                    await s.commit()
                assert call.outcome == "answered" and call.recording_id is not None
                await world.aclose()
                return {"tenant": str(cc.tenant.id), "call": str(call.id)}
        finally:
            await dispose_context(ctx)

    return asyncio.run(work())


def _plays(settings: Any, tenant_id: str) -> list[str]:
    async def work() -> list[str]:
        import uuid

        from kefu.audit.models import AccessLogEntry

        ctx = build_context(settings)
        try:
            async with ctx.session_factory() as s:
                await bind_tenant(s, uuid.UUID(tenant_id))
                rows = (await s.execute(sa.select(AccessLogEntry.action, AccessLogEntry.resource_type))).all()
                await s.commit()
            return [f"{action}:{kind}" for action, kind in rows]
        finally:
            await dispose_context(ctx)

    return asyncio.run(work())


def test_a_supervisor_plays_a_recorded_call_from_the_call_list(settings):
    from playwright.sync_api import expect, sync_playwright

    from kefu.web.app import create_app

    ids = _seed(settings)
    ctx = build_context(settings)
    with running_server(lambda: create_app(ctx)) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            errors: list[str] = []
            page = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000}).new_page()
            page.set_default_timeout(15_000)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

            page.goto(f"{base}/t/acme/login")
            page.get_by_test_id("username").fill("boss")
            page.get_by_test_id("password").fill(PASSWORD)
            page.get_by_test_id("login-submit").click()
            page.get_by_test_id("home-title").wait_for()

            page.get_by_test_id("nav-calls").click()
            expect(page.get_by_test_id("calls-title")).to_have_text("通话记录")
            row = page.locator(f'[data-testid="call-row"][data-call-id="{ids["call"]}"]')
            expect(row.get_by_test_id("call-number")).to_have_text("138****5678")
            expect(row.get_by_test_id("call-agent")).to_have_text("bot1")
            row.get_by_test_id("call-link").click()

            expect(page.get_by_test_id("call-timeline").locator('li[data-type="call.connected"]')).to_be_visible()
            audio = page.get_by_test_id("recording-player")
            expect(audio).to_be_visible()
            expect(page.get_by_test_id("recording-download")).to_have_attribute(
                "href", f"/api/v1/t/acme/calls/{ids['call']}/recording?download=true"
            )
            # The player loads nothing until asked (preload="none"); ask it as the play button does.
            with page.expect_response(lambda r: f"/calls/{ids['call']}/recording" in r.url) as response_info:
                duration = audio.evaluate(
                    """a => new Promise((resolve, reject) => {
                        a.addEventListener('loadedmetadata', () => resolve(a.duration), {once: true});
                        a.addEventListener('error', () => reject(new Error('media error ' + (a.error && a.error.code))),
                                           {once: true});
                        a.preload = 'metadata';
                        a.load();
                    })"""
                )
            response = response_info.value
            assert response.status in (200, 206), response.status
            assert response.headers["content-type"] == "audio/wav"
            assert 19 < duration < 25, duration
            page.screenshot(path=f"{SHOTS}/kefu-call-detail.png", full_page=True)
            assert not errors, errors
        finally:
            browser.close()
    assert "play:recording" in _plays(settings, ids["tenant"])
