"""early warning and incidents: alerts, their timeline, the detector's state, incidents, subscribers, notices;
complaint events from calls wrapped up with a complaint code

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 17:59:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import kefu.core.db
from kefu.migrations.helpers import disable_tenant_rls, enable_tenant_rls

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


TABLES = (
    "alert_detector_states",
    "alerts",
    "alert_updates",
    "incidents",
    "incident_notices",
    "incident_subscribers",
)


def upgrade() -> None:
    op.create_table('alert_detector_states',
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('snapshot', sa.LargeBinary(), nullable=False),
    sa.Column('cursor_id', sa.Uuid(), nullable=True),
    sa.Column('events_read', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', kefu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_alert_detector_states_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_detector_states')),
    sa.UniqueConstraint('tenant_id', name=op.f('uq_alert_detector_states_tenant_id'))
    )
    with op.batch_alter_table('alert_detector_states', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_detector_states_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('alerts',
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('detector_id', sa.String(length=40), nullable=False),
    sa.Column('area_path', sa.String(length=500), nullable=False),
    sa.Column('category_path', sa.String(length=400), nullable=False),
    sa.Column('start_at', kefu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('detected_at', kefu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', kefu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('expected', sa.Float(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('window_seconds', sa.Float(), nullable=False),
    sa.Column('folded', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('closed_at', kefu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('incident_id', sa.Uuid(), nullable=True),
    sa.Column('updated_at', kefu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_alerts_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts')),
    sa.UniqueConstraint('tenant_id', 'generation', 'detector_id', name=op.f('uq_alerts_tenant_id_generation_detector_id'))
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index('ix_alerts_tenant_detected', ['tenant_id', 'detected_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('ix_alerts_tenant_status_detected', ['tenant_id', 'status', 'detected_at'], unique=False)

    op.create_table('alert_updates',
    sa.Column('alert_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('at', kefu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('expected', sa.Float(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('area_path', sa.String(length=500), nullable=False),
    sa.Column('category_path', sa.String(length=400), nullable=False),
    sa.Column('recorded_at', kefu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_alert_updates_alert_id_alerts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_alert_updates_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_updates'))
    )
    with op.batch_alter_table('alert_updates', schema=None) as batch_op:
        batch_op.create_index('ix_alert_updates_tenant_alert_at', ['tenant_id', 'alert_id', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_updates_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('incidents',
    sa.Column('alert_id', sa.Uuid(), nullable=False),
    sa.Column('master_order_id', sa.Uuid(), nullable=False),
    sa.Column('area_path', sa.String(length=500), nullable=False),
    sa.Column('category_path', sa.String(length=400), nullable=False),
    sa.Column('department_id', sa.Uuid(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('opened_how', sa.String(length=8), nullable=False),
    sa.Column('opened_by_id', sa.Uuid(), nullable=True),
    sa.Column('opened_by_name', sa.String(length=100), nullable=False),
    sa.Column('opened_at', kefu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolved_by_id', sa.Uuid(), nullable=True),
    sa.Column('resolved_by_name', sa.String(length=100), nullable=True),
    sa.Column('resolved_at', kefu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolution_note', sa.Text(), nullable=True),
    sa.Column('linked_orders', sa.Integer(), nullable=False),
    sa.Column('handoffs_saved', sa.Integer(), nullable=False),
    sa.Column('intercepted_calls', sa.Integer(), nullable=False),
    sa.Column('sms_sent', sa.Integer(), nullable=False),
    sa.Column('callbacks', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_incidents_alert_id_alerts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['master_order_id'], ['work_orders.id'], name=op.f('fk_incidents_master_order_id_work_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_incidents_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incidents')),
    sa.UniqueConstraint('tenant_id', 'alert_id', name=op.f('uq_incidents_tenant_id_alert_id'))
    )
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incidents_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('ix_incidents_tenant_master', ['tenant_id', 'master_order_id'], unique=False)
        batch_op.create_index('ix_incidents_tenant_status_opened', ['tenant_id', 'status', 'opened_at'], unique=False)

    op.create_table('incident_notices',
    sa.Column('incident_id', sa.Uuid(), nullable=False),
    sa.Column('order_id', sa.Uuid(), nullable=True),
    sa.Column('customer_id', sa.Uuid(), nullable=True),
    sa.Column('subscriber_id', sa.Uuid(), nullable=True),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('sms_message_id', sa.Uuid(), nullable=True),
    sa.Column('queue_id', sa.Uuid(), nullable=True),
    sa.Column('task_id', sa.String(length=64), nullable=True),
    sa.Column('call_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', kefu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kefu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_notices_incident_id_incidents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_incident_notices_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_notices'))
    )
    with op.batch_alter_table('incident_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incident_notices_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('ix_incident_notices_tenant_incident', ['tenant_id', 'incident_id'], unique=False)
        batch_op.create_index('ix_incident_notices_tenant_status', ['tenant_id', 'status'], unique=False)

    op.create_table('incident_subscribers',
    sa.Column('incident_id', sa.Uuid(), nullable=False),
    sa.Column('number_enc', sa.Text(), nullable=False),
    sa.Column('number_index', sa.String(length=64), nullable=False),
    sa.Column('number_masked', sa.String(length=32), nullable=False),
    sa.Column('call_id', sa.Uuid(), nullable=True),
    sa.Column('customer_id', sa.Uuid(), nullable=True),
    sa.Column('order_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', kefu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('notified_at', kefu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sms_message_id', sa.Uuid(), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_subscribers_incident_id_incidents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_incident_subscribers_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_subscribers')),
    sa.UniqueConstraint('tenant_id', 'incident_id', 'number_index', name=op.f('uq_incident_subscribers_tenant_id_incident_id_number_index'))
    )
    with op.batch_alter_table('incident_subscribers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incident_subscribers_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('ix_incident_subscribers_tenant_incident', ['tenant_id', 'incident_id', 'created_at'], unique=False)

    # Calls wrapped up with a complaint code are complaints too (no work order yet): order_id may be empty.
    with op.batch_alter_table('complaint_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('call_id', sa.Uuid(), nullable=True))
        batch_op.alter_column('order_id', existing_type=sa.Uuid(), nullable=True)
        batch_op.create_index('ix_complaint_events_tenant_call', ['tenant_id', 'call_id'], unique=False)

    enable_tenant_rls(*TABLES)


def downgrade() -> None:
    disable_tenant_rls(*TABLES)
    op.execute("DELETE FROM complaint_events WHERE order_id IS NULL")
    with op.batch_alter_table('complaint_events', schema=None) as batch_op:
        batch_op.drop_index('ix_complaint_events_tenant_call')
        batch_op.alter_column('order_id', existing_type=sa.Uuid(), nullable=False)
        batch_op.drop_column('call_id')
    with op.batch_alter_table('incident_subscribers', schema=None) as batch_op:
        batch_op.drop_index('ix_incident_subscribers_tenant_incident')
        batch_op.drop_index(batch_op.f('ix_incident_subscribers_tenant_id'))

    op.drop_table('incident_subscribers')
    with op.batch_alter_table('incident_notices', schema=None) as batch_op:
        batch_op.drop_index('ix_incident_notices_tenant_status')
        batch_op.drop_index('ix_incident_notices_tenant_incident')
        batch_op.drop_index(batch_op.f('ix_incident_notices_tenant_id'))

    op.drop_table('incident_notices')
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index('ix_incidents_tenant_status_opened')
        batch_op.drop_index('ix_incidents_tenant_master')
        batch_op.drop_index(batch_op.f('ix_incidents_tenant_id'))

    op.drop_table('incidents')
    with op.batch_alter_table('alert_updates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_updates_tenant_id'))
        batch_op.drop_index('ix_alert_updates_tenant_alert_at')

    op.drop_table('alert_updates')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_alerts_tenant_status_detected')
        batch_op.drop_index(batch_op.f('ix_alerts_tenant_id'))
        batch_op.drop_index('ix_alerts_tenant_detected')

    op.drop_table('alerts')
    with op.batch_alter_table('alert_detector_states', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_detector_states_tenant_id'))

    op.drop_table('alert_detector_states')
