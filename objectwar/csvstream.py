"""CSV files streamed from a query: every export of the app writes its rows here.

Cells are neutralised so that a spreadsheet shows them as text and never runs
them as formulas (a signer's "name" can be ``=HYPERLINK(...)``); rows are read
and written a chunk at a time, so a file of a million rows takes constant memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from typing import Any

from objectwar.extensions import db

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"  # spreadsheets read the file as UTF-8 with it


def neutralise(value: Any) -> str:
    """A cell that a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _cell(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value.value if hasattr(value, "value") else value  # enums as their values


def stream(query: Any, header: Sequence[str], *, chunk_rows: int = 1000,
           bom: bool = False) -> Iterator[str]:
    """The rows of ``query`` (with ``yield_per``) as CSV after ``header``, a chunk at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if bom:
        buffer.write(BOM)
    writer.writerow(header)
    for count, row in enumerate(db.session.execute(query), start=1):
        writer.writerow([neutralise(_cell(value)) for value in row])
        if count % chunk_rows == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
    db.session.rollback()  # end the long read
