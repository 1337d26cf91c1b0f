"""The yardstick of the benchmark: a trivial Flask view, and one bare INSERT into PostgreSQL."""

import os

from flask import Flask
from sqlalchemy import create_engine, text

app = Flask(__name__)
engine = create_engine(os.environ["DATABASE_URL"], pool_size=4) if os.environ.get("DATABASE_URL") else None


@app.get("/")
def trivial():
    return "ok"


@app.post("/insert")
def insert():
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO bench_inserts (value) VALUES ('x')"))
    return "ok"
