"""access log (every read of customer data, hash-chained per actor) and tenant PII key salts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 16:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import kefu.core.db
from kefu.migrations.helpers import disable_tenant_rls, drop_append_only, enable_tenant_rls, make_append_only

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "access_chain_heads",
        sa.Column("chain_key", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.Column("updated_at", kefu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_access_chain_heads_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_chain_heads")),
        sa.UniqueConstraint("tenant_id", "chain_key", name=op.f("uq_access_chain_heads_tenant_id_chain_key")),
    )
    with op.batch_alter_table("access_chain_heads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_chain_heads_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "access_log",
        sa.Column("chain_key", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", kefu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_type", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_name", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("resource_type", sa.String(length=40), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=True),
        sa.Column(
            "details", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("justification_type", sa.String(length=40), nullable=True),
        sa.Column("justification_id", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_access_log_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_log")),
        sa.UniqueConstraint("tenant_id", "chain_key", "seq", name=op.f("uq_access_log_tenant_id_chain_key_seq")),
    )
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.create_index("ix_access_log_tenant_actor_at", ["tenant_id", "actor_id", "occurred_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_access_log_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(
            "ix_access_log_tenant_resource", ["tenant_id", "resource_type", "resource_id"], unique=False
        )
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pii_key_salt", sa.String(length=64), nullable=True))
    enable_tenant_rls("access_log", "access_chain_heads")
    make_append_only("access_log")


def downgrade() -> None:
    drop_append_only("access_log")
    disable_tenant_rls("access_log", "access_chain_heads")
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("pii_key_salt")
    op.drop_table("access_log")
    op.drop_table("access_chain_heads")
