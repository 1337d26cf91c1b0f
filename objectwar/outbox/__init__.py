"""The outbox: one row per email that must go out, sent and marked by workers."""
