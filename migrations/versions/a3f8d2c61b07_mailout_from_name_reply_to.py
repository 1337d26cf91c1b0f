"""A From name and a Reply-To per mail-out.

Both nullable: existing mail-outs keep the configured sender and no Reply-To.

Revision ID: a3f8d2c61b07
Revises: 5e7c1a9d3f20
Create Date: 2026-11-29 21:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a3f8d2c61b07'
down_revision = '5e7c1a9d3f20'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('mailouts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('from_name', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('reply_to', sa.String(length=320), nullable=True))


def downgrade():
    with op.batch_alter_table('mailouts', schema=None) as batch_op:
        batch_op.drop_column('reply_to')
        batch_op.drop_column('from_name')
