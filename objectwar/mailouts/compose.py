"""Composing a mail-out's messages: rendering, sender, Reply-To, previews, the test mail,
and the frozen :class:`Snapshot` that the sending works from.

A coordinator's text is never a template: the only personalisation is the
fixed placeholders ``{{ name }}`` and ``{{ unsubscribe_url }}``, filled by plain
substitution; anything else between braces is sent as written.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formataddr, parseaddr
from types import MappingProxyType
from typing import Any

import markdown
import nh3
from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_mail import Message
from markupsafe import Markup
from sqlalchemy import select

from objectwar import security
from objectwar.accounts.models import User
from objectwar.audit.services import record
from objectwar.errors import ValidationError
from objectwar.extensions import db
from objectwar.mail import addresses, verp
from objectwar.mail import notices as mail_notices
from objectwar.mail.message import RawTemplate, external_url
from objectwar.mail.models import Notice, NoticeKind
from objectwar.mailing import list_texts
from objectwar.mailing.models import MailingList, Mailout, MailoutText
from objectwar.mailing.unsubscribe import unsubscribe_mailbox, unsubscribe_token
from objectwar.mailouts.queries import get_mailout
from objectwar.security import email_digest

PLACEHOLDERS = ("name", "unsubscribe_url")
PLACEHOLDER_RE = re.compile(r"\{\{\s*(" + "|".join(PLACEHOLDERS) + r")\s*\}\}")
# The subject of the mailto: a mail client sends "unsubscribe <token>" (the token is URL-safe).
MAILTO_SUBJECT = "unsubscribe"
TOKEN_SLOT = "XTOKENSLOTX"  # noqa: S105 (not a secret: stands for the token in a URL)


def reply_to_choices() -> dict[str, str]:
    """The Reply-To addresses a mail-out may have (``MAIL_FROM_CHOICES``): address → header."""
    return {parseaddr(entry)[1]: entry for entry in current_app.config["MAIL_FROM_CHOICES"]}


@dataclass(frozen=True)
class Rendered:
    """One locale's message with placeholder markers in place of the personal values."""

    locale: str
    subject: str
    text: str
    html: str
    markers: dict[str, str]


def text_for(mailout: Mailout, locale: str) -> MailoutText:
    """The recipient's locale's text, else the default locale's."""
    by_locale = {text.locale: text for text in mailout.texts}
    return by_locale.get(locale) or by_locale.get(mailout.default_locale) or mailout.texts[0]


def markdown_to_html(source: str) -> str:
    """Markdown rendered, then cleaned by nh3 (no scripts, styles or event handlers)."""
    return nh3.clean(markdown.markdown(source, extensions=["sane_lists"], output_format="html"))


def render(mailout: Mailout, locale: str) -> Rendered:
    """Render ``locale``'s message once; personal values go in later by substitution."""
    text = text_for(mailout, locale)
    # Markers of letters and digits only pass Markdown and nh3 unchanged, and a
    # coordinator cannot guess them to smuggle something in.
    nonce = secrets.token_hex(6).upper()
    markers = {name: f"XOWPH{nonce}{name.upper().replace('_', '')}X" for name in PLACEHOLDERS}
    body = PLACEHOLDER_RE.sub(lambda match: markers[match.group(1)], text.body_markdown)
    with force_locale(text.locale):
        context = {
            "locale": text.locale,
            "list_name": list_texts.for_locale(mailout.mailing_list, text.locale).name,
            "unsubscribe_url": markers["unsubscribe_url"],
        }
        plain = render_template("emails/mailout.txt", body=body, **context)
        html = render_template("emails/mailout.html", body=Markup(markdown_to_html(body)),  # noqa: S704 (nh3-cleaned)
                               subject=text.subject, **context)
    return Rendered(text.locale, text.subject, plain, html, markers)


def sender(mailout: Mailout) -> str | tuple[str, str]:
    """The From line: the mail-out's name, if it has one, on the configured address
    (``(name, address)``, as Flask-Mail takes it)."""
    configured = current_app.config["MAIL_DEFAULT_SENDER"]
    if not mailout.from_name:
        return configured
    return mailout.from_name, parseaddr(configured)[1]


