"""The migrations produce exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import kefu.models  # noqa: F401
from kefu import migrations
from kefu.core.db import Base, make_engine


async def test_models_and_migrations_agree(settings):
    engine = make_engine(settings.resolved_owner_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata))
            revision = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
    finally:
        await engine.dispose()
    assert diff == [], f"models differ from migrations: {diff}"
    assert revision == migrations.head_revision()
