"""Benchmark of the coordinators' statistics at scale; prints its figures.

    .venv/bin/python bench/stats.py [--rounds 7]

Runs on the database ``bench/sign.py`` leaves behind (``objectwar_bench`` on BENCH_PG:
the demo petition with 1,000,000 confirmed signatures over 60 days and 40 countries;
run ``bench/sign.py`` first). Adds 100 partner organisations and credits the
signatures to them, then times, in this process through the app's test client
with a coordinator's session (the server's own work, no network):

  - the SQL of the figures alone (the per-day GROUP BYs, the partner GROUP BY, the
    unconfirmed count, the counts by country): the floor of a petition's page;
  - ``/admin/`` (the dashboard), ``/admin/petitions/<slug>`` (a petition's figures)
    and ``/admin/petitions/<slug>/days.svg`` (its chart);

each as the median and the worst of ``--rounds`` requests. The goal: each page under 1 s.

Then the handover export of every confirmed signature (the five default columns, names
decrypted) in rows per second and the process's peak RSS, beside a plain CSV dump of the
same columns as stored (no decryption) from the same query. Goal: 20,000 rows/s, < 150 MB.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.keys import DATA_KEY, SECRET_KEY  # noqa: E402 (after the path)

PG = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
DSN = f"{PG}/objectwar_bench"
SLUG = "protect-objectors"


def add_partners(count: int = 100) -> None:
    """Partner organisations, and every confirmed signature credited to one of them."""
    with psycopg.connect(DSN, autocommit=True) as conn:
        have = conn.execute("SELECT count(*) FROM organisations WHERE slug LIKE 'bench-%'").fetchone()[0]
        if have >= count:
            return
        conn.execute(
            "INSERT INTO organisations (slug, name, country, status, public, created_at, updated_at, "
            "description, contact_locale) SELECT 'bench-' || g, 'Bench partner ' || g, 'DE', "
            "'member', true, now(), now(), '', 'en' FROM generate_series(1, %s) AS g "
            "ON CONFLICT DO NOTHING", (count,))
        conn.execute(
            "UPDATE signatures SET organisation_id = (SELECT id FROM organisations "
            "WHERE slug = 'bench-' || (1 + signatures.id %% %s)) WHERE confirmed_at IS NOT NULL",
            (count,))
        conn.execute("VACUUM ANALYZE signatures")


def timed(call, rounds: int) -> tuple[float, float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--export-only", action="store_true",
                        help="only the export, in this process (its peak RSS is the export's)")
    args = parser.parse_args()
    add_partners()
    os.environ.update({"SECRET_KEY": SECRET_KEY, "DATA_KEY": DATA_KEY,
                       "DATABASE_URL": DSN.replace("postgresql://", "postgresql+psycopg://")})
    from objectwar import create_app
    from objectwar.accounts.services import create_coordinator
    from objectwar.extensions import db
    from objectwar.petitions import stats
    from objectwar.petitions.services import get_petition

    app = create_app("production", PUBLIC_URL="http://127.0.0.1", SESSION_COOKIE_SECURE=False)
    if args.export_only:
        export_rates(app)
        return
    with app.app_context():
        user, _created = create_coordinator("bench-coordinator@example.org", "bench passphrase 2026")
        session_id = user.get_id()
        petition = get_petition(SLUG)
        confirmed = petition.signature_count
        db.session.remove()
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = session_id
        session["_fresh"] = True

    def bare_sql() -> None:
        with app.app_context():
            stats.petition_stats(get_petition(SLUG))
            db.session.remove()

    def get(path: str):
        def call() -> None:
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
        return call

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; "
          f"{confirmed:,} confirmed signatures, PostgreSQL")
    rows = [("the figures' SQL alone (stats.petition_stats)", bare_sql),
            ("GET /admin/ (dashboard)", get("/admin/")),
            (f"GET /admin/petitions/{SLUG}", get(f"/admin/petitions/{SLUG}")),
            (f"GET /admin/petitions/{SLUG}/days.svg", get(f"/admin/petitions/{SLUG}/days.svg"))]
    get("/admin/")()  # warm-up: templates compiled, connections made
    for name, call in rows:
        median, worst = timed(call, args.rounds)
        print(f"{name:52} median {median * 1000:7.1f} ms   worst {worst * 1000:7.1f} ms")
    # The export in a process of its own, so that its peak memory is the export's alone.
    subprocess.run([sys.executable, __file__, "--export-only"], check=True)


def export_rates(app) -> None:
    from objectwar.extensions import db
    from objectwar.petitions import export
    from objectwar.petitions.services import get_petition

    with app.app_context():
        petition = get_petition(SLUG)
        started = time.perf_counter()
        size = sum(len(chunk) for chunk in export.signatures_csv(
            petition, list(export.DEFAULT_COLUMNS), actor_id=None))
        seconds = time.perf_counter() - started
        count = petition.signature_count
        db.session.remove()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"handover export, {count:,} rows ({size / 1e6:.0f} MB of CSV), names decrypted: "
          f"{count / seconds:,.0f} rows/s; process peak RSS {peak:.0f} MB")
    with psycopg.connect(DSN) as conn, conn.cursor(name="plain") as cursor:
        started = time.perf_counter()
        cursor.itersize = 1000
        cursor.execute(
            "SELECT s.first_name, s.last_name, s.country, o.slug, s.confirmed_at FROM signatures s "
            "LEFT JOIN organisations o ON o.id = s.organisation_id WHERE s.petition_id = "
            "(SELECT id FROM petitions WHERE slug = %s) AND s.confirmed_at IS NOT NULL "
            "ORDER BY s.id", (SLUG,))
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        plain = 0
        for plain, row in enumerate(cursor, start=1):
            writer.writerow(row)
            if plain % 1000 == 0:
                buffer.seek(0)
                buffer.truncate()
        seconds = time.perf_counter() - started
    print(f"baseline: plain CSV dump of the same columns as stored: {plain / seconds:,.0f} rows/s")


if __name__ == "__main__":
    main()
