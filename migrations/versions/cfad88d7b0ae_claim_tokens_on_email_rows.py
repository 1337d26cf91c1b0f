"""Claim tokens on every email row: a claim of its own, renewed while its worker sends.

Deliveries, notices, signatures and subscriptions carry ``claim_token`` (and the
last renewal in ``claimed_at``): a worker sends a row only while the row carries
its token, and a claim returns to the pool only after ``DELIVERY_CLAIM_SECONDS``
without renewal (``objectwar.outbox.claims``). Rows claimed by a worker of the
previous version keep their claim under a fixed token until it lapses, so an
upgrade during a mail-out sends no one twice.

Revision ID: cfad88d7b0ae
Revises: a045f04267cb
Create Date: 2026-11-29 14:45:20.270807

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'cfad88d7b0ae'
down_revision = 'a045f04267cb'
branch_labels = None
depends_on = None

BEFORE_TOKENS = 'claimed-before-tokens'


def upgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claim_token', sa.String(length=32), nullable=True))

    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claim_token', sa.String(length=32), nullable=True))

    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claim_token', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claim_token', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))

    # Claims made before this version stay held until their lease lapses.
    op.execute(sa.text("UPDATE deliveries SET claim_token = :token "
                       "WHERE status = 'sending' AND claimed_at IS NOT NULL")
               .bindparams(token=BEFORE_TOKENS))
    op.execute(sa.text("UPDATE notices SET claim_token = :token "
                       "WHERE due_at IS NOT NULL AND claimed_at IS NOT NULL")
               .bindparams(token=BEFORE_TOKENS))


def downgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_column('claimed_at')
        batch_op.drop_column('claim_token')

    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.drop_column('claimed_at')
        batch_op.drop_column('claim_token')

    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.drop_column('claim_token')

    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('claim_token')
