"""messaging: SMS outbox and inbound messages

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 16:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import kefu.core.db
from kefu.migrations.helpers import disable_tenant_rls, enable_tenant_rls

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sms_outbox",
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("to_number_enc", sa.Text(), nullable=False),
        sa.Column("to_number_index", sa.String(length=64), nullable=False),
        sa.Column("to_number_masked", sa.String(length=32), nullable=False),
        sa.Column("body_enc", sa.Text(), nullable=False),
        sa.Column("sender_id", sa.String(length=20), nullable=False),
        sa.Column("reference_type", sa.String(length=40), nullable=True),
        sa.Column("reference_id", sa.String(length=64), nullable=True),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("expects_reply", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", kefu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=80), nullable=True),
        sa.Column("lease_expires_at", kefu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("fence", sa.BigInteger(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=True),
        sa.Column("provider_message_id", sa.String(length=100), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column(
            "history", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("created_at", kefu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", kefu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", kefu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", kefu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_sms_outbox_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_outbox")),
        sa.UniqueConstraint("tenant_id", "dedupe_key", name=op.f("uq_sms_outbox_tenant_id_dedupe_key")),
    )
    with op.batch_alter_table("sms_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_sms_outbox_due", ["tenant_id", "next_attempt_at"], unique=False)
        batch_op.create_index("ix_sms_outbox_number", ["tenant_id", "to_number_index", "created_at"], unique=False)
        batch_op.create_index("ix_sms_outbox_provider_id", ["tenant_id", "provider_message_id"], unique=False)
        batch_op.create_index("ix_sms_outbox_reference", ["tenant_id", "reference_type", "reference_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sms_outbox_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "sms_inbound",
        sa.Column("from_number_enc", sa.Text(), nullable=False),
        sa.Column("from_number_index", sa.String(length=64), nullable=False),
        sa.Column("from_number_masked", sa.String(length=32), nullable=False),
        sa.Column("body_enc", sa.Text(), nullable=True),
        sa.Column("provider_message_id", sa.String(length=100), nullable=True),
        sa.Column("matched_message_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("handler_error", sa.String(length=500), nullable=True),
        sa.Column("received_at", kefu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["matched_message_id"],
            ["sms_outbox.id"],
            name=op.f("fk_sms_inbound_matched_message_id_sms_outbox"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_sms_inbound_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_inbound")),
        sa.UniqueConstraint(
            "tenant_id", "provider_message_id", name=op.f("uq_sms_inbound_tenant_id_provider_message_id")
        ),
    )
    with op.batch_alter_table("sms_inbound", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sms_inbound_matched_message_id"), ["matched_message_id"], unique=False)
        batch_op.create_index("ix_sms_inbound_number", ["tenant_id", "from_number_index", "received_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_sms_inbound_tenant_id"), ["tenant_id"], unique=False)

    enable_tenant_rls("sms_outbox", "sms_inbound")


def downgrade() -> None:
    disable_tenant_rls("sms_inbound", "sms_outbox")
    with op.batch_alter_table("sms_inbound", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sms_inbound_tenant_id"))
        batch_op.drop_index("ix_sms_inbound_number")
        batch_op.drop_index(batch_op.f("ix_sms_inbound_matched_message_id"))

    op.drop_table("sms_inbound")
    with op.batch_alter_table("sms_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sms_outbox_tenant_id"))
        batch_op.drop_index("ix_sms_outbox_reference")
        batch_op.drop_index("ix_sms_outbox_provider_id")
        batch_op.drop_index("ix_sms_outbox_number")
        batch_op.drop_index("ix_sms_outbox_due")

    op.drop_table("sms_outbox")
