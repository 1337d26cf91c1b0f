"""Benchmark of the signing path: wrk against gunicorn -w 4 on PostgreSQL.

Measures, in one run and on the same server settings:
  - baseline: a trivial Flask view, and the same with one bare INSERT (bench/baseline_app.py)
  - POST /api/v1/petitions/<slug>/signatures (distinct addresses, rate limit lifted
    with RATELIMIT_ENABLED=0, enqueue into Redis included); and, for information, the
    same with the limiter on and a limit too high to bite (one more Redis call)
  - GET /petitions/<slug> and GET /api/v1/petitions/<slug>
  - for information, the floor of a signing request (bench/floor_app.py): only the
    work every signature requires (validation, digest, encryption, one prepared
    INSERT, the Huey enqueue) in a bare Flask view, with and without the enqueue
first with 1,000 confirmed signatures, then with 1,000,000 (40 countries over 60 days; the
pages show the counts by country), and prints requests/s,
the ratio to the trivial view, latency percentiles and non-2xx answers. Each target runs
``--rounds`` times right after a run of the trivial view, and the median of those paired
ratios is what the goals compare: the shared machine drifts between the two sizes.

Needs PostgreSQL (BENCH_PG, default postgresql://postgres@127.0.0.1:5432), Redis
(BENCH_REDIS_URL, default redis://127.0.0.1:6379/13) and wrk (apt-get install wrk).
Run: .venv/bin/python bench/sign.py [--duration 10] [--big 1000000]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SLUG = "protect-objectors"
PG = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
DB_NAME = "objectwar_bench"
sys.path.insert(0, str(ROOT))
from bench.keys import DATA_KEY, SECRET_KEY  # noqa: E402 (after the path)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(cmd: list[str], env: dict[str, str]) -> None:
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def fresh_database() -> str:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    return f"{PG}/{DB_NAME}"


def start_gunicorn(app: str, port: int, env: dict[str, str]) -> subprocess.Popen:
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "-w", "4", "-b", f"127.0.0.1:{port}", "--log-level", "warning", app],
        cwd=ROOT, env=env,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)  # noqa: S310 (loopback)
            return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"gunicorn {app} did not start")


def wrk(url: str, duration: int, script: str | None = None, method: str | None = None) -> dict:
    cmd = ["wrk", "-t2", "-c16", f"-d{duration}s", "--latency"]
    if script:
        cmd += ["-s", script]
    elif method == "POST":
        cmd += ["-s", str(ROOT / "bench" / "post_empty.lua")]
    cmd.append(url)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    percentiles = {}
    for p in ("50", "90", "99"):
        match = re.search(rf"^\s+{p}(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(match.group(1)), match.group(2)
        percentiles[p] = value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p": percentiles, "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errors.group(1) if errors else ""}


# 40 countries, a few large and many small (so that some are folded into "other").
COUNTRIES = ["DE", "FR", "PL", "AT", "NL", "BE", "IT", "ES", "CZ", "LT", "LV", "EE", "FI", "SE",
             "DK", "NO", "GE", "AM", "KZ", "RS", "ME", "TR", "UA", "BY", "RU", "GB", "IE", "PT",
             "CH", "SK", "HU", "RO", "BG", "GR", "SI", "HR", "LU", "IS", "MT", "CY"]


def paired(base: str, url: str, script: str | None, args) -> tuple[dict, float]:
    """The target's last run, and the median over rounds of its rate against the trivial
    view's measured just before it: the machine's drift between sizes cancels out."""
    ratios, last = [], {}
    for _ in range(args.rounds):
        trivial = wrk(base + "/", args.duration)
        last = wrk(url, args.duration, script=script)
        ratios.append(last["rps"] / trivial["rps"])
    return last, statistics.median(ratios)


def add_confirmed_signatures(dsn: str, total: int) -> None:
    """Bring the demo petition to ``total`` confirmed signatures (bulk SQL, valid ciphertexts)."""
    env = {**os.environ, **BASE_ENV, "DATABASE_URL": dsn}
    # Valid ciphertexts (encrypted with the bench keys) so that pages can decrypt names.
    code = (
        "from wsgi import app\n"
        "from objectwar import security\n"
        "with app.app_context():\n"
        "    print(security.encrypt('bench@example.org'))\n"
        "    print(security.encrypt('Bench'))\n"
        "    print(security.encrypt('Signer'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    email, first, last = out[:3]
    with psycopg.connect(dsn, autocommit=True) as conn:
        petition_id, have = conn.execute(
            "SELECT p.id, (SELECT count(*) FROM signatures s WHERE s.petition_id = p.id "
            "AND s.confirmed_at IS NOT NULL) FROM petitions p WHERE slug = %s", (SLUG,)
        ).fetchone()
        missing = total - have
        if missing > 0:
            conn.execute(
                """
                INSERT INTO signatures (petition_id, email_digest, email, first_name, last_name,
                    country, locale, public_name, wants_updates, consent_version, created_at,
                    confirmed_at, confirmation_sends)
                SELECT %(pid)s, md5('bulk' || g) || md5('digest' || g), %(email)s, %(first)s,
                    %(last)s, (%(countries)s::text[])[1 + floor(40 * power((g %% 997) / 997.0, 3))::int],
                    'en', (g %% 10 = 0), false, 'bench', now(),
                    now() - ((g %% 5184000) || ' seconds')::interval, 1
                FROM generate_series(%(start)s::int, %(end)s::int) AS g
                """,
                {"pid": petition_id, "email": email, "first": first, "last": last,
                 "start": have + 1, "end": total, "countries": COUNTRIES},
            )
        # The counts by country, as the confirming transactions keep them.
        conn.execute("DELETE FROM petition_country_counts WHERE petition_id = %s", (petition_id,))
        conn.execute(
            "INSERT INTO petition_country_counts (petition_id, country, confirmed) "
            "SELECT petition_id, country, count(*) FROM signatures "
            "WHERE petition_id = %s AND confirmed_at IS NOT NULL GROUP BY petition_id, country",
            (petition_id,),
        )
        conn.execute(
            "UPDATE petitions SET signature_count = (SELECT count(*) FROM signatures "
            "WHERE petition_id = %s AND confirmed_at IS NOT NULL) WHERE id = %s",
            (petition_id, petition_id),
        )
        conn.execute("VACUUM ANALYZE signatures")
        conn.execute("VACUUM ANALYZE petitions")
        conn.execute("CHECKPOINT")  # the bulk insert's writes are flushed before measuring


BASE_ENV = {
    "FLASK_CONFIG": "production",
    "SECRET_KEY": SECRET_KEY,
    "DATA_KEY": DATA_KEY,
    "PUBLIC_URL": "http://127.0.0.1",
    "SIGN_RATE_LIMIT": "1000000 per second",
    "SIGN_MIN_FILL_SECONDS": "0",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--big", type=int, default=1_000_000, help="confirmed signatures, 2nd round")
    parser.add_argument("--rounds", type=int, default=3, help="paired rounds per target and size")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install -y wrk")

    dsn = fresh_database()
    instance = tempfile.mkdtemp(prefix="objectwar-bench-")
    env = {**os.environ, **BASE_ENV, "DATABASE_URL": dsn, "REDIS_URL": REDIS,
           "INSTANCE_PATH": instance, "BENCH_PG_DSN": dsn}
    flask = [str(BIN / "flask"), "--app", "wsgi"]
    run([*flask, "db", "upgrade"], env)
    run([*flask, "seed-demo"], env)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_baseline (id bigserial primary key, note text)")
    add_confirmed_signatures(dsn, 1000)

    base_port, app_port, limited_port, floor_port = (free_port() for _ in range(4))
    servers = [start_gunicorn("bench.baseline_app:app", base_port, env),
               start_gunicorn("wsgi:app", app_port, {**env, "RATELIMIT_ENABLED": "0"}),
               start_gunicorn("wsgi:app", limited_port, env),
               start_gunicorn("bench.floor_app:app", floor_port, env)]
    base, site = f"http://127.0.0.1:{base_port}", f"http://127.0.0.1:{app_port}"
    limited, floor = f"http://127.0.0.1:{limited_port}", f"http://127.0.0.1:{floor_port}"
    sign_lua = str(ROOT / "bench" / "sign.lua")
    targets = {
        "POST signatures": (f"{site}/api/v1/petitions/{SLUG}/signatures", sign_lua, 0.30),
        "GET /petitions/<slug>": (f"{site}/petitions/{SLUG}", None, 0.50),
        "GET /api/v1/petitions/<slug>": (f"{site}/api/v1/petitions/{SLUG}", None, 0.60),
    }
    results: dict[str, dict] = {}
    ratios: dict[str, float] = {}  # each target against the trivial view measured just before it
    try:
        wrk(base + "/", 2)  # warm-up
        for url, _script, _goal in targets.values():
            wrk(url, 2)
        results["trivial view (baseline)"] = wrk(base + "/", args.duration)
        results["one bare INSERT (ceiling)"] = wrk(base + "/insert", args.duration,
                                                   script=str(ROOT / "bench" / "post_empty.lua"))
        for name, (url, script, _goal) in targets.items():
            results[f"{name} @1k"], ratios[f"{name} @1k"] = paired(base, url, script, args)
        limited_url = f"{limited}/api/v1/petitions/{SLUG}/signatures"
        wrk(limited_url, 2, script=sign_lua)
        results["POST signatures, limiter on (info)"] = wrk(limited_url, args.duration, script=sign_lua)
        for path, name in (("/sign", "floor: required work only (info)"),
                           ("/sign-no-queue", "floor without the enqueue (info)")):
            wrk(floor + path, 2, script=sign_lua)
            results[name] = wrk(floor + path, args.duration, script=sign_lua)
        add_confirmed_signatures(dsn, args.big)
        for url, _script, _goal in targets.values():
            wrk(url, 2)
        results["trivial view (baseline, 2nd)"] = wrk(base + "/", args.duration)
        for name, (url, script, _goal) in targets.items():
            key = f"{name} @{args.big // 1000}k"
            results[key], ratios[key] = paired(base, url, script, args)
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
        for server in servers:
            server.wait(timeout=20)
        subprocess.run(["redis-cli", "-u", REDIS, "FLUSHDB"], capture_output=True, check=False)

    trivial = results["trivial view (baseline)"]["rps"]
    for name, ratio in ratios.items():
        results[name]["paired"] = ratio
    print(f"\nwrk -t2 -c16 -d{args.duration}s, gunicorn -w 4, PostgreSQL, Redis queue; "
          f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
    print(f"ratio: to the first trivial run; paired: the median over {args.rounds} rounds of the "
          "target against a trivial run just before it")
    print(f"{'target':44} {'req/s':>8} {'ratio':>6} {'paired':>6} {'p50 ms':>7} {'p90 ms':>7} "
          f"{'p99 ms':>7} {'non-2xx':>8}")
    for name, r in results.items():
        paired_text = f"{r['paired']:6.2f}" if "paired" in r else " " * 6
        print(f"{name:44} {r['rps']:8.0f} {r['rps'] / trivial:6.2f} {paired_text} {r['p']['50']:7.2f} "
              f"{r['p']['90']:7.2f} {r['p']['99']:7.2f} {r['non2xx']:8d} {r['socket_errors']}")
    print("\ngoals (paired ratio to the trivial view; p99 < 100 ms; no non-2xx; "
          "1M within 10% of 1k, paired ratios compared):")
    for name, (_url, _script, goal) in targets.items():
        small = results[f"{name} @1k"]
        big = results[f"{name} @{args.big // 1000}k"]
        ratio = small["paired"]
        drift = big["paired"] / small["paired"] - 1
        ok = (ratio >= goal and small["p"]["99"] < 100 and big["p"]["99"] < 100
              and not small["non2xx"] and not big["non2xx"] and drift >= -0.10)
        print(f"  {name:32} ratio {ratio:.2f} (goal {goal:.2f}), big vs small {drift:+.1%}: "
              f"{'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
