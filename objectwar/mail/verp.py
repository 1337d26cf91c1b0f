"""The envelope sender of every email names what was sent (VERP), for the reports that come back.

Every message leaves with ``bounces+<token>@domain`` (``BOUNCE_ADDRESS`` with a
tag) as its envelope sender, the Return-Path. A relay that cannot deliver it
sends its report there, so the report names the delivery even when it quotes
nothing of the message. The token is the kind of email (:class:`Sent`), the
ids of its row, and a short signature (``security.short_signature``): nobody
can name a delivery they did not receive, and a report for a message of
another installation (another key) is recognised as not ours. Lower-case
letters, digits and hyphens only: some MTAs change the case of a local part.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from email.utils import parseaddr

from objectwar import security
from objectwar.mail import addresses

PURPOSE = "verp"
DELIMITER = "+"  # Postfix's recipient_delimiter, Exim's local_part_suffix


class Sent(enum.StrEnum):
    """What an email was, as its envelope sender says."""

    MAILOUT = "m"  # a mail-out's delivery: (mail-out id, delivery id)
    SIGNATURE = "s"  # a signature's confirmation (or reminder): (signature id,)
    SUBSCRIPTION = "c"  # a subscription's confirmation (or reminder): (subscription id,)
    NOTICE = "n"  # a notice of the outbox: (notice id,)


ARITY = {Sent.MAILOUT: 2, Sent.SIGNATURE: 1, Sent.SUBSCRIPTION: 1, Sent.NOTICE: 1}
TOKEN = re.compile(r"([a-z])(\d{1,18}(?:-\d{1,18})*)-([a-z2-7]{16})")


class NotOurs(Exception):
    """A token of the right shape whose signature does not verify (another installation's)."""


@dataclass(frozen=True)
class Tag:
    """One email sent: its kind and the ids of its row."""

    kind: Sent
    ids: tuple[int, ...]

    @property
    def payload(self) -> str:
        return self.kind.value + "-".join(str(i) for i in self.ids)


def bounce_address() -> str:
    """``BOUNCE_ADDRESS``, else ``bounces@`` the domain of ``MAIL_DEFAULT_SENDER`` (of
    ``PUBLIC_URL`` without one)."""
    return addresses.mailbox("BOUNCE_ADDRESS", "bounces")


def signature(tag: Tag) -> str:
    """The short signature of ``tag`` (also in a mail-out's Message-ID)."""
    return security.short_signature(PURPOSE, tag.payload)


def envelope_sender(kind: Sent, *ids: int, bounce: str | None = None,
                    signed: str | None = None) -> str:
    """The envelope sender of one email: ``bounces+<token>@domain``, the token being the
    tag and its signature (``m12-3456-<signature>``).

    ``bounce`` (:func:`bounce_address`) and ``signed`` (:func:`signature`) when known
    already: a mail-out computes them once per run and once per message.
    """
    tag = Tag(kind, ids)
    local, _at, domain = (bounce or bounce_address()).rpartition("@")
    return f"{local}{DELIMITER}{tag.payload}-{signed or signature(tag)}@{domain}"


def check(tag: Tag, signed: str) -> Tag:
    """``tag`` if ``signed`` is its signature. :raise NotOurs: it is not."""
    if not security.check_short_signature(PURPOSE, tag.payload, signed):
        raise NotOurs(tag.kind.value)
    return tag


def read_token(text: str) -> Tag | None:
    """The tag of a token of :func:`envelope_sender` (in any case); ``None``: not of that shape.

    :raise NotOurs: the shape is right and the signature wrong.
    """
    match = TOKEN.fullmatch(text.strip().lower())
    if match is None:
        return None
    kind_letter, numbers, signed = match.groups()
    try:
        kind = Sent(kind_letter)
    except ValueError:
        return None
    ids = tuple(int(number) for number in numbers.split("-"))
    if len(ids) != ARITY[kind]:
        return None
    return check(Tag(kind, ids), signed)


def token_of_address(address: str) -> str | None:
    """The token in a VERP address (``bounces+<token>@domain``), if it holds one."""
    local = parseaddr(address)[1].rpartition("@")[0] or address.strip(" <>").rpartition("@")[0]
    base, delimiter, extension = local.partition(DELIMITER)
    return extension if delimiter and base and extension else None


# -- a mail-out's Message-ID, signed like its envelope sender ---------------------------


def message_id(mailout_id: int, delivery_id: int, *, signed: str | None = None,
               host: str | None = None) -> str:
    """The same Message-ID for every attempt at one delivery (duplicates are visible).

    Signed like the envelope sender (:func:`envelope_sender`; ``signed`` when known already):
    a complaint that quotes only the message still names its delivery, and nobody can
    name one they did not receive.
    """
    signed = signed or signature(Tag(Sent.MAILOUT, (mailout_id, delivery_id)))
    return f"<mailout-{mailout_id}.delivery-{delivery_id}.{signed}@{host or addresses.public_host()}>"


MESSAGE_ID = re.compile(r"<?mailout-(\d{1,18})\.delivery-(\d{1,18})\.([a-z2-7]{16})@[^>\s]+>?",
                        re.IGNORECASE)


def read_message_id(value: str) -> Tag | None:
    """The delivery a Message-ID made by :func:`message_id` names; ``None``: not of that shape.

    :raise NotOurs: the shape is right and the signature wrong (another installation's).
    """
    match = MESSAGE_ID.fullmatch(value.strip())
    if match is None:
        return None
    mailout_id, delivery_id, signed = match.groups()
    return check(Tag(Sent.MAILOUT, (int(mailout_id), int(delivery_id))), signed)
