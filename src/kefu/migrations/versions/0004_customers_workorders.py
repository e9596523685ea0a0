"""customers (encrypted PII, blind indexes, areas) and complaint work orders (history, SLA, refunds, KPIs)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 16:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import kefu.core.db
from kefu.migrations.helpers import disable_tenant_rls, drop_append_only, enable_tenant_rls, make_append_only

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = (
    "areas",
    "authority_policies",
    "billing_credit_notes",
    "business_calendars",
    "refund_budgets",
    "work_order_categories",
    "work_order_counters",
    "customers",
    "dispatch_rules",
    "sla_policies",
    "work_order_config",
    "customer_phones",
    "work_orders",
    "complaint_events",
    "refund_decisions",
    "sla_events",
    "work_order_attachments",
    "work_order_events",
    "work_order_follow_ups",
    "work_order_links",
)
#: History, SLA breaches and the complaint outbox are permanent.
APPEND_ONLY = ("work_order_events", "sla_events", "complaint_events")


def upgrade() -> None:
    op.create_table(
        "areas",
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=True),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["areas.id"], name=op.f("fk_areas_parent_id_areas"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_areas_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_areas")),
        sa.UniqueConstraint("tenant_id", "path", name=op.f("uq_areas_tenant_id_path")),
    )
    with op.batch_alter_table("areas", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_areas_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_areas_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "authority_policies",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column(
            "conditions", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_authority_policies_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authority_policies")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_authority_policies_tenant_id_name")),
    )
    with op.batch_alter_table("authority_policies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_authority_policies_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "billing_credit_notes",
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("reference_type", sa.String(length=40), nullable=True),
        sa.Column("reference_id", sa.String(length=64), nullable=True),
        sa.Column("idempotency_key", sa.String(length=100), nullable=False),
        sa.Column("reverses_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", kefu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_billing_credit_notes_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_credit_notes")),
        sa.UniqueConstraint(
            "tenant_id", "idempotency_key", name=op.f("uq_billing_credit_notes_tenant_id_idempotency_key")
        ),
        sa.UniqueConstraint("tenant_id", "number", name=op.f("uq_billing_credit_notes_tenant_id_number")),
    )
    with op.batch_alter_table("billing_credit_notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_billing_credit_notes_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "business_calendars",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column(
            "week", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "holidays", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "workdays", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_business_calendars_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_business_calendars")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_business_calendars_tenant_id_name")),
    )
    with op.batch_alter_table("business_calendars", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_business_calendars_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "refund_budgets",
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("scope_id", sa.Uuid(), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("period_start", sa.String(length=10), nullable=False),
        sa.Column("spent_cents", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_refund_budgets_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refund_budgets")),
        sa.UniqueConstraint(
            "tenant_id",
            "scope",
            "scope_id",
            "period",
            "period_start",
            name=op.f("uq_refund_budgets_tenant_id_scope_scope_id_period_period_start"),
        ),
    )
    with op.batch_alter_table("refund_budgets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refund_budgets_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "work_order_categories",
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=True),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("path", sa.String(length=400), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["work_order_categories.id"],
            name=op.f("fk_work_order_categories_parent_id_work_order_categories"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_work_order_categories_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order_categories")),
        sa.UniqueConstraint("tenant_id", "path", name=op.f("uq_work_order_categories_tenant_id_path")),
    )
    with op.batch_alter_table("work_order_categories", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_work_order_categories_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_work_order_categories_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "work_order_counters",
        sa.Column("day", sa.String(length=8), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_work_order_counters_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order_counters")),
        sa.UniqueConstraint("tenant_id", "day", name=op.f("uq_work_order_counters_tenant_id_day")),
    )
    with op.batch_alter_table("work_order_counters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_work_order_counters_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "customers",
        sa.Column("name_enc", sa.Text(), nullable=True),
        sa.Column("name_masked", sa.String(length=60), nullable=False),
        sa.Column("id_number_enc", sa.Text(), nullable=True),
        sa.Column("id_number_index", sa.String(length=64), nullable=True),
        sa.Column("id_number_masked", sa.String(length=40), nullable=False),
        sa.Column("address_enc", sa.Text(), nullable=True),
        sa.Column("address_masked", sa.String(length=60), nullable=False),
        sa.Column("area_id", sa.Uuid(), nullable=True),
        sa.Column("plan", sa.String(length=100), nullable=False),
        sa.Column("star_level", sa.SmallInteger(), nullable=False),
        sa.Column("credit_rating", sa.String(length=8), nullable=False),
        sa.Column("vip", sa.Boolean(), nullable=False),
        sa.Column("customer_since", kefu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", kefu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", kefu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"], ["areas.id"], name=op.f("fk_customers_area_id_areas"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_customers_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customers_area_id"), ["area_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_customers_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_customers_tenant_id_number", ["tenant_id", "id_number_index"], unique=False)

    op.create_table(
        "dispatch_rules",
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("category_id", sa.Uuid(), nullable=True),
        sa.Column("area_id", sa.Uuid(), nullable=True),
        sa.Column("department_id", sa.Uuid(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"], ["areas.id"], name=op.f("fk_dispatch_rules_area_id_areas"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["work_order_categories.id"],
            name=op.f("fk_dispatch_rules_category_id_work_order_categories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_dispatch_rules_department_id_departments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_dispatch_rules_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_rules")),
    )
    with op.batch_alter_table("dispatch_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dispatch_rules_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "sla_policies",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column(
            "conditions", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("response_minutes", sa.Integer(), nullable=False),
        sa.Column("resolution_minutes", sa.Integer(), nullable=False),
        sa.Column("calendar_id", sa.Uuid(), nullable=True),
        sa.Column("warn_ratio", sa.Float(), nullable=False),
        sa.Column(
            "escalations", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("updated_at", kefu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["calendar_id"],
            ["business_calendars.id"],
            name=op.f("fk_sla_policies_calendar_id_business_calendars"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_sla_policies_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_policies")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_sla_policies_tenant_id_name")),
    )
    with op.batch_alter_table("sla_policies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sla_policies_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "work_order_config",
        sa.Column("number_prefix", sa.String(length=8), nullable=False),
        sa.Column("repeat_window_days", sa.Integer(), nullable=False),
        sa.Column("outer_limit_days", sa.Integer(), nullable=False),
        sa.Column("fallback_department_id", sa.Uuid(), nullable=True),
        sa.Column("verification_department_id", sa.Uuid(), nullable=True),
        sa.Column("follow_up_channel", sa.String(length=8), nullable=False),
        sa.Column("authority_default", sa.String(length=16), nullable=False),
        sa.Column("agent_daily_budget_cents", sa.BigInteger(), nullable=True),
        sa.Column("agent_monthly_budget_cents", sa.BigInteger(), nullable=True),
        sa.Column("team_daily_budget_cents", sa.BigInteger(), nullable=True),
        sa.Column("team_monthly_budget_cents", sa.BigInteger(), nullable=True),
        sa.Column("day_start_hour", sa.SmallInteger(), nullable=False),
        sa.Column("day_end_hour", sa.SmallInteger(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["fallback_department_id"],
            ["departments.id"],
            name=op.f("fk_work_order_config_fallback_department_id_departments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_work_order_config_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["verification_department_id"],
            ["departments.id"],
            name=op.f("fk_work_order_config_verification_department_id_departments"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order_config")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_work_order_config_tenant_id")),
    )
    with op.batch_alter_table("work_order_config", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_work_order_config_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "customer_phones",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("phone_enc", sa.Text(), nullable=False),
        sa.Column("phone_index", sa.String(length=64), nullable=False),
        sa.Column("phone_masked", sa.String(length=32), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_customer_phones_customer_id_customers"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_customer_phones_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_phones")),
        sa.UniqueConstraint("tenant_id", "phone_index", name=op.f("uq_customer_phones_tenant_id_phone_index")),
    )
    with op.batch_alter_table("customer_phones", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customer_phones_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_customer_phones_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "work_orders",
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("master_id", sa.Uuid(), nullable=True),
        sa.Column("merged_into_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category_id", sa.Uuid(), nullable=True),
        sa.Column("category_path", sa.String(length=400), nullable=False),
        sa.Column("problem_class", sa.String(length=400), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("source_call_id", sa.Uuid(), nullable=True),
        sa.Column("caller_index", sa.String(length=64), nullable=True),
        sa.Column("caller_masked", sa.String(length=32), nullable=False),
        sa.Column("area_id", sa.Uuid(), nullable=True),
        sa.Column("area_path", sa.String(length=500), nullable=False),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column("assignee_id", sa.Uuid(), nullable=True),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("vip", sa.Boolean(), nullable=False),
        sa.Column("threatens_escalation", sa.Boolean(), nullable=False),
        sa.Column("is_repeat", sa.Boolean(), nullable=False),
        sa.Column("repeat_of_id", sa.Uuid(), nullable=True),
        sa.Column("intercepted", sa.Boolean(), nullable=False),
        sa.Column("resolution", sa.String(length=20), nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("satisfaction", sa.String(length=20), nullable=True),
        sa.Column("sla_policy_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", kefu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", kefu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("responded_at", kefu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("replied_at", kefu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("archived_at", kefu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("response_due_at", kefu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolution_due_at", kefu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outer_due_at", kefu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("next_deadline_at", kefu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "sla_flags", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("handling_seconds", sa.BigInteger(), nullable=True),
        sa.Column("handling_day_seconds", sa.BigInteger(), nullable=True),
        sa.Column("paused_seconds", sa.BigInteger(), nullable=False),
        sa.Column("handoffs", sa.Integer(), nullable=False),
        sa.Column("on_time", sa.Boolean(), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"], ["areas.id"], name=op.f("fk_work_orders_area_id_areas"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["users.id"], name=op.f("fk_work_orders_assignee_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["work_order_categories.id"],
            name=op.f("fk_work_orders_category_id_work_order_categories"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_work_orders_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_work_orders_customer_id_customers"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_work_orders_department_id_departments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["master_id"], ["work_orders.id"], name=op.f("fk_work_orders_master_id_work_orders"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["merged_into_id"],
            ["work_orders.id"],
            name=op.f("fk_work_orders_merged_into_id_work_orders"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["work_orders.id"], name=op.f("fk_work_orders_parent_id_work_orders"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["repeat_of_id"],
            ["work_orders.id"],
            name=op.f("fk_work_orders_repeat_of_id_work_orders"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["sla_policy_id"],
            ["sla_policies.id"],
            name=op.f("fk_work_orders_sla_policy_id_sla_policies"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_work_orders_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_orders")),
        sa.UniqueConstraint("tenant_id", "number", name=op.f("uq_work_orders_tenant_id_number")),
    )
    with op.batch_alter_table("work_orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_work_orders_tenant_archived",
            ["tenant_id", "archived_at"],
            unique=False,
            postgresql_include=[
                "kind", "on_time", "handling_seconds", "handling_day_seconds", "handoffs", "department_id"
            ],
        )
        batch_op.create_index(
            "ix_work_orders_tenant_caller_created", ["tenant_id", "caller_index", "created_at"], unique=False
        )
        batch_op.create_index("ix_work_orders_tenant_category_id", ["tenant_id", "category_id", "id"], unique=False)
        batch_op.create_index(
            "ix_work_orders_tenant_created",
            ["tenant_id", "created_at"],
            unique=False,
            postgresql_include=[
                "kind", "status", "intercepted", "resolution", "is_repeat", "threatens_escalation", "department_id"
            ],
        )
        batch_op.create_index("ix_work_orders_tenant_customer", ["tenant_id", "customer_id"], unique=False)
        batch_op.create_index(
            "ix_work_orders_tenant_department_status_id", ["tenant_id", "department_id", "status", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_work_orders_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_work_orders_tenant_master", ["tenant_id", "master_id"], unique=False)
        batch_op.create_index("ix_work_orders_tenant_next_deadline", ["tenant_id", "next_deadline_at"], unique=False)
        batch_op.create_index("ix_work_orders_tenant_parent", ["tenant_id", "parent_id"], unique=False)
        batch_op.create_index("ix_work_orders_tenant_status_id", ["tenant_id", "status", "id"], unique=False)

    op.create_table(
        "complaint_events",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", kefu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("area_path", sa.String(length=500), nullable=False),
        sa.Column("category_path", sa.String(length=400), nullable=False),
        sa.Column("caller_index", sa.String(length=64), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["work_orders.id"], name=op.f("fk_complaint_events_order_id_work_orders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_complaint_events_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint_events")),
    )
    with op.batch_alter_table("complaint_events", schema=None) as batch_op:
        batch_op.create_index("ix_complaint_events_tenant_at", ["tenant_id", "occurred_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_complaint_events_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "refund_decisions",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("agent_name", sa.String(length=100), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("charge_type", sa.String(length=40), nullable=False),
        sa.Column("charged_at", kefu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("rule_id", sa.Uuid(), nullable=True),
        sa.Column("rule_name", sa.String(length=100), nullable=False),
        sa.Column(
            "explanation", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("credit_note_id", sa.Uuid(), nullable=True),
        sa.Column("verification_order_id", sa.Uuid(), nullable=True),
        sa.Column("decided_at", kefu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("approver_id", sa.Uuid(), nullable=True),
        sa.Column("approved_at", kefu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_refund_decisions_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["work_orders.id"], name=op.f("fk_refund_decisions_order_id_work_orders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_refund_decisions_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refund_decisions")),
    )
    with op.batch_alter_table("refund_decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refund_decisions_order_id"), ["order_id"], unique=False)
        batch_op.create_index(
            "ix_refund_decisions_tenant_customer_at", ["tenant_id", "customer_id", "decided_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_refund_decisions_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "sla_events",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("target", sa.String(length=12), nullable=False),
        sa.Column("due_at", kefu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("occurred_at", kefu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("policy_id", sa.Uuid(), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["work_orders.id"], name=op.f("fk_sla_events_order_id_work_orders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_sla_events_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_events")),
        sa.UniqueConstraint(
            "tenant_id", "order_id", "kind", "target", name=op.f("uq_sla_events_tenant_id_order_id_kind_target")
        ),
    )
    with op.batch_alter_table("sla_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sla_events_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_sla_events_tenant_kind_at", ["tenant_id", "kind", "occurred_at"], unique=False)

    op.create_table(
        "work_order_attachments",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", kefu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["work_orders.id"],
            name=op.f("fk_work_order_attachments_order_id_work_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_work_order_attachments_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order_attachments")),
    )
    with op.batch_alter_table("work_order_attachments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_work_order_attachments_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_work_order_attachments_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "work_order_events",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", kefu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_type", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_name", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=True),
        sa.Column("from_department_id", sa.Uuid(), nullable=True),
        sa.Column("to_department_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column(
            "details", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["work_orders.id"], name=op.f("fk_work_order_events_order_id_work_orders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_work_order_events_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order_events")),
    )
    with op.batch_alter_table("work_order_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_work_order_events_tenant_action_at", ["tenant_id", "action", "occurred_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_work_order_events_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(
            "ix_work_order_events_tenant_order", ["tenant_id", "order_id", "occurred_at"], unique=False
        )

    op.create_table(
        "work_order_follow_ups",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("sent_at", kefu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("answered_at", kefu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("answer", sa.String(length=20), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("sms_message_id", sa.Uuid(), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["work_orders.id"],
            name=op.f("fk_work_order_follow_ups_order_id_work_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_work_order_follow_ups_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order_follow_ups")),
    )
    with op.batch_alter_table("work_order_follow_ups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_work_order_follow_ups_order_id"), ["order_id"], unique=False)
        batch_op.create_index("ix_work_order_follow_ups_tenant_answered", ["tenant_id", "answered_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_work_order_follow_ups_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "work_order_links",
        sa.Column("from_id", sa.Uuid(), nullable=False),
        sa.Column("to_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", kefu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["from_id"], ["work_orders.id"], name=op.f("fk_work_order_links_from_id_work_orders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_work_order_links_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["to_id"], ["work_orders.id"], name=op.f("fk_work_order_links_to_id_work_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order_links")),
        sa.UniqueConstraint(
            "tenant_id", "from_id", "to_id", "kind", name=op.f("uq_work_order_links_tenant_id_from_id_to_id_kind")
        ),
    )
    with op.batch_alter_table("work_order_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_work_order_links_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_work_order_links_tenant_to", ["tenant_id", "to_id"], unique=False)

    enable_tenant_rls(*TENANT_TABLES)
    for table in APPEND_ONLY:
        make_append_only(table)


def downgrade() -> None:
    for table in APPEND_ONLY:
        drop_append_only(table)
    disable_tenant_rls(*TENANT_TABLES)
    with op.batch_alter_table("work_order_links", schema=None) as batch_op:
        batch_op.drop_index("ix_work_order_links_tenant_to")
        batch_op.drop_index(batch_op.f("ix_work_order_links_tenant_id"))

    op.drop_table("work_order_links")
    with op.batch_alter_table("work_order_follow_ups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_work_order_follow_ups_tenant_id"))
        batch_op.drop_index("ix_work_order_follow_ups_tenant_answered")
        batch_op.drop_index(batch_op.f("ix_work_order_follow_ups_order_id"))

    op.drop_table("work_order_follow_ups")
    with op.batch_alter_table("work_order_events", schema=None) as batch_op:
        batch_op.drop_index("ix_work_order_events_tenant_order")
        batch_op.drop_index(batch_op.f("ix_work_order_events_tenant_id"))
        batch_op.drop_index("ix_work_order_events_tenant_action_at")

    op.drop_table("work_order_events")
    with op.batch_alter_table("work_order_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_work_order_attachments_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_work_order_attachments_order_id"))

    op.drop_table("work_order_attachments")
    with op.batch_alter_table("sla_events", schema=None) as batch_op:
        batch_op.drop_index("ix_sla_events_tenant_kind_at")
        batch_op.drop_index(batch_op.f("ix_sla_events_tenant_id"))

    op.drop_table("sla_events")
    with op.batch_alter_table("refund_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refund_decisions_tenant_id"))
        batch_op.drop_index("ix_refund_decisions_tenant_customer_at")
        batch_op.drop_index(batch_op.f("ix_refund_decisions_order_id"))

    op.drop_table("refund_decisions")
    with op.batch_alter_table("complaint_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_complaint_events_tenant_id"))
        batch_op.drop_index("ix_complaint_events_tenant_at")

    op.drop_table("complaint_events")
    with op.batch_alter_table("work_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_work_orders_tenant_status_id")
        batch_op.drop_index("ix_work_orders_tenant_parent")
        batch_op.drop_index("ix_work_orders_tenant_next_deadline")
        batch_op.drop_index("ix_work_orders_tenant_master")
        batch_op.drop_index(batch_op.f("ix_work_orders_tenant_id"))
        batch_op.drop_index("ix_work_orders_tenant_department_status_id")
        batch_op.drop_index("ix_work_orders_tenant_customer")
        batch_op.drop_index("ix_work_orders_tenant_created")
        batch_op.drop_index("ix_work_orders_tenant_category_id")
        batch_op.drop_index("ix_work_orders_tenant_caller_created")
        batch_op.drop_index("ix_work_orders_tenant_archived")

    op.drop_table("work_orders")
    with op.batch_alter_table("customer_phones", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_phones_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_customer_phones_customer_id"))

    op.drop_table("customer_phones")
    with op.batch_alter_table("work_order_config", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_work_order_config_tenant_id"))

    op.drop_table("work_order_config")
    with op.batch_alter_table("sla_policies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sla_policies_tenant_id"))

    op.drop_table("sla_policies")
    with op.batch_alter_table("dispatch_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dispatch_rules_tenant_id"))

    op.drop_table("dispatch_rules")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index("ix_customers_tenant_id_number")
        batch_op.drop_index(batch_op.f("ix_customers_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_customers_area_id"))

    op.drop_table("customers")
    with op.batch_alter_table("work_order_counters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_work_order_counters_tenant_id"))

    op.drop_table("work_order_counters")
    with op.batch_alter_table("work_order_categories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_work_order_categories_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_work_order_categories_parent_id"))

    op.drop_table("work_order_categories")
    with op.batch_alter_table("refund_budgets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refund_budgets_tenant_id"))

    op.drop_table("refund_budgets")
    with op.batch_alter_table("business_calendars", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_business_calendars_tenant_id"))

    op.drop_table("business_calendars")
    with op.batch_alter_table("billing_credit_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_billing_credit_notes_tenant_id"))

    op.drop_table("billing_credit_notes")
    with op.batch_alter_table("authority_policies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_authority_policies_tenant_id"))

    op.drop_table("authority_policies")
    with op.batch_alter_table("areas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_areas_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_areas_parent_id"))

    op.drop_table("areas")
