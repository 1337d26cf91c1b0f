"""Benchmark: does the signing API's answer time tell a repeat signer from a first one?

Starts gunicorn (production config) on a fresh PostgreSQL database with a Redis queue,
signs ``--requests`` addresses once beforehand (as if their first email had gone out;
half of them confirmed), then sends, in one shuffled run, as many first signatures
(new addresses) as repeat signatures (those addresses again), and prints the median,
p90 and p99 latency of each kind, measured by the client around each request. Every
answer must be the same 202 and body. No worker runs: the queue only fills.

Needs PostgreSQL (BENCH_PG, default postgresql://postgres@127.0.0.1:5432) and Redis
(BENCH_REDIS_URL; by default the first empty database of 14, 15, 12 on 127.0.0.1:6379).
Run: .venv/bin/python bench/repeat_signer.py [--requests 500] [--clients 1] [--workers 2]
(``--app module:app`` serves another WSGI app, say an older version of the code to compare.)
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.keys import DATA_KEY, SECRET_KEY  # noqa: E402 (after the path)
from bench.sign import free_port  # noqa: E402

SLUG = "protect-objectors"
PG = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
DB_NAME = "objectwar_bench_repeat"
PATH = f"/api/v1/petitions/{SLUG}/signatures"
ANSWER = {"status": "pending_confirmation", "notices": []}


def redis_url() -> tuple[str, bool]:
    """The Redis database to queue into, and whether it was empty (then it is flushed after)."""
    if os.environ.get("BENCH_REDIS_URL"):
        return os.environ["BENCH_REDIS_URL"], False
    for number in (14, 15, 12):
        size = subprocess.run(["redis-cli", "-n", str(number), "dbsize"], capture_output=True,
                              text=True, check=True).stdout.strip()
        if size == "0":
            return f"redis://127.0.0.1:6379/{number}", True
    sys.exit("no empty Redis database among 14, 15, 12: set BENCH_REDIS_URL")


def fresh_database() -> str:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    return f"{PG}/{DB_NAME}"


def body(email: str) -> bytes:
    return json.dumps({"first_name": "Bench", "last_name": "Signer", "email": email,
                       "country": "DE", "consent": True, "updates": False, "public_name": False,
                       "locale": "en", "organisation": None}).encode()


def post(port: int, email: str) -> tuple[float, int, bytes]:
    """One signature over a new connection (gunicorn's sync workers close each one)."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", PATH, body=body(email), headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return (time.perf_counter() - started) * 1000, response.status, data


def run_schedule(port: int, schedule: list[tuple[str, str]],
                 clients: int) -> dict[str, list[float]]:
    """Send ``(kind, email)`` in order from ``clients`` threads; latencies by kind."""
    work: queue.Queue = queue.Queue()
    for item in schedule:
        work.put(item)
    timings: dict[str, list[float]] = {}
    wrong: list[tuple[str, int, bytes]] = []
    lock = threading.Lock()

    def client() -> None:
        while True:
            try:
                kind, email = work.get_nowait()
            except queue.Empty:
                return
            elapsed, status, data = post(port, email)
            with lock:
                timings.setdefault(kind, []).append(elapsed)
                if status != 202 or json.loads(data) != ANSWER:
                    wrong.append((kind, status, data[:200]))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if wrong:
        sys.exit(f"{len(wrong)} answers differ from 202 {ANSWER}: {wrong[:3]}")
    return timings


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="requests of each kind")
    parser.add_argument("--clients", type=int, default=1, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--seed", type=int, default=4711)
    parser.add_argument("--app", default="wsgi:app", help="the WSGI app gunicorn serves")
    args = parser.parse_args()

    redis, flush_after = redis_url()
    dsn = fresh_database()
    instance = tempfile.mkdtemp(prefix="objectwar-bench-repeat-")
    env = {**os.environ, "FLASK_CONFIG": "production", "SECRET_KEY": SECRET_KEY,
           "DATA_KEY": DATA_KEY, "PUBLIC_URL": "http://127.0.0.1", "DATABASE_URL": dsn,
           "REDIS_URL": redis, "INSTANCE_PATH": instance, "RATELIMIT_ENABLED": "0"}
    flask = [str(Path(sys.executable).parent / "flask"), "--app", "wsgi"]
    for command in (["db", "upgrade"], ["seed-demo"]):
        subprocess.run([*flask, *command], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)

    port = free_port()
    server = start_gunicorn_with(args.app, args.workers, port, env)
    try:
        n = args.requests
        # The repeat signers sign once; then their email went out, and half confirmed.
        run_schedule(port, [("setup", f"r{i}@example.org") for i in range(n)], 2)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("UPDATE signatures SET confirmation_due_at = NULL, "
                         "confirmation_sent_at = now(), confirmation_sends = 1, "
                         "confirmation_window_start = now(), "
                         "confirmed_at = CASE WHEN id % 2 = 0 THEN now() END")
            conn.execute("VACUUM ANALYZE signatures")
        # Warm-up of every worker process (its first request looks the petition up).
        run_schedule(port, [("warm", f"w{i}@example.org") for i in range(20 * args.workers)], 1)
        schedule = ([("first", f"f{i}@example.org") for i in range(n)]
                    + [("repeat", f"r{i}@example.org") for i in range(n)])
        random.Random(args.seed).shuffle(schedule)
        timings = run_schedule(port, schedule, args.clients)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
        if flush_after:
            subprocess.run(["redis-cli", "-u", redis, "FLUSHDB"], capture_output=True, check=False)

    print(f"\nPOST {PATH}: {n} first and {n} repeat signers shuffled in one run; "
          f"{args.clients} client(s), gunicorn -w {args.workers} {args.app}, PostgreSQL, "
          "Redis queue; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    print(f"{'signer':8} {'n':>5} {'median ms':>10} {'p90 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for kind in ("first", "repeat"):
        values = timings[kind]
        print(f"{kind:8} {len(values):5d} {statistics.median(values):10.2f} "
              f"{percentile(values, 0.9):8.2f} {percentile(values, 0.99):8.2f} "
              f"{statistics.fmean(values):8.2f}")
    ratio = statistics.median(timings["repeat"]) / statistics.median(timings["first"])
    print(f"repeat / first, medians: {ratio:.2f}")


def start_gunicorn_with(app: str, workers: int, port: int, env: dict[str, str]) -> subprocess.Popen:
    """gunicorn serving the app with ``workers`` sync workers, once it answers."""
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "-w", str(workers), "-b",
         f"127.0.0.1:{port}", "--log-level", "warning", app], cwd=ROOT, env=env)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/")
            conn.getresponse().read()
            return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("gunicorn did not start")


if __name__ == "__main__":
    main()
