"""Prepare the benchmark database: ``reset`` (schema, demo, 1,000 confirmed
signatures, the yardstick's table) or ``million`` (1,000,000 confirmed signatures)."""

import sys

from sqlalchemy import text

from objectwar import create_app
from objectwar.demo import seed_demo
from objectwar.extensions import db

FILL = """
INSERT INTO signatures (petition_id, email_digest, email, first_name, last_name, country,
    locale, public_name, wants_updates, consent_version, created_at, confirmed_at,
    confirmation_sends)
SELECT :petition, md5(:tag || i::text) || md5(i::text || :tag), 'x', 'x', 'x', 'DE', 'en',
    false, false, 'bench', now(), now() - (i || ' seconds')::interval, 0
FROM generate_series(1, :n) AS i
"""


def fill(n: int, tag: str) -> None:
    petition = db.session.execute(text("SELECT id FROM petitions WHERE slug = 'protect-objectors'")).scalar()
    db.session.execute(text(FILL), {"petition": petition, "n": n, "tag": tag})
    db.session.execute(text("UPDATE petitions SET signature_count = (SELECT count(*) FROM signatures "
                            "WHERE confirmed_at IS NOT NULL AND petition_id = :p) WHERE id = :p"),
                       {"p": petition})
    db.session.commit()


def main(step: str) -> None:
    app = create_app()
    with app.app_context():
        if step == "reset":
            db.drop_all()
            db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
            db.session.execute(text("DROP TABLE IF EXISTS bench_inserts"))
            db.session.commit()
            db.create_all()
            db.session.execute(text("CREATE TABLE bench_inserts (id serial PRIMARY KEY, value text)"))
            db.session.commit()
            seed_demo()
            fill(1_000, "k")
        else:
            fill(999_000, "m")
        db.session.execute(text("ANALYZE"))
        db.session.commit()


if __name__ == "__main__":
    main(sys.argv[1])
