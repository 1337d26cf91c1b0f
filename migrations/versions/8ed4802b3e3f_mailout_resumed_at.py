"""Mail-outs remember their last start or resume.

A worker sends from a claim only while the mail-out has not been paused and
resumed since it claimed: otherwise the rest of an old claim would burst past
the throttle, which restarts with one token at resume. Mail-outs started before
this version take their start as their last one.

Revision ID: 8ed4802b3e3f
Revises: a38962fd3ac0
Create Date: 2026-11-29 16:31:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8ed4802b3e3f'
down_revision = 'a38962fd3ac0'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('mailouts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resumed_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE mailouts SET resumed_at = started_at")


def downgrade():
    with op.batch_alter_table('mailouts', schema=None) as batch_op:
        batch_op.drop_column('resumed_at')
