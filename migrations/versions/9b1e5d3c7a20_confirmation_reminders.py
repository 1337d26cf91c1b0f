"""Signatures and subscriptions remember their one reminder to confirm.

Rows already sent an email before this version count as reminded: a reminder
weeks after signing, in a burst at the upgrade, would surprise more than help.

Revision ID: 9b1e5d3c7a20
Revises: c4d792a47598
Create Date: 2026-11-29 18:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9b1e5d3c7a20'
down_revision = 'c4d792a47598'
branch_labels = None
depends_on = None


def upgrade():
    for table in ('signatures', 'subscriptions'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('reminded_at', sa.DateTime(timezone=True), nullable=True))
        op.execute(f"UPDATE {table} SET reminded_at = confirmation_sent_at "
                   "WHERE confirmation_sent_at IS NOT NULL")


def downgrade():
    for table in ('subscriptions', 'signatures'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('reminded_at')
