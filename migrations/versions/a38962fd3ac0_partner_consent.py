"""Partner consent: the signer agreed that the crediting organisation may contact them.

A box of its own on the sign form (never ticked for the signer), recorded with the
version of its wording. Existing signatures did not agree: false.

Revision ID: a38962fd3ac0
Revises: 25d194b5ed4b
Create Date: 2026-11-29 16:03:33.774545

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a38962fd3ac0'
down_revision = '25d194b5ed4b'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('partner_consent', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('partner_consent_version', sa.String(length=40), nullable=True))



def downgrade():
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.drop_column('partner_consent_version')
        batch_op.drop_column('partner_consent')

