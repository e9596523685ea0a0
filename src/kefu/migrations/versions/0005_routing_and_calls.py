"""routing (skills, queues, agent profiles, policies, the event log) and calls (numbers, IVR flows, calls, recordings)

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
CALL_TABLES = ("ivr_flows", "tenant_numbers", "calls", "call_events", "recordings")


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
    # calls
    op.create_table('platform_numbers',
    sa.Column('number', sa.String(length=24), nullable=False),
    sa.Column('tenant_ref', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', kefu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kefu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_ref'], ['tenants.id'], name=op.f('fk_platform_numbers_tenant_ref_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_platform_numbers')),
    sa.UniqueConstraint('number', name=op.f('uq_platform_numbers_number'))
    )
    with op.batch_alter_table('platform_numbers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_platform_numbers_tenant_ref'), ['tenant_ref'], unique=False)

    op.create_table('ivr_flows',
    sa.Column('flow_key', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('is_current', sa.Boolean(), nullable=False),
    sa.Column('definition', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('created_at', kefu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_ivr_flows_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ivr_flows')),
    sa.UniqueConstraint('tenant_id', 'flow_key', 'version', name=op.f('uq_ivr_flows_tenant_id_flow_key_version'))
    )
    with op.batch_alter_table('ivr_flows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ivr_flows_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('ix_ivr_flows_tenant_name', ['tenant_id', 'name'], unique=False)

    op.create_table('tenant_numbers',
    sa.Column('number', sa.String(length=24), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.Column('flow_id', sa.Uuid(), nullable=True),
    sa.Column('outbound_caller_id', sa.Boolean(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', kefu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kefu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['flow_id'], ['ivr_flows.id'], name=op.f('fk_tenant_numbers_flow_id_ivr_flows'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_tenant_numbers_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenant_numbers')),
    sa.UniqueConstraint('tenant_id', 'number', name=op.f('uq_tenant_numbers_tenant_id_number'))
    )
    with op.batch_alter_table('tenant_numbers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tenant_numbers_tenant_id'), ['tenant_id'], unique=False)




    op.create_table('calls',
    sa.Column('pbx_call_id', sa.String(length=64), nullable=False),
    sa.Column('direction', sa.String(length=10), nullable=False),
    sa.Column('number_enc', sa.Text(), nullable=True),
    sa.Column('number_index', sa.String(length=64), nullable=True),
    sa.Column('number_masked', sa.String(length=32), nullable=False),
    sa.Column('tenant_number', sa.String(length=24), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=True),
    sa.Column('queue_id', sa.Uuid(), nullable=True),
    sa.Column('agent_id', sa.Uuid(), nullable=True),
    sa.Column('customer_id', sa.Uuid(), nullable=True),
    sa.Column('started_at', kefu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('queued_at', kefu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('answered_at', kefu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_at', kefu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('wait_seconds', sa.Double(), nullable=True),
    sa.Column('talk_seconds', sa.Double(), nullable=True),
    sa.Column('hold_seconds', sa.Double(), nullable=False),
    sa.Column('ivr_path', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('wrap_up_code', sa.String(length=40), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('survey_score', sa.Integer(), nullable=True),
    sa.Column('survey_channel', sa.String(length=10), nullable=True),
    sa.Column('recording_id', sa.Uuid(), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_calls_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calls'))
    )
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calls_pbx_call_id'), ['pbx_call_id'], unique=False)
        batch_op.create_index('ix_calls_tenant_agent', ['tenant_id', 'agent_id', 'started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_calls_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('ix_calls_tenant_number', ['tenant_id', 'number_index', 'started_at'], unique=False)
        batch_op.create_index('ix_calls_tenant_started', ['tenant_id', 'started_at'], unique=False)

    op.create_table('call_events',
    sa.Column('call_id', sa.Uuid(), nullable=False),
    sa.Column('at', kefu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('agent_id', sa.Uuid(), nullable=True),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_call_events_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_events'))
    )
    with op.batch_alter_table('call_events', schema=None) as batch_op:
        batch_op.create_index('ix_call_events_call', ['tenant_id', 'call_id', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_events_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('recordings',
    sa.Column('call_id', sa.Uuid(), nullable=False),
    sa.Column('pbx_recording_id', sa.String(length=64), nullable=False),
    sa.Column('storage_key', sa.String(length=300), nullable=True),
    sa.Column('started_at', kefu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('duration_s', sa.Double(), nullable=True),
    sa.Column('size_bytes', sa.Integer(), nullable=True),
    sa.Column('channels', sa.Integer(), nullable=False),
    sa.Column('sample_rate', sa.Integer(), nullable=False),
    sa.Column('encoding', sa.String(length=16), nullable=False),
    sa.Column('paused_intervals', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_recordings_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recordings'))
    )
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.create_index('ix_recordings_call', ['tenant_id', 'call_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_recordings_tenant_id'), ['tenant_id'], unique=False)
    enable_tenant_rls(*CALL_TABLES)


def downgrade() -> None:
    disable_tenant_rls(*CALL_TABLES)
    for table in reversed(("platform_numbers", *CALL_TABLES)):
        op.drop_table(table)
    disable_tenant_rls(*TABLES)
    for table in reversed(TABLES):
        op.drop_table(table)
