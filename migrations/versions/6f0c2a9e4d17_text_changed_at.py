"""Petition and demand texts remember when their words last changed.

A translation saved before its default-locale text last changed is outdated:
the admin warns about it. Texts written before this version take their
petition's creation as their last change, so none is reported outdated.

Revision ID: 6f0c2a9e4d17
Revises: 8ed4802b3e3f
Create Date: 2026-11-29 18:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '6f0c2a9e4d17'
down_revision = '8ed4802b3e3f'
branch_labels = None
depends_on = None


def upgrade():
    for table in ('petition_texts', 'demand_texts'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('changed_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE petition_texts SET changed_at = "
               "(SELECT created_at FROM petitions WHERE petitions.id = petition_texts.petition_id)")
    op.execute("UPDATE demand_texts SET changed_at = "
               "(SELECT petitions.created_at FROM demands JOIN petitions ON petitions.id = demands.petition_id"
               " WHERE demands.id = demand_texts.demand_id)")
    for table in ('petition_texts', 'demand_texts'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('changed_at', existing_type=sa.DateTime(timezone=True),
                                  nullable=False)


def downgrade():
    for table in ('demand_texts', 'petition_texts'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('changed_at')
