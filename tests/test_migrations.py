"""The migrations build the schema of the models, on SQLite and on PostgreSQL."""

import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import create_engine, inspect, text

from objectwar import create_app
from tests.conftest import PG_URL, scratch_postgres

EXPECTED_TABLES = {
    "users", "api_tokens", "organisations", "petitions", "petition_texts", "demands",
    "demand_texts", "signatures", "mailing_lists", "subscribers", "subscriptions", "mailouts",
    "mailout_texts", "deliveries", "audit_events", "notices", "suppressions", "alembic_version",
    "petition_country_counts",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/migrate.db"
    if not PG_URL:
        pytest.skip("needs TEST_DATABASE_URL (PostgreSQL)")
    return scratch_postgres()


def test_migrate_empty_database_to_head_agrees_with_models(empty_database, tmp_path):
    os.environ["INSTANCE_PATH"] = str(tmp_path)
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=empty_database)
    runner = app.test_cli_runner()
    with app.app_context():
        upgrade()
        engine = create_engine(empty_database)
        inspector = inspect(engine)
        assert set(inspector.get_table_names()) >= EXPECTED_TABLES
        uniques = {
            table: {tuple(c["column_names"]) for c in inspector.get_unique_constraints(table)}
            | {tuple(i["column_names"]) for i in inspector.get_indexes(table) if i["unique"]}
            for table in ("signatures", "deliveries", "subscriptions")
        }
        assert ("petition_id", "email_digest") in uniques["signatures"]
        assert ("mailout_id", "subscriber_id") in uniques["deliveries"]
        assert ("list_id", "subscriber_id") in uniques["subscriptions"]
        indexes = {i["name"] for t in ("signatures", "deliveries", "organisations")
                   for i in inspector.get_indexes(t)}
        assert {"ix_signatures_petition_confirmed", "ix_deliveries_due",
                "ix_organisations_directory"} <= indexes
        if engine.dialect.name == "postgresql":  # petition state notifications
            with engine.connect() as conn:
                triggers = conn.scalars(text(
                    "SELECT tgname FROM pg_trigger WHERE tgrelid = 'petitions'::regclass")).all()
            assert "petitions_state_notify" in triggers
        engine.dispose()
    with app.app_context():
        from objectwar.extensions import db

        # What `flask db check` compares: the models against the migrated schema.
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, db.metadata) == []
        db.engine.dispose()
    result = runner.invoke(args=["db", "check"])
    assert result.exit_code == 0, result.output


def test_confirmation_failures_start_at_zero_on_existing_rows_and_downgrade(empty_database, tmp_path):
    from flask_migrate import downgrade

    os.environ["INSTANCE_PATH"] = str(tmp_path)
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=empty_database)
    with app.app_context():
        upgrade(revision="5e7a1c0d9b42")
        engine = create_engine(empty_database)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO mailing_lists (id, slug, name, description, public, created_at)"
                              " VALUES (1, 'l', 'L', '', true, CURRENT_TIMESTAMP)"))
            conn.execute(text("INSERT INTO subscribers (id, email_digest, email, locale, created_at)"
                              " VALUES (1, 'd', 'x', 'en', CURRENT_TIMESTAMP)"))
            conn.execute(text(
                "INSERT INTO subscriptions (list_id, subscriber_id, status, source, created_at, changed_at)"
                " VALUES (1, 1, 'unconfirmed', 'form', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        upgrade()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT confirmation_failures FROM subscriptions")).scalar_one() == 0
        downgrade(revision="5e7a1c0d9b42")
        inspector = inspect(engine)
        assert "suppressions" not in inspector.get_table_names()
        assert "confirmation_failures" not in {c["name"] for c in inspector.get_columns("subscriptions")}
        engine.dispose()
        from objectwar.extensions import db

        db.engine.dispose()


def test_counts_by_country_are_filled_from_confirmed_signatures_and_old_claims_kept(
        empty_database, tmp_path):
    os.environ["INSTANCE_PATH"] = str(tmp_path)
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=empty_database)
    with app.app_context():
        upgrade(revision="a045f04267cb")
        engine = create_engine(empty_database)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO petitions (id, slug, status, goal, default_locale, "
                              "signature_count, erased_count, created_at) "
                              "VALUES (1, 'p', 'open', 100, 'en', 3, 0, CURRENT_TIMESTAMP)"))
            for number, (country, confirmed) in enumerate(
                    [("DE", True), ("DE", True), ("BY", True), ("BY", False)]):
                conn.execute(text(
                    "INSERT INTO signatures (petition_id, email_digest, email, first_name, "
                    "last_name, country, locale, public_name, wants_updates, consent_version, "
                    "created_at, confirmed_at, confirmation_sends) VALUES (1, :digest, 'x', 'x', "
                    "'x', :country, 'en', false, false, 'v', CURRENT_TIMESTAMP, :confirmed, 0)"),
                    {"digest": f"d{number}", "country": country,
                     "confirmed": "2026-11-01 12:00:00+00:00" if confirmed else None})
            conn.execute(text("INSERT INTO notices (kind, target_id, recipient, locale, created_at, "
                              "due_at, claimed_at, attempts) VALUES ('invitation', 1, 'x', 'en', "
                              "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)"))
        upgrade()
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT country, confirmed FROM petition_country_counts "
                                     "ORDER BY country")).all()
            token = conn.execute(text("SELECT claim_token FROM notices")).scalar_one()
        assert [tuple(row) for row in rows] == [("BY", 1), ("DE", 2)]
        assert token is not None  # a claim made before tokens stays held until its lease lapses
        engine.dispose()
        from objectwar.extensions import db

        db.engine.dispose()


def test_invitations_before_coordinators_stay_members_and_downgrade_drops_coordinators(
        empty_database, tmp_path):
    from flask_migrate import downgrade

    os.environ["INSTANCE_PATH"] = str(tmp_path)
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=empty_database)
    with app.app_context():
        upgrade(revision="c4d792a47598-1")
        engine = create_engine(empty_database)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO organisations (id, slug, name, country, description, status, "
                              "public, created_at, updated_at, contact_locale) VALUES (1, 'o', 'O', "
                              "'DE', '', 'member', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'en')"))
            conn.execute(text("INSERT INTO invitations (organisation_id, email_digest, email, locale, "
                              "created_at) VALUES (1, 'd', 'x', 'en', CURRENT_TIMESTAMP)"))
        upgrade(revision="c4d792a47598")
        with engine.begin() as conn:
            assert conn.execute(text("SELECT role FROM invitations")).scalar_one() == "member"
            conn.execute(text("INSERT INTO invitations (role, organisation_id, email_digest, email, "
                              "locale, created_at) VALUES ('coordinator', NULL, 'c', 'y', 'en', "
                              "CURRENT_TIMESTAMP)"))
        downgrade(revision="c4d792a47598-1")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT organisation_id FROM invitations")).scalars().all() == [1]
        inspector = inspect(engine)
        columns = {c["name"]: c for c in inspector.get_columns("invitations")}
        assert "role" not in columns and columns["organisation_id"]["nullable"] is False
        engine.dispose()
        from objectwar.extensions import db

        db.engine.dispose()
