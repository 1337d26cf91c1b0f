"""The benchmarks' own keys: fixed, so that a database seeded by one bench (encrypted
names) is read by the next, and strong enough for the production configuration, which
refuses short or published keys. Never use them anywhere else."""

SECRET_KEY = "objectwar-bench-signing-7f3a9c27d18e4b6a52c0e9f1"  # noqa: S105 (the benchmarks' own)
DATA_KEY = "objectwar-bench-data-1c8e5b2f94a7d06e3b71c45a"
