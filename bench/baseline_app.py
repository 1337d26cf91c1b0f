"""Baselines for the benchmarks, served with the same gunicorn settings as the app.

``/`` is a trivial Flask view; ``/insert`` does one bare INSERT into PostgreSQL
(the ceiling of a signing request). Gunicorn's sync workers serve one request
at a time; threaded workers get one connection per thread.
"""

import os
import threading

import psycopg
from flask import Flask

app = Flask(__name__)
_local = threading.local()  # one connection per thread (threaded workers too)


def connection() -> psycopg.Connection:
    if getattr(_local, "conn", None) is None:
        _local.conn = psycopg.connect(os.environ["BENCH_PG_DSN"], autocommit=True)
    return _local.conn


@app.get("/")
def trivial():
    return "ok"


@app.post("/insert")
def insert():
    connection().execute("INSERT INTO bench_baseline (note) VALUES ('x')")
    return "", 202
