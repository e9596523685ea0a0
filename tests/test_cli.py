"""The `kefu` command: version, migrations, tenants, users, operators and the demo seed."""

from __future__ import annotations

import asyncio

from typer.testing import CliRunner

from kefu import __version__
from kefu.bootstrap import build_context, dispose_context
from kefu.cli.main import app as cli
from kefu.core.db import bind_tenant
from kefu.demo import DEMO_PASSWORD, seed_demo
from kefu.settings import Settings

runner = CliRunner()


def _env(settings: Settings) -> dict[str, str]:
    env = {
        "KEFU_DATA_DIR": str(settings.data_dir),
        "KEFU_SECRET_KEY": "cli-test-secret-0123456789-abcdefghijk",
        "KEFU_PASSWORD_HASH_MEMORY_KIB": "64",
        "KEFU_PASSWORD_HASH_TIME_COST": "1",
    }
    if settings.database_url:
        env["KEFU_DATABASE_URL"] = settings.database_url
        env["KEFU_DATABASE_OWNER_URL"] = settings.database_owner_url or settings.database_url
        env["KEFU_DATABASE_APP_ROLE"] = settings.database_app_role
    return env


def test_version():
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"kefu {__version__}"


def test_db_upgrade_on_an_empty_embedded_database(tmp_path):
    env = {"KEFU_DATA_DIR": str(tmp_path / "fresh"), "KEFU_SECRET_KEY": "x" * 40}
    result = runner.invoke(cli, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    assert "empty →" in result.output
    result = runner.invoke(cli, ["db", "current"], env=env)
    assert "current: 0001" in result.output or "current: " in result.output
    result = runner.invoke(cli, ["db", "upgrade"], env=env)  # idempotent
    assert result.exit_code == 0


def test_tenant_and_user_creation(settings):
    env = _env(settings)
    result = runner.invoke(
        cli,
        ["tenant", "create", "acme", "--name", "Acme 电信", "--admin-username", "boss", "--password-stdin"],
        input="a long admin phrase\n",
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert "Created organisation acme" in result.output and "/t/acme/login" in result.output
    result = runner.invoke(cli, ["tenant", "create", "acme", "--name", "Again"], env=env)
    assert result.exit_code == 1 and "already exists" in result.output
    result = runner.invoke(cli, ["tenant", "create", "Bad Slug!", "--name", "x"], env=env)
    assert result.exit_code == 1 and "slug" in result.output.lower()

    result = runner.invoke(
        cli,
        [
            "user",
            "create",
            "lina",
            "--tenant",
            "acme",
            "--role",
            "agent",
            "--role",
            "supervisor",
            "--name",
            "李娜",
            "--password-stdin",
        ],
        input="another long phrase\n",
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert "roles agent, supervisor" in result.output
    result = runner.invoke(
        cli,
        ["user", "create", "x1x", "--tenant", "acme", "--role", "wizard", "--password-stdin"],
        input="another long phrase\n",
        env=env,
    )
    assert result.exit_code == 1 and "unknown role" in result.output
    result = runner.invoke(
        cli,
        ["user", "create", "x1x", "--tenant", "nowhere", "--role", "agent", "--password-stdin"],
        input="another long phrase\n",
        env=env,
    )
    assert result.exit_code == 1 and "No organisation" in result.output
    result = runner.invoke(cli, ["number", "assign", "4008123456", "--tenant", "acme", "--kind", "400"], env=env)
    assert result.exit_code == 0 and "Assigned +864008123456 (400) to acme" in result.output, result.output
    result = runner.invoke(cli, ["number", "assign", "4008123456", "--tenant", "acme"], env=env)
    assert result.exit_code == 1 and "already assigned" in result.output
    result = runner.invoke(cli, ["number", "assign", "12", "--tenant", "acme"], env=env)
    assert result.exit_code == 1 and "not a phone number" in result.output
    result = runner.invoke(cli, ["operator", "create", "ops", "--password-stdin"], input="operator phrase 1\n", env=env)
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["audit", "verify"], env=env)
    assert result.exit_code == 0, result.output
    assert "tenant acme: " in result.output and "platform: " in result.output


def test_bad_configuration_is_reported_without_a_traceback(tmp_path):
    result = runner.invoke(cli, ["db", "current"], env={"KEFU_LISTEN": "nonsense", "KEFU_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 2
    assert "Configuration error" in result.output and "KEFU_LISTEN" in result.output


def test_demo_seed_is_idempotent_and_its_logins_work(settings):
    async def seed_twice() -> tuple:
        ctx = build_context(settings)
        try:
            first = await seed_demo(ctx)
            second = await seed_demo(ctx)
            from kefu.tenancy.actions import do_login
            from kefu.tenancy.queries import tenant_by_slug

            async with ctx.session_factory() as s:
                tenant = await tenant_by_slug(s, "demo")
                await bind_tenant(s, tenant.id)
                signin = await do_login(
                    s,
                    tenant,
                    username="agent1",
                    password=DEMO_PASSWORD,
                    totp_code=None,
                    ip="127.0.0.1",
                    user_agent="test",
                )
                await s.commit()
            return first, second, signin.user.display_name
        finally:
            await dispose_context(ctx)

    first, second, name = asyncio.run(seed_twice())
    assert first.created and not second.created
    assert {u for u, _r, _p in first.logins} >= {"admin", "banzhang", "agent1", "wangluo", "shenji"}
    assert len(name) >= 2  # a Chinese name from the fake-data library
