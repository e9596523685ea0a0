"""``kefu import work-orders FILE.csv --tenant SLUG [--map field=column …]``

Imports historical complaint work orders. Every row is validated first (line numbers and reasons for
the bad ones); good rows are then written one savepoint each, so a row is either imported whole
(order, history, outbox row) or not at all. Exit code 0 when every row was imported, 1 when some
rows were rejected (the good ones are imported), 2 for an unusable file or invocation.

Fields (default column name = field name; ``--map field=列名`` for other headers):
``title`` and ``category`` (a path such as 收费争议/增值业务/不知情定制) and ``created_at`` are required;
optional: ``number``, ``caller``, ``channel``, ``priority`` (1-4), ``description``, ``area`` (a path; missing
levels are created), ``department`` (name; the order is dispatched there), ``status`` (accepted,
dispatched or archived), ``resolution`` and ``reply`` (for archived orders), ``archived_at``, ``intercepted``
(yes/no), ``satisfaction``. Times are ISO 8601 or ``YYYY-MM-DD HH:MM[:SS]`` in the tenant's time zone.
"""

from __future__ import annotations

import asyncio
import csv
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import Progress

import_app = typer.Typer(help="Import data from files.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)

FIELDS = (
    "number",
    "title",
    "category",
    "created_at",
    "caller",
    "channel",
    "priority",
    "description",
    "area",
    "department",
    "status",
    "resolution",
    "reply",
    "archived_at",
    "intercepted",
    "satisfaction",
)
REQUIRED = ("title", "category", "created_at")
NUMBER_RE = re.compile(r"^[A-Za-z0-9-]{1,40}$")


@dataclass
class Row:
    line: int
    values: dict[str, str]
    created_at: datetime | None = None
    archived_at: datetime | None = None
    priority: int = 2
    errors: list[str] = field(default_factory=list)


def _parse_time(text: str, tz: ZoneInfo) -> datetime:
    value = datetime.fromisoformat(text.strip().replace("/", "-"))
    return value.replace(tzinfo=tz) if value.tzinfo is None else value


def parse_rows(path: Path, mapping: dict[str, str], tz: ZoneInfo, delimiter: str = ",") -> tuple[list[Row], list[str]]:
    """Read and check every row; returns rows (with their errors) and the file-level problems."""
    from kefu.workorders.rules import ANSWERS, CHANNELS, RESOLUTIONS

    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        return [], [f"cannot read {path}: {exc.strerror}"]
    with handle:
        try:
            reader = csv.DictReader(handle, delimiter=delimiter)
            header = reader.fieldnames or []
            columns = {f: mapping.get(f, f) for f in FIELDS}
            missing = [f"{f} (column {columns[f]!r})" for f in REQUIRED if columns[f] not in header]
            if missing:
                return [], [f"missing required column(s): {', '.join(missing)}; found {', '.join(header) or 'none'}"]
            rows = []
            for record in reader:
                values = {f: (record.get(c) or "").strip() for f, c in columns.items() if c in header}
                row = Row(reader.line_num, values)
                for name in REQUIRED:
                    if not values.get(name):
                        row.errors.append(f"{name} is empty")
                for name in ("created_at", "archived_at"):
                    if values.get(name):
                        try:
                            setattr(row, name, _parse_time(values[name], tz))
                        except ValueError:
                            row.errors.append(f"{name} {values[name]!r} is not a date and time")
                if values.get("priority"):
                    if values["priority"] not in ("1", "2", "3", "4"):
                        row.errors.append("priority must be 1-4")
                    else:
                        row.priority = int(values["priority"])
                if values.get("channel") and values["channel"] not in CHANNELS:
                    row.errors.append(f"channel {values['channel']!r} is not one of {', '.join(CHANNELS)}")
                status = values.get("status") or ("archived" if values.get("archived_at") else "accepted")
                values["status"] = status
                if status not in ("accepted", "dispatched", "archived"):
                    row.errors.append(f"status {status!r}: import accepted, dispatched or archived orders")
                if status == "archived":
                    if values.get("resolution") not in RESOLUTIONS:
                        row.errors.append(f"an archived order needs a resolution ({', '.join(RESOLUTIONS)})")
                    if not row.archived_at:
                        row.errors.append("an archived order needs archived_at")
                    elif row.created_at and row.archived_at < row.created_at:
                        row.errors.append("archived_at is before created_at")
                intercepted = values.get("intercepted", "").lower() in ("yes", "y", "true", "1", "是")
                if status == "archived" and not intercepted and not values.get("department"):
                    row.errors.append("an archived order needs the department that handled it (or intercepted=yes)")
                if status == "dispatched" and not values.get("department"):
                    row.errors.append("a dispatched order needs a department")
                if values.get("satisfaction") and values["satisfaction"] not in ANSWERS:
                    row.errors.append(f"satisfaction {values['satisfaction']!r} is not one of {', '.join(ANSWERS)}")
                if values.get("number") and not NUMBER_RE.match(values["number"]):
                    row.errors.append("number may only hold letters, digits and '-'")
                rows.append(row)
        except csv.Error as exc:
            return [], [f"line {reader.line_num}: malformed CSV ({exc})"]
        except UnicodeDecodeError:
            return [], ["the file is not UTF-8 text"]
    return rows, []


async def import_rows(ctx: Any, tenant_slug: str, rows: list[Row], progress: Any = None) -> tuple[int, list[Row]]:
    """Write the valid rows (one savepoint each). Returns (imported, rejected rows)."""
    import sqlalchemy as sa

    from kefu.core.actor import Actor
    from kefu.core.db import bind_tenant
    from kefu.core.errors import KefuError
    from kefu.customers.actions import ensure_area_path
    from kefu.tenancy.models import Department
    from kefu.tenancy.queries import tenant_by_slug
    from kefu.tenancy.rules import Permission
    from kefu.workorders.actions import _transition, do_create_work_order
    from kefu.workorders.models import Category, WorkOrder

    imported = 0
    rejected = [r for r in rows if r.errors]
    async with ctx.session_factory() as session:
        tenant = await tenant_by_slug(session, tenant_slug)
        await bind_tenant(session, tenant.id)
        actor = Actor.system("cli:import", tenant.id, frozenset(Permission))
        categories = dict(
            (await session.execute(sa.select(Category.path, Category.id).where(Category.tenant_id == tenant.id))).all()
        )
        departments = dict(
            (
                await session.execute(
                    sa.select(Department.name, Department.id).where(Department.tenant_id == tenant.id)
                )
            ).all()
        )
        for row in rows:
            if row.errors:
                if progress:
                    progress()
                continue
            v = row.values
            try:
                if v["category"] not in categories:
                    raise ValueError(f"unknown category {v['category']!r}")
                department = None
                if v.get("department"):
                    department = departments.get(v["department"])
                    if department is None:
                        raise ValueError(f"unknown department {v['department']!r}")
                async with session.begin_nested():
                    if (
                        v.get("number")
                        and (
                            await session.execute(
                                sa.select(WorkOrder.id).where(
                                    WorkOrder.tenant_id == tenant.id, WorkOrder.number == v["number"]
                                )
                            )
                        ).first()
                    ):
                        raise ValueError(f"an order numbered {v['number']} exists already")
                    area = await ensure_area_path(session, actor, v["area"]) if v.get("area") else None
                    intercepted = v.get("intercepted", "").lower() in ("yes", "y", "true", "1", "是")
                    order = await do_create_work_order(
                        session,
                        actor,
                        title=v["title"][:200],
                        category_id=categories[v["category"]],
                        description=v.get("description", ""),
                        priority=row.priority,
                        channel=v.get("channel") or "phone",
                        caller=v.get("caller") or None,
                        area_id=area.id if area else None,
                        created_at=row.created_at,
                        department_id=department if not intercepted else None,
                        resolve_now={"resolution": v["resolution"], "reply": v.get("reply") or "导入"}
                        if intercepted and v["status"] == "archived"
                        else None,
                    )
                    if v.get("number"):
                        order.number = v["number"]
                    if v["status"] == "archived" and not intercepted:
                        order.resolution, order.reply = v["resolution"], v.get("reply") or "导入"
                        for action in ("take", "reply", "archive"):
                            await _transition(session, actor, order, action, at=row.archived_at)
                        if v.get("satisfaction") and v["satisfaction"] != "no_answer":
                            order.satisfaction = v["satisfaction"]
                    await session.flush()
                imported += 1
            except (ValueError, KefuError) as exc:
                row.errors.append(exc.detail if isinstance(exc, KefuError) else str(exc))
                rejected.append(row)
            if progress:
                progress()
        from kefu import audit

        await audit.record(
            session,
            actor,
            "work_orders.imported",
            target_type="tenant",
            target_id=tenant.id,
            details={"imported": imported, "rejected": len(rejected)},
        )
        await session.commit()
    rejected.sort(key=lambda r: r.line)
    return imported, rejected


@import_app.command("work-orders")
def work_orders(
    file: Annotated[Path, typer.Argument(help="CSV file (UTF-8, a header row)")],
    tenant: Annotated[str, typer.Option(help="The organisation's slug")],
    map_: Annotated[
        list[str] | None, typer.Option("--map", help="field=column, e.g. --map title=标题 (repeatable)")
    ] = None,
    delimiter: Annotated[str, typer.Option(help="Column separator")] = ",",
) -> None:
    """Import complaint work orders from a CSV file; bad rows are listed with their line numbers."""
    from kefu.cli.main import _run, _settings, ensure_schema

    mapping: dict[str, str] = {}
    for item in map_ or []:
        name, sep, column = item.partition("=")
        if not sep or name not in FIELDS or not column:
            err.print(f"[red]Error:[/red] --map {item!r}: use field=column with a field among {', '.join(FIELDS)}")
            raise typer.Exit(2)
        mapping[name] = column
    settings = _settings()
    ensure_schema(settings)

    async def work(ctx: Any) -> tuple[int, list[Row], int]:
        from kefu.tenancy.queries import tenant_by_slug

        async with ctx.session_factory() as session:
            row = await tenant_by_slug(session, tenant)
            tz = ZoneInfo(row.timezone)
        rows, problems = await asyncio.to_thread(parse_rows, file, mapping, tz, delimiter)
        if problems:
            for problem in problems:
                err.print(f"[red]Error:[/red] {problem}")
            raise typer.Exit(2)
        with Progress(console=console, transient=False) as progress:
            task = progress.add_task(f"Importing {len(rows)} rows", total=len(rows))
            imported, rejected = await import_rows(ctx, tenant, rows, lambda: progress.advance(task))
        return imported, rejected, len(rows)

    from kefu.core.errors import KefuError

    try:
        imported, rejected, total = _run(settings, work)
    except KefuError as exc:
        err.print(f"[red]Error:[/red] {exc.detail}")
        raise typer.Exit(2) from None
    for row in rejected:
        err.print(f"line {row.line}: {'; '.join(row.errors)}")
    console.print(f"Imported {imported} of {total} rows; rejected {len(rejected)}.")
    if rejected:
        raise typer.Exit(1)
