"""``kefu``: serve, run the demo, migrate, manage tenants and users, verify the audit log."""

from __future__ import annotations

import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from kefu import __version__
from kefu.settings import Settings

T = TypeVar("T")

app = typer.Typer(
    name="kefu",
    help="kefu — multi-tenant cloud contact center.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
tenant_app = typer.Typer(help="Organisations (tenants).", no_args_is_help=True)
user_app = typer.Typer(help="People in an organisation.", no_args_is_help=True)
operator_app = typer.Typer(help="Platform operators (above tenants).", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
number_app = typer.Typer(help="Telephone numbers (DIDs, 400/800 numbers).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(tenant_app, name="tenant")
app.add_typer(user_app, name="user")
app.add_typer(operator_app, name="operator")
app.add_typer(audit_app, name="audit")
app.add_typer(number_app, name="number")

console = Console()
err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        console.print(f"kefu {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """kefu — multi-tenant cloud contact center with centralized complaint handling."""


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except Exception as exc:  # pydantic ValidationError: show the message, not a traceback
        err.print(f"[red]Configuration error:[/red] {exc}")
        raise typer.Exit(2) from None


def _run(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    from kefu.bootstrap import build_context, dispose_context

    async def runner() -> T:
        ctx = build_context(settings)
        try:
            return await work(ctx)
        finally:
            await dispose_context(ctx)

    return asyncio.run(runner())


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]Error:[/red] {message}")
    return typer.Exit(code)


def _system_actor(tenant_id: Any = None) -> Any:
    from kefu.core.actor import Actor

    who = os.environ.get("SUDO_USER") or getpass.getuser()
    return Actor.system(f"cli:{who}", tenant_id).with_origin("local", f"kefu-cli/{__version__}")


# --------------------------------------------------------------------------- db


def ensure_schema(settings: Settings) -> None:
    """Migrate an embedded database automatically; require PostgreSQL to be migrated explicitly."""
    from kefu import migrations

    current = migrations.current_revision(settings)
    head = migrations.head_revision()
    if current == head:
        return
    if settings.is_embedded_database:
        console.print(f"Preparing the embedded database ({current or 'empty'} → {head}) …")
        migrations.upgrade(settings)
        return
    raise _fail(f"The database schema is at {current or 'nothing'}, not {head}. Run `kefu db upgrade` first.")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision")] = "head") -> None:
    """Apply schema migrations (as KEFU_DATABASE_OWNER_URL, or KEFU_DATABASE_URL)."""
    from kefu import migrations

    settings = _settings()
    before = migrations.current_revision(settings)
    migrations.upgrade(settings, revision)
    after = migrations.current_revision(settings)
    console.print(f"Database schema: {before or 'empty'} → {after}")


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision of the database."""
    from kefu import migrations

    settings = _settings()
    console.print(f"current: {migrations.current_revision(settings) or 'empty'}; head: {migrations.head_revision()}")


# --------------------------------------------------------------------------- tenants, users, operators


def _read_password(password: str | None, password_stdin: bool, prompt: str = "Password") -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if password:
        return password
    return typer.prompt(prompt, hide_input=True, confirmation_prompt=True)


@tenant_app.command("create")
def tenant_create(
    slug: Annotated[str, typer.Argument(help="Short name used in URLs, e.g. 'acme'")],
    name: Annotated[str, typer.Option(help="Display name")],
    timezone: Annotated[str, typer.Option(help="IANA time zone")] = "Asia/Shanghai",
    locale: Annotated[str, typer.Option(help="zh_CN or en")] = "zh_CN",
    admin_username: Annotated[str | None, typer.Option(help="Create a first tenant administrator")] = None,
    admin_password: Annotated[str | None, typer.Option(help="Their password (prompted if omitted)")] = None,
    password_stdin: Annotated[bool, typer.Option(help="Read the admin password from stdin")] = False,
) -> None:
    """Create an organisation (and optionally its first administrator)."""
    from kefu.core.errors import KefuError
    from kefu.tenancy.actions import do_create_tenant

    settings = _settings()
    ensure_schema(settings)
    password = _read_password(admin_password, password_stdin, "Admin password") if admin_username else None

    async def work(ctx: Any) -> None:
        async with ctx.session_factory() as session:
            try:
                tenant, admin = await do_create_tenant(
                    session,
                    _system_actor(),
                    slug=slug,
                    name=name,
                    timezone=timezone,
                    locale=locale,
                    admin_username=admin_username,
                    admin_password=password,
                )
                await session.commit()
            except KefuError as exc:
                raise _fail(exc.detail) from None
            console.print(f"Created organisation [bold]{tenant.slug}[/bold] ({tenant.id})")
            if admin:
                console.print(
                    f"Administrator: {admin.username} — sign in at {settings.public_url}/t/{tenant.slug}/login"
                )

    _run(settings, work)


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Argument()],
    tenant: Annotated[str, typer.Option(help="The organisation's slug")],
    role: Annotated[
        list[str],
        typer.Option(
            help="Role (repeatable): tenant_admin, supervisor, agent, back_office, qa_inspector, security_auditor"
        ),
    ],
    name: Annotated[str | None, typer.Option(help="Display name")] = None,
    password: Annotated[str | None, typer.Option(help="Password (prompted if omitted)")] = None,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin")] = False,
) -> None:
    """Create a user in an organisation."""
    from kefu.core.db import bind_tenant
    from kefu.core.errors import KefuError
    from kefu.tenancy.actions import do_create_user
    from kefu.tenancy.queries import tenant_by_slug
    from kefu.tenancy.rules import Permission

    settings = _settings()
    ensure_schema(settings)
    secret = _read_password(password, password_stdin)

    async def work(ctx: Any) -> None:
        async with ctx.session_factory() as session:
            try:
                row = await tenant_by_slug(session, tenant)
                await bind_tenant(session, row.id)
                actor = _system_actor(row.id)
                actor = type(actor)(
                    actor.kind,
                    row.id,
                    None,
                    actor.name,
                    frozenset(Permission),
                    roles=("tenant_admin",),
                    ip=actor.ip,
                    user_agent=actor.user_agent,
                )
                user = await do_create_user(
                    session, actor, username=username, display_name=name or username, password=secret, roles=role
                )
                await session.commit()
            except KefuError as exc:
                raise _fail(exc.detail) from None
            console.print(f"Created user [bold]{user.username}[/bold] in {tenant} with roles {', '.join(user.roles)}")

    _run(settings, work)


@operator_app.command("create")
def operator_create(
    username: Annotated[str, typer.Argument()],
    password: Annotated[str | None, typer.Option(help="Password (prompted if omitted)")] = None,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin")] = False,
) -> None:
    """Create a platform operator (runs the service for all organisations)."""
    from kefu.core.errors import KefuError
    from kefu.tenancy.actions import do_create_operator

    settings = _settings()
    ensure_schema(settings)
    secret = _read_password(password, password_stdin)

    async def work(ctx: Any) -> None:
        async with ctx.session_factory() as session:
            try:
                op = await do_create_operator(session, _system_actor(), username=username, password=secret)
                await session.commit()
            except KefuError as exc:
                raise _fail(exc.detail) from None
            console.print(f"Created platform operator [bold]{op.username}[/bold]")

    _run(settings, work)


@number_app.command("assign")
def number_assign(
    number: Annotated[str, typer.Argument(help="The number, e.g. 4008123456 or +861062345678")],
    tenant: Annotated[str, typer.Option(help="The organisation's slug")],
    kind: Annotated[str, typer.Option(help="local, 400, 800 or mobile")] = "local",
) -> None:
    """Assign a number to an organisation (it then configures which IVR flow answers it)."""
    from kefu.contacts.actions import do_assign_number
    from kefu.core.errors import KefuError
    from kefu.tenancy.queries import tenant_by_slug

    settings = _settings()
    ensure_schema(settings)

    async def work(ctx: Any) -> None:
        async with ctx.session_factory() as session:
            try:
                row = await tenant_by_slug(session, tenant)
                assigned = await do_assign_number(session, _system_actor(), number=number, tenant_id=row.id, kind=kind)
                await session.commit()
            except KefuError as exc:
                raise _fail(exc.detail) from None
            console.print(f"Assigned {assigned.number} ({kind}) to {tenant}")

    _run(settings, work)


# --------------------------------------------------------------------------- audit


@audit_app.command("verify")
def audit_verify() -> None:
    """Check every audit chain; print OK or the first broken or missing link. Exit 1 if any is broken."""
    from kefu.audit import verify_all
    from kefu.tenancy.queries import list_tenants

    settings = _settings()
    settings_owner = settings.model_copy(update={"database_url": settings.resolved_owner_url})

    async def work(ctx: Any) -> bool:
        async with ctx.session_factory() as session:
            tenants = [(t.id, t.slug) for t in await list_tenants(session)]
            reports = await verify_all(session, tenants)
        for report in reports:
            style = "green" if report.ok else "red"
            console.print(f"[{style}]{report.line()}[/{style}]", highlight=False, soft_wrap=True)
        return all(r.ok for r in reports)

    ok = _run(settings_owner, work)
    if not ok:
        raise typer.Exit(1)
    console.print("OK: every audit chain is intact.")


# --------------------------------------------------------------------------- serve and demo


def _serve(settings: Settings, ctx: Any = None) -> None:
    import uvicorn

    from kefu.bootstrap import build_context
    from kefu.web.app import create_app

    ctx = ctx or build_context(settings)
    application = create_app(ctx)
    uvicorn.run(
        application,
        host=settings.listen_host,
        port=settings.listen_port,
        log_level="info",
        proxy_headers=False,
        server_header=False,
    )


@app.command()
def serve(
    listen: Annotated[str | None, typer.Option(help="host:port (default KEFU_LISTEN or 127.0.0.1:8000)")] = None,
) -> None:
    """Run the web server (migrates an empty embedded database first)."""
    settings = _settings(listen=listen)
    ensure_schema(settings)
    console.print(f"kefu {__version__} serving at {settings.public_url}")
    _serve(settings)


@app.command()
def demo(
    listen: Annotated[str | None, typer.Option(help="host:port")] = None,
    data_dir: Annotated[str | None, typer.Option(help="Where the demo keeps its data (default var/demo)")] = None,
    reset: Annotated[bool, typer.Option(help="Start from a fresh demo database")] = False,
) -> None:
    """Seed a demo organisation, print the URL and logins, and serve it."""
    import shutil
    from pathlib import Path

    from kefu.demo import print_logins, seed_demo

    directory = Path(data_dir or os.environ.get("KEFU_DATA_DIR") or "var/demo")
    if reset and directory.exists():
        shutil.rmtree(directory)
    settings = _settings(listen=listen, data_dir=directory, environment="development", demo_call_center=True)
    if not settings.is_embedded_database:
        err.print("[yellow]Note:[/yellow] the demo is meant for the embedded database; using KEFU_DATABASE_URL.")
    ensure_schema(settings)
    summary = _run(settings, seed_demo)
    print_logins(console, settings, summary)
    _serve(settings)


def _mount_domain_commands() -> None:
    from kefu.domains import cli_apps

    for name, sub_app in cli_apps():
        if isinstance(sub_app, typer.Typer):
            app.add_typer(sub_app, name=name)
        else:
            app.command(name)(sub_app)


_mount_domain_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
