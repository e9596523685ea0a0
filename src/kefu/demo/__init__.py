"""The demo organisation: seeded once into the embedded database by ``kefu demo``.

Later capabilities add their own seed steps here (queues, agents, a live
simulated call center, work orders …). Seeding is idempotent: running the demo
again keeps what is there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from faker import Faker
from rich.console import Console
from rich.table import Table

from kefu.core.actor import Actor, ActorKind
from kefu.core.context import Context
from kefu.core.db import bind_tenant
from kefu.settings import Settings

DEMO_SLUG = "demo"
DEMO_PASSWORD = "kefu-demo-2026"  # noqa: S105 - published demo login


def seed_admin(tenant_id: Any) -> Actor:
    """The actor demo seed steps act as: the system, with every permission of a tenant administrator."""
    from kefu.tenancy.rules import Permission

    return Actor(
        ActorKind.SYSTEM,
        tenant_id,
        None,
        "demo-seed",
        frozenset(Permission),
        roles=("tenant_admin",),
        ip="local",
        user_agent="kefu-demo",
    )


@dataclass
class DemoSummary:
    slug: str
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # username, role label, password
    created: bool = False


DEPARTMENTS = [
    ("客户服务中心", "CSC", "department", None, "受理来电与投诉，首问负责"),
    ("一组", "CSC-1", "team", "客户服务中心", "话务一组"),
    ("二组", "CSC-2", "team", "客户服务中心", "话务二组"),
    ("投诉处理中心", "CMP", "department", None, "集中处理投诉工单"),
    ("网络部", "NET", "department", None, "基站、室分与传输故障"),
    ("计费部", "BIL", "department", None, "账单、扣费与退费核查"),
    ("市场部", "MKT", "department", None, "套餐与营销活动"),
]


async def seed_demo(ctx: Context) -> DemoSummary:
    import sqlalchemy as sa

    from kefu.tenancy.actions import do_create_department, do_create_tenant, do_create_user
    from kefu.tenancy.models import Tenant
    from kefu.tenancy.rules import Permission

    assert ctx.session_factory is not None
    summary = DemoSummary(DEMO_SLUG)
    fake = Faker("zh_CN")
    fake.seed_instance(2026)
    system = Actor.system("demo-seed").with_origin("local", "kefu-demo")
    people: list[tuple[str, list[str], str | None, str]] = [
        ("admin", ["tenant_admin"], None, "系统管理员"),
        ("banzhang", ["supervisor"], "客户服务中心", fake.name()),
        ("zhijian", ["qa_inspector"], "客户服务中心", fake.name()),
        ("shenji", ["security_auditor"], None, fake.name()),
        ("wangluo", ["back_office"], "网络部", fake.name()),
        ("jifei", ["back_office"], "计费部", fake.name()),
    ] + [(f"agent{i}", ["agent"], "一组" if i <= 3 else "二组", fake.name()) for i in range(1, 7)]
    async with ctx.session_factory() as session:
        tenant = (await session.execute(sa.select(Tenant).where(Tenant.slug == DEMO_SLUG))).scalar_one_or_none()
        if tenant is None:
            tenant, _ = await do_create_tenant(
                session, system, slug=DEMO_SLUG, name="示例通信 · 客服中心", timezone="Asia/Shanghai", locale="zh_CN"
            )
            admin_actor = Actor(
                system.kind,
                tenant.id,
                None,
                system.name,
                frozenset(Permission),
                roles=("tenant_admin",),
                ip="local",
                user_agent="kefu-demo",
            )
            ids: dict[str, Any] = {}
            for name, code, kind, parent, description in DEPARTMENTS:
                dep = await do_create_department(
                    session,
                    admin_actor,
                    name=name,
                    code=code,
                    kind=kind,
                    parent_id=ids.get(parent),
                    description=description,
                )
                ids[name] = dep.id
            for username, roles, dep_name, display in people:
                await do_create_user(
                    session,
                    admin_actor,
                    username=username,
                    display_name=display,
                    password=DEMO_PASSWORD,
                    roles=roles,
                    department_id=ids.get(dep_name),
                )
            await session.commit()
            summary.created = True
        else:
            await bind_tenant(session, tenant.id)
        tenant_id = tenant.id
    from kefu.domains import demo_seeds

    for seed in demo_seeds():  # each step is idempotent and commits its own work
        await seed(ctx, tenant_id)
    for username, roles, _dep, _display in people:
        summary.logins.append((username, ", ".join(roles), DEMO_PASSWORD))
    return summary


def print_logins(console: Console, settings: Settings, summary: DemoSummary) -> None:
    url = f"{settings.public_url}/t/{summary.slug}/login"
    console.rule("[bold]kefu demo")
    console.print(f"Open [bold cyan]{url}[/bold cyan]")
    table = Table(title="Demo logins (all share one password)", show_lines=False)
    table.add_column("username")
    table.add_column("role")
    table.add_column("password")
    for username, role, password in summary.logins:
        table.add_row(username, role, password)
    console.print(table)
    console.print("Press Ctrl+C to stop. Data lives in", str(settings.data_dir.resolve()))
