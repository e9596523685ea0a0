"""Work-order benchmark on PostgreSQL: 1,000,000 orders with history, list/filter/search pages, the month's
KPI dashboard, and order creation through the HTTP API.

What it does, all in one run:

1. creates a scratch database (``--database-url``, default a new ``kefu_bench_wo`` on the local server), runs the
   migrations as the owner and serves as a separate non-owner role, so row-level security is in force;
2. seeds one tenant through the real actions (departments, categories, areas, SLA policy, a token) and bulk-loads
   ``--orders`` orders spread over 12 months with their history (created, dispatch, take, reply, archive …),
   follow-ups, SLA events and outbox rows with ``COPY``; then ``VACUUM ANALYZE``;
3. starts ``kefu serve`` in a subprocess (one process) and times, over ``--repeat`` requests each, through HTTP:
   the first list page, filters (open orders of one department; a category subtree), searches (order number,
   calling number, title words), a deep keyset page, and the month's KPI dashboard (the API calls the dashboard
   page makes: by department and per day) — p50 / p95 / p99 in ms;
4. prints baselines measured side by side in the same database: the same deep page with ``OFFSET``, and the
   list/KPI queries with their indexes dropped inside a rolled-back transaction;
5. measures creation throughput: ``POST /work-orders`` with ``--concurrency`` clients for ``--create`` orders,
   against one client at a time.

    python benchmarks/workorders.py                      # 1,000,000 orders (~10-15 minutes here)
    python benchmarks/workorders.py --orders 100000      # smaller
    python benchmarks/workorders.py --keep               # keep the database for inspection
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
APP_ROLE = "kefu_bench_app"
SECRET = "benchmark-secret-key-0123456789-abcdefghij"
SLUG = "bench"


def log(message: str) -> None:
    print(message, flush=True)


def uuid7(ts: float, rng: random.Random) -> uuid.UUID:
    ms = int(ts * 1000)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rng.getrandbits(12) << 64 | 0b10 << 62 | rng.getrandbits(62)
    return uuid.UUID(int=value)


# --------------------------------------------------------------------------- database set-up


async def create_database(admin_url: str, name: str) -> tuple[str, str]:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {name}")
        exists = await conn.fetchval("select 1 from pg_roles where rolname = $1", APP_ROLE)
        if not exists:
            await conn.execute(f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS")
    finally:
        await conn.close()
    base = admin_url.rsplit("/", 1)[0]
    host = base.split("@")[-1]
    owner = f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://")
    app = f"postgresql+asyncpg://{APP_ROLE}@{host}/{name}"
    return owner, app


def settings_env(owner_url: str, app_url: str, data_dir: Path) -> dict[str, str]:
    return {**os.environ, "KEFU_DATABASE_URL": app_url, "KEFU_DATABASE_OWNER_URL": owner_url,
            "KEFU_DATABASE_APP_ROLE": APP_ROLE, "KEFU_SECRET_KEY": SECRET, "KEFU_DATA_DIR": str(data_dir),
            "KEFU_RUN_BACKGROUND_SERVICES": "0", "KEFU_ENVIRONMENT": "development",
            "KEFU_LOGIN_RATE_PER_MINUTE": "100000"}


async def seed_tenant(owner_url: str, app_url: str, data_dir: Path) -> dict[str, Any]:
    from kefu.bootstrap import build_context, dispose_context
    from kefu.core.actor import Actor
    from kefu.core.db import bind_tenant
    from kefu.customers.actions import ensure_area_path
    from kefu.settings import Settings
    from kefu.tenancy.actions import do_create_api_token, do_create_department, do_create_tenant
    from kefu.tenancy.rules import Permission
    from kefu.workorders.actions import do_save_dispatch_rule, do_save_sla_policy, do_update_config
    from kefu.workorders.demo import AREAS
    from kefu.workorders.models import Category
    from kefu.workorders.taxonomy import seed_taxonomy

    settings = Settings(database_url=app_url, database_owner_url=owner_url, database_app_role=APP_ROLE,
                        secret_key=SECRET, data_dir=data_dir, run_background_services=False)
    ctx = build_context(settings)
    try:
        async with ctx.session_factory() as s:
            tenant, _ = await do_create_tenant(s, Actor.system("bench"), slug=SLUG, name="Benchmark 通信")
            await bind_tenant(s, tenant.id)
            actor = Actor(Actor.system("bench").kind, tenant.id, None, "bench", frozenset(Permission),
                          roles=("tenant_admin",))
            deps = {}
            for name in ("网络部", "计费部", "市场部", "投诉处理中心"):
                deps[name] = (await do_create_department(s, actor, name=name)).id
            await seed_taxonomy(s, actor, "telecom")
            areas = []
            for district, compounds in AREAS.items():
                for compound in compounds:
                    area = await ensure_area_path(s, actor, f"{district}/{compound}")
                    areas.append((area.id, area.path))
            await do_update_config(s, actor, {"fallback_department_id": deps["投诉处理中心"]})
            rows = (await s.execute(__import__("sqlalchemy").select(Category))).scalars().all()
            for c in rows:
                if c.level == 1:
                    dep = {"网络质量": "网络部", "收费争议": "计费部"}.get(c.name, "市场部")
                    await do_save_dispatch_rule(s, actor, department_id=deps[dep], category_id=c.id)
            policy = await do_save_sla_policy(s, actor, name="默认", is_default=True, response_minutes=240,
                                              resolution_minutes=48 * 60)
            _row, token = await do_create_api_token(s, actor, name="bench", scopes=list(Permission),
                                                    expires_in_days=None)
            await s.commit()
            crypto = ctx.pii(tenant)
            return {"tenant_id": tenant.id, "departments": deps, "areas": areas, "token": token,
                    "policy_id": policy.id, "leaves": [(c.id, c.path) for c in rows if c.level == 3],
                    "crypto": crypto}
    finally:
        await dispose_context(ctx)


# --------------------------------------------------------------------------- bulk load

ORDER_COLUMNS = [
    "id", "tenant_id", "number", "kind", "parent_id", "master_id", "merged_into_id", "status", "priority", "channel",
    "title", "description", "category_id", "category_path", "problem_class", "customer_id", "source_call_id",
    "caller_index", "caller_masked", "area_id", "area_path", "department_id", "assignee_id", "created_by_id", "vip",
    "threatens_escalation", "is_repeat", "repeat_of_id", "intercepted", "resolution", "reply", "satisfaction",
    "sla_policy_id", "created_at", "updated_at", "responded_at", "replied_at", "archived_at", "response_due_at",
    "resolution_due_at", "outer_due_at", "next_deadline_at", "sla_flags", "handling_seconds", "handling_day_seconds",
    "paused_seconds", "handoffs", "on_time"]
EVENT_COLUMNS = ["id", "tenant_id", "order_id", "occurred_at", "actor_type", "actor_id", "actor_name", "action",
                 "from_status", "to_status", "from_department_id", "to_department_id", "reason", "details"]
TITLES = ["网速慢", "室内无信号", "不知情定制扣费", "套餐与宣传不符", "营业厅服务态度差", "宽带频繁掉线", "流量计费异议",
          "携号转网受阻", "骚扰短信", "国际漫游费用"]


def generate(seed: dict[str, Any], n: int, now: datetime, rng: random.Random):
    """Yield chunks of (orders, events, follow-ups, sla events, outbox rows) as tuples for COPY."""
    tenant = seed["tenant_id"]
    deps = list(seed["departments"].values())
    areas, leaves = seed["areas"], seed["leaves"]
    crypto = seed["crypto"]
    phones = [f"+86138{i:08d}" for i in range(0, 200_000)]
    start = now - timedelta(days=365)
    span = 365 * 86400
    day_counter: dict[str, int] = {}
    chunk = ([], [], [], [], [])

    stamps = sorted(rng.random() * span for _ in range(n))
    for i, offset in enumerate(stamps):
        created = start + timedelta(seconds=offset)
        oid = uuid7(created.timestamp(), rng)
        day = created.strftime("%Y%m%d")
        day_counter[day] = day_counter.get(day, 0) + 1
        number = f"TS-{day}-{day_counter[day]:06d}"
        cat_id, cat_path = leaves[i % len(leaves)]
        area_id, area_path = areas[rng.randrange(len(areas))]
        phone = phones[rng.randrange(len(phones))]
        caller_index = crypto.phone_index(phone)
        fate = rng.random()
        age = (now - created).total_seconds()
        dep = rng.choice(deps)
        events = [(created, "created", None, "accepted", None, None)]
        status, department, intercepted, resolution = "accepted", None, False, None
        archived = replied = responded = None
        handling = handling_day = None
        if fate < 0.45:
            status, intercepted, resolution = "archived", True, "resolved"
            archived = replied = responded = created + timedelta(minutes=3)
            events.append((archived, "intercept", "accepted", "archived", None, None))
            handling = handling_day = 180
        else:
            department = dep
            events.append((created, "dispatch", "accepted", "dispatched", None, dep))
            status = "dispatched"
            took = created + timedelta(minutes=rng.randint(5, 240))
            if took.timestamp() < now.timestamp():
                events.append((took, "take", "dispatched", "in_progress", None, None))
                status, responded = "in_progress", took
                hours = rng.choice([1, 2, 4, 8, 20, 30, 50, 80])
                done = took + timedelta(hours=hours)
                if done < now and age > 86400 * 5:
                    resolution = rng.choices(["resolved", "partly_resolved", "unresolved"], [85, 10, 5])[0]
                    events.append((done, "reply", "in_progress", "replied", None, None))
                    archived = replied = done
                    archived = done + timedelta(hours=rng.randint(1, 10))
                    events.append((archived, "archive", "replied", "archived", None, None))
                    status = "archived"
                    handling = int((archived - created).total_seconds())
                    handling_day = int(handling * 0.6)
        resolution_due = created + timedelta(hours=48)
        outer_due = created + timedelta(days=15)
        next_deadline = None if status == "archived" else (outer_due if age > 86400 * 2 else resolution_due)
        satisfaction = None
        if status == "archived" and not intercepted and rng.random() < 0.7:
            satisfaction = rng.choices(["very_satisfied", "satisfied", "neutral", "unsatisfied"], [55, 35, 6, 4])[0]
            chunk[2].append((uuid7(archived.timestamp(), rng), tenant, oid, "sms", "answered", archived - timedelta(hours=1),
                             archived, satisfaction, "", None, None))
        order = (oid, tenant, number, "complaint", None, None, None, status, rng.choice([2, 2, 2, 3, 4]), "phone",
                 TITLES[i % len(TITLES)], "客户来电反映问题，要求处理。", cat_id, cat_path, "/".join(cat_path.split("/")[:2]),
                 None, None, caller_index, "138****" + phone[-4:], area_id, area_path, department, None, None, False,
                 rng.random() < 0.03, rng.random() < 0.08, None, intercepted, resolution, "已处理" if resolution else None,
                 satisfaction, seed["policy_id"], created, archived or created, responded, replied, archived,
                 created + timedelta(hours=4), resolution_due, outer_due, next_deadline, "[]", handling,
                 handling_day, 0, 0, (archived <= resolution_due) if archived else None)
        chunk[0].append(order)
        for at, action, frm, to, from_dep, to_dep in events:
            chunk[1].append((uuid7(at.timestamp(), rng), tenant, oid, at, "user", None, "bench", action, frm, to,
                             from_dep, to_dep, None, "{}"))
        if status != "archived" and age > 86400 * 2 and rng.random() < 0.3:
            chunk[3].append((uuid7(resolution_due.timestamp(), rng), tenant, oid, "breach", "resolution",
                             resolution_due, resolution_due, seed["policy_id"]))
        chunk[4].append((uuid7(created.timestamp(), rng), tenant, oid, "complaint.created", created, area_path,
                         cat_path, caller_index))
        if len(chunk[0]) >= 20_000:
            yield chunk
            chunk = ([], [], [], [], [])
    if chunk[0]:
        yield chunk


async def bulk_load(admin_db_url: str, seed: dict[str, Any], n: int) -> float:
    conn = await asyncpg.connect(admin_db_url)
    rng = random.Random(42)
    now = datetime.now(UTC)
    started = time.perf_counter()
    loaded = 0
    try:
        await conn.execute("SET session_replication_role = replica")  # skip FK and append-only triggers while loading
        for orders, events, follow_ups, sla, outbox in generate(seed, n, now, rng):
            await conn.copy_records_to_table("work_orders", records=orders, columns=ORDER_COLUMNS)
            await conn.copy_records_to_table("work_order_events", records=events, columns=EVENT_COLUMNS)
            if follow_ups:
                await conn.copy_records_to_table("work_order_follow_ups", records=follow_ups, columns=[
                    "id", "tenant_id", "order_id", "channel", "status", "sent_at", "answered_at", "answer", "note",
                    "sms_message_id", "actor_id"])
            if sla:
                await conn.copy_records_to_table("sla_events", records=sla, columns=[
                    "id", "tenant_id", "order_id", "kind", "target", "due_at", "occurred_at", "policy_id"])
            await conn.copy_records_to_table("complaint_events", records=outbox, columns=[
                "id", "tenant_id", "order_id", "kind", "occurred_at", "area_path", "category_path", "caller_index"])
            loaded += len(orders)
            rate = loaded / (time.perf_counter() - started)
            log(f"  loaded {loaded:,} orders ({rate:,.0f}/s)")
        # Day counters continue after the loaded numbers.
        await conn.execute("""
            insert into work_order_counters (id, tenant_id, day, value)
            select gen_random_uuid(), tenant_id, split_part(number, '-', 2), max(split_part(number, '-', 3)::int)
            from work_orders group by tenant_id, split_part(number, '-', 2)""")
        await conn.execute("SET session_replication_role = origin")
        log("  VACUUM ANALYZE …")
        for table in ("work_orders", "work_order_events", "work_order_follow_ups", "sla_events", "complaint_events"):
            await conn.execute(f"VACUUM ANALYZE {table}")
    finally:
        await conn.close()
    return time.perf_counter() - started


# --------------------------------------------------------------------------- HTTP timing


def app_factory() -> Any:
    """``uvicorn --factory``: the application built from ``KEFU_*`` environment variables."""
    from kefu.bootstrap import build_context
    from kefu.settings import Settings
    from kefu.web.app import create_app

    return create_app(build_context(Settings()))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    data = sorted(samples)

    def pick(p: float) -> float:
        return data[min(len(data) - 1, round(p * (len(data) - 1)))]

    return pick(0.5), pick(0.95), pick(0.99)


async def time_get(client: httpx.AsyncClient, path: str, params: dict[str, Any], repeat: int) -> list[float]:
    r = await client.get(path, params=params)  # warm-up
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        r = await client.get(path, params=params)
        out.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200
    return out


async def time_kpi_dashboard(client: httpx.AsyncClient, api: str, month: str, repeat: int) -> list[float]:
    out = []
    for i in range(repeat + 1):
        t = time.perf_counter()
        a = await client.get(f"{api}/kpis/dashboard", params={"from": month, "group_by": "department"})
        if i:
            out.append((time.perf_counter() - t) * 1000)
        assert a.status_code == 200, a.text[:300]
    return out


async def create_rate(client: httpx.AsyncClient, api: str, category: str, total: int, concurrency: int) -> float:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)
    failures = 0

    async def worker() -> None:
        nonlocal failures
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            r = await client.post(f"{api}/work-orders", json={
                "title": "基准测试投诉", "category_id": category, "caller": f"1390000{i % 10000:04d}",
                "dispatch": "auto", "description": "benchmark"})
            if r.status_code != 201:
                failures += 1
                if failures < 3:
                    log(f"  create failed: {r.status_code} {r.text[:200]}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    if failures:
        log(f"  {failures} creations failed")
    return (total - failures) / elapsed


# --------------------------------------------------------------------------- baselines (SQL, same database)


async def sql_ms(conn: asyncpg.Connection, sql: str, *args: Any, repeat: int = 5) -> float:
    await conn.fetch(sql, *args)
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        await conn.fetch(sql, *args)
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


async def baselines(admin_db_url: str, tenant_id: uuid.UUID, department: uuid.UUID, n: int) -> list[tuple[str, float, float]]:
    conn = await asyncpg.connect(admin_db_url)
    out = []
    try:
        middle = await conn.fetchval("select id from work_orders order by id desc offset $1 limit 1", n // 2)
        keyset = await sql_ms(conn, "select * from work_orders where tenant_id=$1 and id < $2 order by id desc limit 51",
                              tenant_id, middle)
        offset = await sql_ms(conn, "select * from work_orders where tenant_id=$1 order by id desc offset $2 limit 51",
                              tenant_id, n // 2, repeat=3)
        out.append(("deep page (middle): keyset vs OFFSET", keyset, offset))
        filt = "select * from work_orders where tenant_id=$1 and caller_index=$2 order by id desc limit 51"
        caller = await conn.fetchval("select caller_index from work_orders order by id desc limit 1")
        with_index = await sql_ms(conn, filt, tenant_id, caller)
        kpi = ("select department_id, count(*), sum(case when intercepted then 1 else 0 end) from work_orders "
               "where tenant_id=$1 and kind='complaint' and created_at >= now() - interval '30 days' group by 1")
        kpi_with = await sql_ms(conn, kpi, tenant_id)
        async with conn.transaction():
            await conn.execute("drop index ix_work_orders_tenant_caller_created")
            await conn.execute("drop index ix_work_orders_tenant_created")
            without = await sql_ms(conn, filt, tenant_id, caller, repeat=3)
            kpi_without = await sql_ms(conn, kpi, tenant_id, repeat=3)
            raise _Rollback
    except _Rollback:
        pass
    finally:
        await conn.close()
    out.append(("orders of a calling number: index vs no index", with_index, without))
    out.append(("KPI counts of 30 days: index vs no index", kpi_with, kpi_without))
    return out


class _Rollback(Exception):
    pass


# --------------------------------------------------------------------------- main


async def main(args: argparse.Namespace) -> int:
    name = args.database
    admin_url = args.database_url
    log(f"kefu work-order benchmark: {args.orders:,} orders, database {name}, {args.workers} server process(es)")
    owner_url, app_url = await create_database(admin_url, name)
    data_dir = Path(tempfile.mkdtemp(prefix="kefu-bench-"))
    env = settings_env(owner_url, app_url, data_dir)
    await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "kefu.cli.main", "db", "upgrade"], env=env,
                            check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    seed = await seed_tenant(owner_url, app_url, data_dir)
    admin_db_url = owner_url.replace("postgresql+asyncpg://", "postgresql://")
    log("bulk load:")
    load_seconds = await bulk_load(admin_db_url, seed, args.orders)
    log(f"  {args.orders:,} orders with history in {load_seconds:.0f} s")

    port = free_port()
    server_log = (data_dir / "server.log").open("wb")
    # The real app under uvicorn, ``--workers`` processes (``kefu serve`` runs one).
    server = await asyncio.to_thread(subprocess.Popen, [sys.executable, "-m", "uvicorn", "--factory", "--app-dir", str(ROOT / "benchmarks"),
                               "workorders:app_factory", "--host", "127.0.0.1", "--port", str(port),
                               "--workers", str(args.workers), "--log-level", "warning", "--no-access-log"],
                              env=env, cwd=ROOT, stdout=server_log, stderr=subprocess.STDOUT)
    results: list[tuple[str, float, float, float]] = []
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(max_connections=64)) as client:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit(f"the server did not start; see {data_dir / 'server.log'}") from None
                    await asyncio.sleep(0.5)
            client.headers["Authorization"] = f"Bearer {seed['token']}"
            api = f"/api/v1/t/{SLUG}"
            conn = await asyncpg.connect(admin_db_url)
            sample_number = await conn.fetchval("select number from work_orders order by id desc offset 1000 limit 1")
            middle = await conn.fetchval("select id from work_orders order by id desc offset $1 limit 1", args.orders // 2)
            network_root = await conn.fetchval("select id from work_order_categories where path = '网络质量'")
            await conn.close()
            net = str(seed["departments"]["网络部"])
            cases = [
                ("list: first page", f"{api}/work-orders", {}),
                ("filter: open orders of a department", f"{api}/work-orders", {"status": "open", "department_id": net}),
                ("filter: category subtree", f"{api}/work-orders", {"category_id": str(network_root)}),
                ("filter: overdue", f"{api}/work-orders", {"overdue": "true"}),
                ("search: order number", f"{api}/work-orders", {"q": sample_number}),
                ("search: calling number", f"{api}/work-orders", {"q": "13800012345"}),
                ("search: title words", f"{api}/work-orders", {"q": "网速"}),
                ("list: deep keyset page", f"{api}/work-orders", {"after": str(middle)}),
            ]
            for label, path, params in cases:
                p50, p95, p99 = percentiles(await time_get(client, path, params, args.repeat))
                results.append((label, p50, p95, p99))
                log(f"  {label:<40} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  p99 {p99:7.1f} ms")
            month = datetime.now(UTC).strftime("%Y-%m-01")
            p50, p95, p99 = percentiles(await time_kpi_dashboard(client, api, month, args.repeat))
            results.append(("KPI dashboard of the month", p50, p95, p99))
            log(f"  {'KPI dashboard of the month':<40} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  p99 {p99:7.1f} ms")
            category = str(seed["leaves"][0][0])
            single = await create_rate(client, api, category, max(50, args.create // 10), 1)
            rate = await create_rate(client, api, category, args.create, args.concurrency)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    base_rows = await baselines(admin_db_url, seed["tenant_id"], seed["departments"]["网络部"], args.orders)

    log("")
    log(f"== kefu work orders on PostgreSQL, {args.orders:,} orders (load {load_seconds:.0f} s) ==")
    log(f"{'page (through HTTP, ' + str(args.repeat) + ' requests)':<44}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}  target p95 < 200")
    for label, p50, p95, p99 in results:
        log(f"{label:<44}{p50:9.1f}{p95:9.1f}{p99:9.1f}  {'ok' if p95 < 200 else 'MISSED'}")
    log(f"{'creation, ' + str(args.concurrency) + ' concurrent clients':<44}{rate:9.0f} orders/s  target ≥ 300  "
        f"{'ok' if rate >= 300 else 'MISSED'}")
    log(f"{'creation, one client (baseline)':<44}{single:9.0f} orders/s  ratio {rate / single:.1f}×")
    log("baselines (SQL in the same database, median ms):")
    for label, ours, baseline in base_rows:
        log(f"  {label:<52} {ours:8.1f} vs {baseline:8.1f}  ({baseline / max(ours, 0.01):.0f}× slower)")
    if not args.keep:
        conn = await asyncpg.connect(admin_url)
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="a server where the benchmark may create a database and a role")
    parser.add_argument("--database", default="kefu_bench_wo", help="name of the scratch database")
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=50, help="requests per timed page")
    parser.add_argument("--create", type=int, default=3000, help="orders created through the API")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (this machine has 2 cores)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    raise SystemExit(asyncio.run(main(parse())))
