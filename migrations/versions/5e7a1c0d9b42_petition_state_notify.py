"""Petition state notifications: a trigger that announces changes (PostgreSQL only).

After any change of a petition's status, goal, confirmed count or slug (and
after a delete), ``pg_notify('petition_state', slug)`` is sent in the same
transaction; PostgreSQL delivers it at commit. Web processes keep the states
they have read and drop one when its notification arrives
(``objectwar/petitions/state.py``). SQLite needs nothing: it reads the row.

Revision ID: 5e7a1c0d9b42
Revises: 2c44c943574a
Create Date: 2026-11-24 22:40:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '5e7a1c0d9b42'
down_revision = '2c44c943574a'
branch_labels = None
depends_on = None

FUNCTION = """
CREATE OR REPLACE FUNCTION petition_state_notify() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('petition_state', OLD.slug);
    ELSIF NEW.status IS DISTINCT FROM OLD.status OR NEW.goal IS DISTINCT FROM OLD.goal
          OR NEW.signature_count IS DISTINCT FROM OLD.signature_count
          OR NEW.slug IS DISTINCT FROM OLD.slug THEN
        PERFORM pg_notify('petition_state', OLD.slug);
        IF NEW.slug IS DISTINCT FROM OLD.slug THEN
            PERFORM pg_notify('petition_state', NEW.slug);
        END IF;
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql
"""


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION)
    op.execute("DROP TRIGGER IF EXISTS petitions_state_notify ON petitions")
    op.execute(
        "CREATE TRIGGER petitions_state_notify AFTER UPDATE OR DELETE ON petitions "
        "FOR EACH ROW EXECUTE FUNCTION petition_state_notify()"
    )


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS petitions_state_notify ON petitions")
    op.execute("DROP FUNCTION IF EXISTS petition_state_notify()")
