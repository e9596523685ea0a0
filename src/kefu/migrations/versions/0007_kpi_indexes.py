"""KPI indexes: index-only probes of an order's department (answers and breaches by department) and a partial
index of hand-off events

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 19:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HANDOFF = "from_department_id IS NOT NULL AND from_department_id <> to_department_id"


def upgrade() -> None:
    with op.batch_alter_table("work_orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_work_orders_tenant_id_department",
            ["tenant_id", "id"],
            unique=False,
            postgresql_include=["kind", "department_id"],
        )
    with op.batch_alter_table("work_order_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_work_order_events_tenant_handoffs",
            ["tenant_id", "occurred_at"],
            unique=False,
            postgresql_include=["action", "to_department_id", "order_id"],
            postgresql_where=sa.text(HANDOFF),
            sqlite_where=sa.text(HANDOFF),
        )


def downgrade() -> None:
    with op.batch_alter_table("work_order_events", schema=None) as batch_op:
        batch_op.drop_index("ix_work_order_events_tenant_handoffs")
    with op.batch_alter_table("work_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_work_orders_tenant_id_department")
