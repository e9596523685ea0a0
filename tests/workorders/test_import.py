"""``kefu import work-orders``: column mapping, bad rows reported by line, good rows imported whole."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from typer.testing import CliRunner

from kefu.cli.main import app as cli
from kefu.core.db import bind_tenant
from kefu.workorders.models import WorkOrder, WorkOrderEvent
from workorders.wo_support import build_org

runner = CliRunner()

CSV = """工单号,标题,分类,受理时间,主叫,部门,状态,解决程度,回复,归档时间,拦截
TS-20260101-000001,彩铃扣费,收费争议/增值业务/不知情定制,2026-01-01 09:00,13812341234,计费部,archived,resolved,已退费,2026-01-02 10:00,
TS-20260101-000002,没有信号,网络质量/信号覆盖/室内无信号,2026-01-01 10:00,13900000000,网络部,dispatched,,,,
TS-20260101-000003,坏分类,不存在/的/分类,2026-01-01 11:00,,,accepted,,,,
TS-20260101-000004,坏时间,用户服务/服务态度/营业厅,昨天,,,accepted,,,,
TS-20260101-000005,当场解决,用户服务/服务态度/营业厅,2026-01-01 12:00,,,archived,resolved,已解释,2026-01-01 12:05,是
TS-20260101-000001,重复单号,用户服务/服务态度/营业厅,2026-01-01 13:00,,,accepted,,,,
TS-20260101-000007,未知部门,用户服务/服务态度/营业厅,2026-01-01 13:00,,客服部,dispatched,,,,
"""
MAP = [
    "--map",
    "number=工单号",
    "--map",
    "title=标题",
    "--map",
    "category=分类",
    "--map",
    "created_at=受理时间",
    "--map",
    "caller=主叫",
    "--map",
    "department=部门",
    "--map",
    "status=状态",
    "--map",
    "resolution=解决程度",
    "--map",
    "reply=回复",
    "--map",
    "archived_at=归档时间",
    "--map",
    "intercepted=拦截",
]


def _env(settings):
    env = {
        "KEFU_DATA_DIR": str(settings.data_dir),
        "KEFU_SECRET_KEY": settings.secret_key.get_secret_value(),
        "KEFU_PASSWORD_HASH_MEMORY_KIB": "64",
        "KEFU_PASSWORD_HASH_TIME_COST": "1",
        "KEFU_RUN_BACKGROUND_SERVICES": "0",
    }
    if settings.database_url:
        env["KEFU_DATABASE_URL"] = settings.database_url
        env["KEFU_DATABASE_OWNER_URL"] = settings.database_owner_url or settings.database_url
        env["KEFU_DATABASE_APP_ROLE"] = settings.database_app_role
        env["KEFU_ALLOW_PRIVILEGED_DATABASE_ROLE"] = "1"
    return env


async def test_import_reports_bad_rows_and_imports_good_ones(world, settings, tmp_path):
    org = await build_org(world)
    path = tmp_path / "orders.csv"
    path.write_text(CSV, encoding="utf-8")
    result = await asyncio.to_thread(
        runner.invoke, cli, ["import", "work-orders", str(path), "--tenant", "acme", *MAP], env=_env(settings)
    )
    out = result.output
    assert result.exit_code == 1, out
    assert "Imported 3 of 7 rows; rejected 4." in out
    assert "line 4: unknown category '不存在/的/分类'" in out
    assert "line 5: created_at '昨天' is not a date and time" in out
    assert "line 7: an order numbered TS-20260101-000001 exists already" in out
    assert "line 8: unknown department '客服部'" in out
    async with world.session() as s:
        await bind_tenant(s, org.t.id)
        orders = {o.number: o for o in (await s.execute(sa.select(WorkOrder))).scalars()}
        events = (await s.execute(sa.select(WorkOrderEvent.order_id))).scalars().all()
    assert sorted(orders) == ["TS-20260101-000001", "TS-20260101-000002", "TS-20260101-000005"]
    first = orders["TS-20260101-000001"]
    assert first.status == "archived" and first.handling_seconds == 25 * 3600 and first.caller_masked == "138****1234"
    assert orders["TS-20260101-000002"].status == "dispatched"
    assert orders["TS-20260101-000005"].intercepted
    # nothing half-written: every history row belongs to an imported order
    assert set(events) <= {o.id for o in orders.values()}


async def test_unusable_files_and_options(world, settings, tmp_path):
    await build_org(world)
    env = _env(settings)
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    result = await asyncio.to_thread(
        runner.invoke, cli, ["import", "work-orders", str(path), "--tenant", "acme"], env=env
    )
    assert result.exit_code == 2 and "missing required column" in result.output
    result = await asyncio.to_thread(
        runner.invoke, cli, ["import", "work-orders", str(path), "--tenant", "acme", "--map", "colour=a"], env=env
    )
    assert result.exit_code == 2 and "--map" in result.output
