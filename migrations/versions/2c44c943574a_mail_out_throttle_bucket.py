"""Mail-out throttle: a token bucket on the mail-out row.

Workers claiming batches of a mail-out spend tokens from ``throttle_tokens``,
refilled at ``rate_per_minute / 60`` per second since ``throttle_at``, under
the row's lock, so the rate holds across all workers together.
``throttle_at`` is also the last time any worker claimed work for the
mail-out (the periodic sweep re-queues mail-outs whose workers went quiet).

Revision ID: 2c44c943574a
Revises: c82233ef4a49
Create Date: 2026-11-24 20:17:02.713223

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '2c44c943574a'
down_revision = 'c82233ef4a49'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('mailouts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('throttle_tokens', sa.Double(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('throttle_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('mailouts', schema=None) as batch_op:
        batch_op.drop_column('throttle_at')
        batch_op.drop_column('throttle_tokens')
