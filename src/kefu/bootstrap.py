"""The composition root: builds one process's services from its settings.

Nothing else constructs engines, clocks or ports. Entry points (``kefu serve``,
``kefu demo``, tests, CLI commands) call :func:`build_context` once and pass the
context down.
"""

from __future__ import annotations

from kefu.contacts.recordings import FileSystemRecordingStore
from kefu.core.context import Context
from kefu.core.crypto import PasswordHasher
from kefu.core.db import make_engine, make_session_factory
from kefu.core.time import Clock, RealClock
from kefu.messaging.adapters import build_sms_port
from kefu.realtime.hub import Hub
from kefu.routing.host import RouterHost
from kefu.settings import Settings
from kefu.telephony.simulated import SimulatedPBX


def build_context(settings: Settings | None = None, *, clock: Clock | None = None) -> Context:
    settings = settings or Settings()
    if settings.is_embedded_database:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    ctx = Context(
        settings=settings,
        clock=clock or RealClock(),
        passwords=PasswordHasher(settings.password_hash_memory_kib, settings.password_hash_time_cost),
    )
    factory = make_session_factory(engine)
    factory.configure(info={"context": ctx})
    ctx.session_factory = factory
    ctx.services["engine"] = engine
    ctx.services["hub"] = Hub()
    ctx.services["router_host"] = RouterHost(ctx)
    recordings = FileSystemRecordingStore(settings.data_dir / "recordings")
    ctx.services["recording_store"] = recordings
    if settings.telephony == "simulated":
        ctx.services["telephony"] = SimulatedPBX(ctx.clock, recordings.root)
    ctx.services["sms_port"] = build_sms_port(settings)
    from kefu.billing import LedgerBilling
    from kefu.contacts.surveys import register_survey_handler
    from kefu.workorders.followup import register_follow_up_handler

    ctx.services["billing"] = LedgerBilling()  # refunds: the credit-note ledger in the database
    register_follow_up_handler()  # SMS replies to satisfaction follow-ups (purpose "follow_up")
    register_survey_handler()  # SMS replies to post-call surveys (purpose "survey")
    return ctx


async def dispose_context(ctx: Context) -> None:
    controller = ctx.services.pop("call_controller", None)
    if controller is not None:
        await controller.stop()
    host = ctx.services.get("router_host")
    if host is not None:
        await host.close()
    engine = ctx.services.get("engine")
    if engine is not None:
        await engine.dispose()
