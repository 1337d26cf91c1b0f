"""Confirmation failures and suppressions.

``confirmation_failures`` on signatures and subscriptions counts the failed
sends of the confirmation email now due, so that retries double from
``MAIL_RETRY_SECONDS`` and end after a fixed number (``outbox.rows``); rows
that exist already start at 0.

``suppressions`` keeps the keyed digest (never the address) of people whose
subscription was deleted by hand or who asked for erasure: no import adds
them again (for one list, or every list when ``list_id`` is NULL).

Revision ID: 1d509cec86fe
Revises: 5e7a1c0d9b42
Create Date: 2026-11-24 22:13:57.587845

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '1d509cec86fe'
down_revision = '5e7a1c0d9b42'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('suppressions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email_digest', sa.String(length=64), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Enum('deleted', 'erased', name='suppressionreason', native_enum=False, length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['list_id'], ['mailing_lists.id'], name=op.f('fk_suppressions_list_id_mailing_lists'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suppressions'))
    )
    with op.batch_alter_table('suppressions', schema=None) as batch_op:
        batch_op.create_index('ix_suppressions_digest_list', ['email_digest', 'list_id'], unique=False)

    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('confirmation_failures', sa.Integer(), server_default='0', nullable=False))

    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('confirmation_failures', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_column('confirmation_failures')

    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.drop_column('confirmation_failures')

    with op.batch_alter_table('suppressions', schema=None) as batch_op:
        batch_op.drop_index('ix_suppressions_digest_list')

    op.drop_table('suppressions')
