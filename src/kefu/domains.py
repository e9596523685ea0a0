"""Where each domain plugs into the application: routers, pages, navigation and demo seeds.

One list per kind of thing, each entry an import path, so adding a domain is
one line here (and its own package), not edits scattered over the app.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

#: Modules whose ``router`` attribute is included in the app, in this order.
ROUTER_MODULES: list[str] = [
    "kefu.tenancy.api",
    "kefu.tenancy.platform_api",
    "kefu.audit.api",
    "kefu.realtime.api",
    "kefu.routing.api",
    "kefu.contacts.api",
    "kefu.contacts.api:platform_router",
    "kefu.messaging.api",
    "kefu.customers.api",
    "kefu.workorders.api",
    "kefu.workorders.pages",
    "kefu.alerts.api",
    "kefu.alerts.pages",
    "kefu.contacts.wallboard",
    "kefu.contacts.pages",
    "kefu.tenancy.pages",
]

#: Modules whose tables must be on ``Base.metadata`` (migrations, tests).
MODEL_MODULES: list[str] = [
    "kefu.tenancy.models",
    "kefu.audit.models",
    "kefu.routing.models",
    "kefu.contacts.models",
    "kefu.messaging.models",
    "kefu.customers.models",
    "kefu.workorders.models",
    "kefu.billing.models",
    "kefu.alerts.models",
]

#: Demo seed steps ``async def seed(ctx, tenant_id) -> None``, run in order after the demo tenant exists.
DEMO_SEEDS: list[str] = [
    "kefu.workorders.demo:seed",
    "kefu.demo.callcenter:seed_calls",
    "kefu.alerts.demo:seed",
]


#: Long-running services ``async def run(ctx, stop: asyncio.Event) -> None`` started with the web app
#: (SMS outbox relay, SLA scheduler, the router host …) unless ``KEFU_RUN_BACKGROUND_SERVICES=0``.
BACKGROUND_SERVICES: list[str] = [
    "kefu.messaging.relay:run_sms_relay",
    "kefu.demo.callcenter:run_demo_call_center",
    "kefu.workorders.jobs:run",
    "kefu.alerts.jobs:run",
    "kefu.alerts.demo:run_demo_group_complaints",
]

#: Typer sub-apps mounted on the ``kefu`` command: (command name, "module:attribute").
CLI_APPS: list[tuple[str, str]] = [
    ("alerts", "kefu.alerts.cli:app"),
    ("simulate", "kefu.analytics.cli:simulate_command"),
    ("import", "kefu.workorders.cli:import_app"),
    ("sms", "kefu.messaging.cli:app"),
]


#: Modules registering IVR conditions and self-service actions (``kefu.contacts.hooks``).
CALL_HOOK_MODULES: list[str] = ["kefu.customers.call_hooks", "kefu.workorders.call_hooks", "kefu.alerts.call_hooks"]


@dataclass(frozen=True)
class NavItem:
    path: str  # relative to /t/{tenant}/
    label: str  # English source string (translated in the template)
    permission: str
    testid: str


#: Top navigation of the web UI, shown to actors holding the permission.
NAV: list[NavItem] = [
    NavItem("admin/users", "Users", "users.read", "nav-users"),
    NavItem("admin/departments", "Departments", "departments.read", "nav-departments"),
    NavItem("workorders", "Work orders", "workorders.read", "nav-workorders"),
    NavItem("workorders/inbox", "Department inbox", "workorders.handle", "nav-inbox"),
    NavItem("workorders/kpis", "Complaint KPIs", "kpi.read", "nav-kpis"),
    NavItem("alerts", "Early warning", "alerts.read", "nav-alerts"),
    NavItem("admin/workorders", "Complaint settings", "workorders.admin", "nav-workorder-admin"),
    NavItem("desktop", "Agent desktop", "calls.handle", "nav-desktop"),
    NavItem("wallboard", "Wallboard", "wallboard.read", "nav-wallboard"),
    NavItem("calls", "Calls", "calls.read", "nav-calls"),
    NavItem("admin/ivr", "IVR flows", "calls.manage", "nav-ivr"),
]


def load(path: str) -> Any:
    module_path, _, attribute = path.partition(":")
    module = importlib.import_module(module_path)
    return getattr(module, attribute) if attribute else module


def routers() -> list[Any]:
    """Each entry is a module with a ``router`` attribute, or ``module:attribute`` naming the router."""
    return [load(path) if ":" in path else load(path).router for path in ROUTER_MODULES]


def import_models() -> None:
    for path in MODEL_MODULES:
        importlib.import_module(path)


def demo_seeds() -> list[Callable[[Any, Any], Awaitable[None]]]:
    return [load(path) for path in DEMO_SEEDS]


def background_services() -> list[Callable[..., Awaitable[None]]]:
    return [load(path) for path in BACKGROUND_SERVICES]


def cli_apps() -> list[tuple[str, Any]]:
    return [(name, load(path)) for name, path in CLI_APPS]


def import_call_hooks() -> None:
    for path in CALL_HOOK_MODULES:
        importlib.import_module(path)