def sender_text(mailout: Mailout) -> str:
    """The From line as people read it (not encoded for a header)."""
    found = sender(mailout)
    return f"{found[0]} <{found[1]}>" if isinstance(found, tuple) else found


def reply_to(mailout: Mailout) -> str | None:
    """The Reply-To line as configured (with its name); ``None``: none, or no longer allowed."""
    if not mailout.reply_to:
        return None
    allowed = {address.lower(): entry for address, entry in reply_to_choices().items()}
    return allowed.get(mailout.reply_to.lower())


def message_template(mailout: Mailout, rendered: Rendered) -> RawTemplate:
    """The fixed part of one locale's message: headers and bodies with markers."""
    mailing_list = mailout.mailing_list
    headers = {
        "List-Id": f"{mailing_list.name} <{mailing_list.slug}.{addresses.public_host()}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "Auto-Submitted": "auto-generated",
        "Precedence": "bulk",
        "Content-Language": rendered.locale,
    }
    if answer_to := reply_to(mailout):
        headers["Reply-To"] = answer_to
    from_line = sender(mailout)
    return RawTemplate(subject=rendered.subject, text=rendered.text,
                       sender=formataddr(from_line) if isinstance(from_line, tuple) else from_line,
                       html=rendered.html, headers=headers)


def personalised(mailout: Mailout, locale: str, name: str, unsubscribe_url: str) -> Rendered:
    """``locale``'s message with the placeholders filled (HTML part values escaped)."""
    rendered = render(mailout, locale)
    values = {rendered.markers["name"]: name, rendered.markers["unsubscribe_url"]: unsubscribe_url}
    text, html = rendered.text, rendered.html
    for marker, value in values.items():
        text = text.replace(marker, value)
        html = html.replace(marker, str(Markup.escape(value)))
    return Rendered(rendered.locale, rendered.subject, text, html, {})


def preview(mailout: Mailout, locale: str) -> dict[str, Any]:
    """Subject, text and HTML of ``locale``'s message as a sample recipient gets it.

    The HTML is cleaned once more (no document, head or style), safe to show inside a page.
    """
    rendered = personalised(mailout, locale, _("Alex Example"),
                            f"{current_app.config['PUBLIC_URL'].rstrip('/')}/unsubscribe/…")
    return {"locale": rendered.locale, "subject": rendered.subject, "text": rendered.text,
            "html": Markup(nh3.clean(rendered.html, clean_content_tags={"script", "style", "title"}))}  # noqa: S704 (nh3-cleaned)


def request_test(mailout_id: int, locale: str, *, actor: User) -> Notice:
    """Add a test of ``locale``'s message, to the coordinator's own address, to the outbox.

    Committed with the audit record; the caller queues the notice's id.
    :raise ValidationError: the mail-out has no text in that locale.
    """
    mailout = get_mailout(mailout_id)
    if locale not in {text.locale for text in mailout.texts}:
        raise ValidationError(errors={"locale": [_("Choose one of the languages offered.")]})
    notice = mail_notices.queue(NoticeKind.MAILOUT_TEST, mailout_id, actor.email, locale)
    record("mailout.test", target_type="mailout", actor_id=actor.id, mailout_id=mailout_id,
           locale=locale)
    db.session.commit()
    return notice


def message_for_test(mailout_id: int, recipient: str, locale: str) -> Message | None:
    """The test of a mail-out in ``locale`` for the coordinator with this address.

    ``None`` when there is nothing to send any more: the mail-out is gone, or
    the address is no longer an active coordinator's.
    """
    mailout = db.session.get(Mailout, mailout_id)
    user = db.session.scalar(select(User).where(User.email_digest == email_digest(recipient)))
    if mailout is None or not mailout.texts or user is None or not user.active or not user.is_coordinator:
        return None
    with force_locale(text_for(mailout, locale).locale):
        sample_name = _("Alex Example")
        subject = _("[Test] %(subject)s", subject=text_for(mailout, locale).subject)
    rendered = personalised(mailout, locale, sample_name,
                            external_url("mailing.unsubscribe", token=sample_unsubscribe_token(mailout.list_id)))
    return Message(subject=subject, recipients=[recipient], body=rendered.text,
                   html=rendered.html, sender=sender(mailout), reply_to=reply_to(mailout))


