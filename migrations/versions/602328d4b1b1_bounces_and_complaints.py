"""Bounces and complaints: what the reports said of each delivery, counted per mail-out.

``deliveries.reported`` is the gravest report that came back for a delivery
(soft, hard, complaint; NULL: none), ``mailouts.bounced_count`` and
``complained_count`` count them for the rates that pause a mail-out. Existing
rows start with no report and zero counts. Suppressions gain two reasons,
``bounced`` and ``complained`` (a VARCHAR without constraint: no change); a
downgrade keeps those suppressions as ``deleted``.

Revision ID: 602328d4b1b1
Revises: 9b1e5d3c7a20
Create Date: 2026-11-29 17:56:05.523537

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '602328d4b1b1'
down_revision = '9b1e5d3c7a20'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reported', sa.Enum('soft', 'hard', 'complaint', name='reportkind', native_enum=False, length=20), nullable=True))

    with op.batch_alter_table('mailouts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bounced_count', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('complained_count', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    # The older code knows no such reasons; the addresses stay suppressed all the same.
    op.execute("UPDATE suppressions SET reason = 'deleted' WHERE reason IN ('bounced', 'complained')")
    with op.batch_alter_table('mailouts', schema=None) as batch_op:
        batch_op.drop_column('complained_count')
        batch_op.drop_column('bounced_count')

    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('reported')
