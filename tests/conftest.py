"""Test harness: every API test runs against SQLite and, when KEFU_TEST_DATABASE_URL is set, PostgreSQL.

PostgreSQL runs the way production does: migrations as an owner role, the
application as a separate role that is neither owner nor superuser, so row-level
security is in force for every test.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from kefu import migrations
from kefu.bootstrap import build_context
from kefu.core.time import VirtualClock
from kefu.settings import Settings

PG_URL = os.environ.get("KEFU_TEST_DATABASE_URL")
REQUIRE_PG = os.environ.get("KEFU_REQUIRE_POSTGRES") == "1"
OWNER_ROLE = "kefu_test_owner"
APP_ROLE = "kefu_test_app"

_pg_tests_ran = 0


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # user_properties travel from xdist workers to the controller, so the count is right either way.
    global _pg_tests_ran
    if report.when == "call" and report.passed and ("backend", "postgresql") in report.user_properties:
        _pg_tests_ran += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if REQUIRE_PG and exitstatus == 0 and _pg_tests_ran == 0 and not hasattr(session.config, "workerinput"):
        session.exitstatus = 1  # CI asked for PostgreSQL and none of its tests ran


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if PG_URL:
        terminalreporter.write_line(f"PostgreSQL: {_pg_tests_ran} test runs passed against {_redact(PG_URL)}")
    else:
        terminalreporter.write_line("PostgreSQL: not configured (set KEFU_TEST_DATABASE_URL); SQLite only")


def _redact(url: str) -> str:
    if "@" in url and ":" in url.split("@")[0].split("//")[-1]:
        scheme, rest = url.split("//", 1)
        creds, host = rest.split("@", 1)
        return f"{scheme}//{creds.split(':')[0]}:***@{host}"
    return url


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


# --------------------------------------------------------------------------- database backends


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "gw0")


def _base_settings(**kw: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "secret_key": "test-secret-key-0123456789-abcdefghijklmnop",
        "password_hash_memory_kib": 64,
        "password_hash_time_cost": 1,
        "login_rate_per_minute": 1000,
        "run_background_services": False,
    }
    values.update(kw)
    return Settings(**values)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("sqlite-template")
    migrations.upgrade(_base_settings(data_dir=directory))
    return directory / "kefu.db"


def _pg_parts(url: str) -> tuple[str, str]:
    """(server part without database, database) of a postgresql URL."""
    base, _, _db = url.rpartition("/")
    return base, _db


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _pg_admin(url: str, statements: list[str]) -> None:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[dict[str, str] | None]:
    if not PG_URL:
        yield None
        return
    base, admin_db = _pg_parts(PG_URL)
    host = base.split("@")[-1]
    name = f"kefu_test_{_worker()}_{os.getpid()}"  # unique even when several test runs share the server
    asyncio.run(
        _pg_admin(
            PG_URL,
            [
                f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname='{OWNER_ROLE}') THEN "
                f"CREATE ROLE {OWNER_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS; END IF; END $$",
                f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname='{APP_ROLE}') THEN "
                f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS; END IF; END $$",
                f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
                f"CREATE DATABASE {name} OWNER {OWNER_ROLE}",
            ],
        )
    )
    scheme = "postgresql+asyncpg://"
    urls = {
        "name": name,
        "superuser": f"{base.replace('postgresql://', scheme).replace('postgresql+asyncpg://', scheme)}/{name}",
        "owner": f"{scheme}{OWNER_ROLE}@{host}/{name}",
        "app": f"{scheme}{APP_ROLE}@{host}/{name}",
    }
    asyncio.run(_pg_admin(urls["superuser"], ["ALTER SCHEMA public OWNER TO " + OWNER_ROLE]))
    migrations.upgrade(
        _base_settings(database_url=urls["app"], database_owner_url=urls["owner"], database_app_role=APP_ROLE)
    )
    yield urls
    asyncio.run(_pg_admin(PG_URL, [f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"]))


async def pg_truncate_all(superuser_url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(superuser_url))
    try:
        tables = [
            r["tablename"]
            for r in await conn.fetch(
                "select tablename from pg_tables where schemaname='public' and tablename <> 'alembic_version'"
            )
        ]
        if tables:
            await conn.execute("SET session_replication_role = replica")
            await conn.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
    finally:
        await conn.close()


def pg_superuser_url(settings: Settings) -> str:
    """The superuser URL for the database a PostgreSQL test's settings point at."""
    assert PG_URL and settings.database_url
    base, _db = _pg_parts(PG_URL)
    return f"{base}/{settings.database_url.rpartition('/')[2]}"


def _backend_params() -> list[Any]:
    pg_marks = [] if PG_URL else [pytest.mark.skip(reason="KEFU_TEST_DATABASE_URL not set")]
    if REQUIRE_PG and not PG_URL:
        raise pytest.UsageError("KEFU_REQUIRE_POSTGRES=1 but KEFU_TEST_DATABASE_URL is not set")
    return ["sqlite", pytest.param("postgresql", marks=pg_marks)]


@pytest.fixture(params=_backend_params())
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    overrides: dict[str, Any] = getattr(request, "param", {}) or {}
    marker = request.node.get_closest_marker("settings")
    if marker:
        overrides = {**marker.kwargs}
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copy(template, tmp_path / "kefu.db")
        return _base_settings(data_dir=tmp_path, **overrides)
    urls = request.getfixturevalue("pg_database")
    asyncio.run(pg_truncate_all(urls["superuser"]))
    request.node.user_properties.append(("backend", "postgresql"))
    return _base_settings(
        data_dir=tmp_path,
        database_url=urls["app"],
        database_owner_url=urls["owner"],
        database_app_role=APP_ROLE,
        **overrides,
    )


@pytest.fixture
def clock() -> VirtualClock:
    """Virtual time starting now: tests move it forward explicitly."""
    return VirtualClock(start=time.time())


@pytest.fixture
async def ctx(settings: Settings, clock: VirtualClock) -> AsyncIterator[Any]:
    from kefu.bootstrap import dispose_context

    context = build_context(settings, clock=clock)
    yield context
    await dispose_context(context)


@pytest.fixture
async def app(ctx: Any) -> AsyncIterator[Any]:
    from kefu.web.app import create_app

    application = create_app(ctx)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[Any]:
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c


@pytest.fixture
def world(ctx: Any, app: Any) -> Any:
    from support import World

    return World(ctx, app)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "settings(**kw): override Settings fields for this test")