# A test's unsubscribe link: it opens a page that says it is a sample and changes nothing.
SAMPLE_UNSUBSCRIBE_PURPOSE = "unsubscribe-sample"


def sample_unsubscribe_token(list_id: int) -> str:
    """The token of the unsubscribe link in a test of a mail-out to this list."""
    return security.make_token(SAMPLE_UNSUBSCRIBE_PURPOSE, [list_id])


def sample_list(token: str) -> MailingList | None:
    """The list of a test's sample unsubscribe link; ``None``: not such a link."""
    try:
        payload = security.read_token(SAMPLE_UNSUBSCRIBE_PURPOSE, token)
    except security.TokenError:
        return None
    if (not isinstance(payload, list) or len(payload) != 1
            or not isinstance(payload[0], int) or isinstance(payload[0], bool)):
        return None
    return db.session.get(MailingList, payload[0])


# -- what the sending works from ---------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """One mail-out as its sending needs it, built once per run of ``send.run``: each
    locale's message (subject, bodies, sender, headers) rendered, the per-run values
    computed. Sending a recipient only substitutes name, unsubscribe URL, To and
    Message-ID; it never reads the mail-out again."""

    mailout_id: int
    list_id: int
    # The text's locale -> its message with markers, and the markers.
    templates: Mapping[str, tuple[RawTemplate, Mapping[str, str]]]
    fallback: str | None  # the default locale's text, else the first (``text_for``)
    unsubscribe_base: str
    mailto: str
    bounce: str
    host: str

    def template(self, locale: str) -> tuple[RawTemplate, Mapping[str, str]]:
        """The recipient's locale's message, else the default locale's (as :func:`text_for`)."""
        found = self.templates.get(locale)
        if found is None:
            if self.fallback is None:
                raise IndexError("the mail-out has no text")
            found = self.templates[self.fallback]
        return found

    def message(self, delivery_id: int, subscriber_id: int, address: str, name: str | None,
                locale: str) -> tuple[str, bytes]:
        """The delivery's envelope sender and message. Both name the delivery, signed
        once (``objectwar.mail.verp``): its bounce or complaint report finds it."""
        template, markers = self.template(locale)
        token = unsubscribe_token(subscriber_id, self.list_id)
        url = self.unsubscribe_base.replace(TOKEN_SLOT, token)
        signed = verp.signature(verp.Tag(verp.Sent.MAILOUT, (self.mailout_id, delivery_id)))
        envelope = verp.envelope_sender(verp.Sent.MAILOUT, self.mailout_id, delivery_id,
                                        bounce=self.bounce, signed=signed)
        return envelope, template.render(
            to=address, to_name=name,
            message_id=verp.message_id(self.mailout_id, delivery_id, signed=signed, host=self.host),
            values={markers["name"]: name or "", markers["unsubscribe_url"]: url},
            headers={"List-Unsubscribe": f"<{url}>, <{self.mailto}{token}>"},
        )


def snapshot(mailout: Mailout) -> Snapshot:
    """Render every locale's message of ``mailout`` (texts and list loaded) once."""
    templates = {}
    for text in mailout.texts:
        rendered = render(mailout, text.locale)
        templates[text.locale] = (message_template(mailout, rendered),
                                  MappingProxyType(dict(rendered.markers)))
    fallback = text_for(mailout, mailout.default_locale).locale if mailout.texts else None
    return Snapshot(
        mailout_id=mailout.id, list_id=mailout.list_id,
        templates=MappingProxyType(templates), fallback=fallback,
        # Built once: only the token changes between recipients.
        unsubscribe_base=external_url("mailing.unsubscribe", token=TOKEN_SLOT),
        mailto=f"mailto:{unsubscribe_mailbox()}?subject={MAILTO_SUBJECT}%20",
        bounce=verp.bounce_address(), host=addresses.public_host(),
    )
