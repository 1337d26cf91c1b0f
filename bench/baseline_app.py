"""Baselines for the benchmarks, served with the same gunicorn settings as the app.

``/`` is a trivial Flask view; ``/insert`` does one bare INSERT into PostgreSQL
(the ceiling of a signing request). Gunicorn's sync workers serve one request
at a time, so one connection per process is enough.
"""

import os

import psycopg
from flask import Flask

app = Flask(__name__)
_conn: list[psycopg.Connection] = []


def connection() -> psycopg.Connection:
    if not _conn:
        _conn.append(psycopg.connect(os.environ["BENCH_PG_DSN"], autocommit=True))
    return _conn[0]


@app.get("/")
def trivial():
    return "ok"


@app.post("/insert")
def insert():
    connection().execute("INSERT INTO bench_baseline (note) VALUES ('x')")
    return "", 202
