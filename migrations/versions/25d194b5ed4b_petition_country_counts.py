"""Confirmed signatures by country, a row per petition and country.

Kept exact by the transactions that confirm and erase signatures
(``objectwar.petitions.counts``), so that the public counts by country are read
from a few rows, never by counting signatures. Filled here from the confirmed
signatures already stored.

Revision ID: 25d194b5ed4b
Revises: cfad88d7b0ae
Create Date: 2026-11-29 15:26:51.253019

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '25d194b5ed4b'
down_revision = 'cfad88d7b0ae'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('petition_country_counts',
    sa.Column('petition_id', sa.Integer(), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('confirmed', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['petition_id'], ['petitions.id'], name=op.f('fk_petition_country_counts_petition_id_petitions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('petition_id', 'country', name=op.f('pk_petition_country_counts'))
    )
    op.execute(
        "INSERT INTO petition_country_counts (petition_id, country, confirmed) "
        "SELECT petition_id, country, count(*) FROM signatures "
        "WHERE confirmed_at IS NOT NULL GROUP BY petition_id, country"
    )


def downgrade():
    op.drop_table('petition_country_counts')
