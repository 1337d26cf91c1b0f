"""Erased signatures: a count on petitions, part of the state pages are cached by.

An erasure (``/my-data``) takes confirmed signatures out of the count, which can
bring it back to a value seen before; with ``erased_count`` the pair names a
state never seen before, so no web process serves a cached page with an erased
name again. The notification trigger (PostgreSQL) announces its changes too.

Revision ID: a045f04267cb
Revises: 1d509cec86fe
Create Date: 2026-11-25 00:43:30.298153

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a045f04267cb'
down_revision = '1d509cec86fe'
branch_labels = None
depends_on = None


def _notify_function(columns):
    changed = "\n          OR ".join(f"NEW.{column} IS DISTINCT FROM OLD.{column}" for column in columns)
    return f"""
CREATE OR REPLACE FUNCTION petition_state_notify() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('petition_state', OLD.slug);
    ELSIF {changed} THEN
        PERFORM pg_notify('petition_state', OLD.slug);
        IF NEW.slug IS DISTINCT FROM OLD.slug THEN
            PERFORM pg_notify('petition_state', NEW.slug);
        END IF;
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql
"""


BEFORE = ("status", "goal", "signature_count", "slug")
AFTER = ("status", "goal", "signature_count", "erased_count", "slug")


def upgrade():
    with op.batch_alter_table('petitions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erased_count', sa.Integer(), server_default='0', nullable=False))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_notify_function(AFTER))


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_notify_function(BEFORE))
    with op.batch_alter_table('petitions', schema=None) as batch_op:
        batch_op.drop_column('erased_count')
