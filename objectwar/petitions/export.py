"""The handover export: a petition's confirmed signatures as CSV, streamed.

What the campaign hands to the people a petition addresses. UTF-8 with a byte
order mark (spreadsheets read it as UTF-8), every cell formula-safe, names
decrypted as the rows stream (constant memory whatever the count). The email
column only when asked for by name. Every export is audited with its columns
and its number of rows.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask_babel import gettext as _
from sqlalchemy import func, select

from objectwar import csvstream
from objectwar.audit.services import record
from objectwar.errors import ValidationError
from objectwar.extensions import db
from objectwar.organisations.models import Organisation
from objectwar.petitions.models import Petition, Signature

COLUMNS = {
    "first_name": Signature.first_name,
    "last_name": Signature.last_name,
    "country": Signature.country,
    "organisation": Organisation.slug,
    "confirmed_at": Signature.confirmed_at,
    "email": Signature.email,
}
DEFAULT_COLUMNS = ("first_name", "last_name", "country", "organisation", "confirmed_at")


def parse_columns(raw: str | list[str] | None, *, default_when_none: bool = True) -> list[str]:
    """The columns asked for (``?columns=a,b`` or a list), in the order given; the default
    set when none (unless ``default_when_none`` is false: then none is an error).
    :raise ValidationError: an unknown column, or one named twice, or none."""
    if (raw is None or raw == "" or raw == []) and default_when_none:
        return list(DEFAULT_COLUMNS)
    raw = raw or []
    names = [name.strip() for name in (raw.split(",") if isinstance(raw, str) else raw)]
    unknown = [name for name in names if name not in COLUMNS]
    if unknown or len(set(names)) != len(names) or not names:
        raise ValidationError(errors={"columns": [_(
            "Choose columns among: %(columns)s, each once.", columns=", ".join(COLUMNS))]})
    return names


def signatures_csv(petition: Petition, columns: list[str], *, actor_id: int | None,
                   chunk_rows: int = 1000) -> Iterator[str]:
    """Audit the export, then return the CSV as a stream of chunks (read as it is sent)."""
    record("petition.export", petition, actor_id=actor_id, columns=columns,
           rows=petition.signature_count)
    db.session.commit()
    return _rows(petition.id, columns, chunk_rows)


def _rows(petition_id: int, columns: list[str], chunk_rows: int) -> Iterator[str]:
    query = (
        select(*(COLUMNS[name] for name in columns))
        .select_from(Signature)
        .outerjoin(Organisation, Organisation.id == Signature.organisation_id)
        .where(Signature.petition_id == petition_id, Signature.confirmed_at.is_not(None))
        .order_by(Signature.id)
        .execution_options(yield_per=chunk_rows)
    )
    return csvstream.stream(query, columns, chunk_rows=chunk_rows, bom=True)


def public_names(petition_id: int, chunk_rows: int = 1000) -> Iterator[tuple[str, str, str]]:
    """First name, last name and country of every confirmed signer who asked to be named,
    in the order they confirmed; read in chunks as the page is rendered."""
    query = (
        select(Signature.first_name, Signature.last_name, Signature.country)
        .where(Signature.petition_id == petition_id, Signature.confirmed_at.is_not(None),
               Signature.public_name.is_(True))
        .order_by(Signature.confirmed_at, Signature.id)
        .execution_options(yield_per=chunk_rows)
    )
    for row in db.session.execute(query):
        yield row.first_name, row.last_name, row.country


PARTNER_COLUMNS = ("first_name", "last_name", "email", "country", "confirmed_at")


def partner_csv(organisation: Organisation, *, actor_id: int,
                chunk_rows: int = 1000) -> Iterator[str]:
    """The signers credited to a partner who agreed that it may contact them, as CSV.

    Audited with the number of rows; signers who did not agree are never in it.
    """
    consenting = (Signature.organisation_id == organisation.id,
                  Signature.confirmed_at.is_not(None), Signature.partner_consent.is_(True))
    rows = db.session.scalar(select(func.count()).select_from(Signature).where(*consenting))
    record("organisation.signatures_export", organisation, actor_id=actor_id, rows=rows)
    db.session.commit()
    query = (select(*(COLUMNS[name] for name in PARTNER_COLUMNS)).where(*consenting)
             .order_by(Signature.id).execution_options(yield_per=chunk_rows))
    return csvstream.stream(query, PARTNER_COLUMNS, chunk_rows=chunk_rows, bom=True)
