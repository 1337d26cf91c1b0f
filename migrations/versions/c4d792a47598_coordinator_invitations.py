"""Coordinators are invited like members: invitations carry a role.

An invitation with the role ``coordinator`` names no organisation and makes a
coordinator when accepted. Invitations made before this version are members'.
Downgrading deletes the coordinators' invitations (the old schema cannot hold them).

Revision ID: c4d792a47598
Revises: 6f0c2a9e4d17
Create Date: 2026-11-29 17:40:36.508299

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4d792a47598'
down_revision = '6f0c2a9e4d17'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('role', sa.Enum('coordinator', 'member', name='role', native_enum=False, length=20), server_default='member', nullable=False))
        batch_op.alter_column('organisation_id', existing_type=sa.Integer(), nullable=True)


def downgrade():
    op.execute("DELETE FROM invitations WHERE organisation_id IS NULL")
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.alter_column('organisation_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('role')
