"""routing: skills, queues, agent profiles, routing policies and the routing event log

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 16:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import kefu.core.db
from kefu.migrations.helpers import disable_tenant_rls, enable_tenant_rls

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("skills", "queues", "agent_profiles", "routing_policies", "routing_events")


def upgrade() -> None:
    op.create_table('queues',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('config', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', kefu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kefu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_queues_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_queues')),
    sa.UniqueConstraint('tenant_id', 'name', name=op.f('uq_queues_tenant_id_name'))
    )
    with op.batch_alter_table('queues', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_queues_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('routing_events',
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('at', kefu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('task_id', sa.String(length=64), nullable=True),
    sa.Column('agent_id', sa.String(length=64), nullable=True),
    sa.Column('queue_id', sa.String(length=64), nullable=True),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_routing_events_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_routing_events')),
    sa.UniqueConstraint('tenant_id', 'seq', name=op.f('uq_routing_events_tenant_id_seq'))
    )
    with op.batch_alter_table('routing_events', schema=None) as batch_op:
        batch_op.create_index('ix_routing_events_tenant_at', ['tenant_id', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_routing_events_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('ix_routing_events_tenant_task', ['tenant_id', 'task_id'], unique=False)

    op.create_table('routing_policies',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('definition', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', kefu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kefu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_routing_policies_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_routing_policies')),
    sa.UniqueConstraint('tenant_id', 'name', name=op.f('uq_routing_policies_tenant_id_name'))
    )
    with op.batch_alter_table('routing_policies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_routing_policies_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('skills',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('description', sa.String(length=200), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', kefu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kefu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_skills_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_skills')),
    sa.UniqueConstraint('tenant_id', 'name', name=op.f('uq_skills_tenant_id_name'))
    )
    with op.batch_alter_table('skills', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_skills_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('agent_profiles',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('skills', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('capacity', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', kefu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kefu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_agent_profiles_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_agent_profiles_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_profiles')),
    sa.UniqueConstraint('tenant_id', 'user_id', name=op.f('uq_agent_profiles_tenant_id_user_id'))
    )
    with op.batch_alter_table('agent_profiles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agent_profiles_tenant_id'), ['tenant_id'], unique=False)
    enable_tenant_rls(*TABLES)


def downgrade() -> None:
    disable_tenant_rls(*TABLES)
    for table in reversed(TABLES):
        op.drop_table(table)
