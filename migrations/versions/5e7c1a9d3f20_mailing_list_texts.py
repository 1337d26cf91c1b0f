"""Mailing lists' names and descriptions in more languages.

A list's own ``name`` and ``description`` stay its default-language text; each row
of ``mailing_list_texts`` holds them in one more language. Existing lists start
with none (public pages show the default language's, saying so).

Revision ID: 5e7c1a9d3f20
Revises: 602328d4b1b1
Create Date: 2026-11-29 19:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5e7c1a9d3f20'
down_revision = '602328d4b1b1'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('mailing_list_texts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['list_id'], ['mailing_lists.id'], name=op.f('fk_mailing_list_texts_list_id_mailing_lists'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mailing_list_texts')),
    sa.UniqueConstraint('list_id', 'locale', name=op.f('uq_mailing_list_texts_list_id_locale'))
    )


def downgrade():
    op.drop_table('mailing_list_texts')
