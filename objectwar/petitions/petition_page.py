"""The petition page and its widget: what they show, assembled here once, and drawing them.

What the page shows beside the petition (its public signers, the share links,
the organisation a signature is credited to) lives here too. Signing itself
(input, the bot traps, storing, sending, confirming) is ``signing.py``; this
module only asks it for the form's stamp and the consent version it shows.
"""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import quote, urlencode

from flask import current_app, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from objectwar.errors import NotFound, ValidationError
from objectwar.extensions import db
from objectwar.i18n import current_locale
from objectwar.markup import render_markdown
from objectwar.organisations.models import Organisation, OrganisationStatus
from objectwar.petitions import counts, page_cache, previews, services, signing, widget
from objectwar.petitions.models import Signature
from objectwar.petitions.services import PublicPetition
from objectwar.validation import is_slug


def page_context(petition: PublicPetition, locale: str, *, embed: bool, values: Any,
                 errors: dict[str, list[str]]) -> dict[str, Any]:
    """What the petition page or the widget shows (the admin's preview shows the same)."""
    # The petition's own figures first, then what this module adds: one visit to each.
    text = petition.text_for(locale)
    progress = services.progress_percent(petition)
    countries = {} if embed else services.by_country(petition)
    milestones = counts.milestones(petition.signature_count, petition.goal)
    organisation = values.get("organisation", "")
    credited = credited_organisation(organisation) if not errors.get("organisation") else None
    return dict(
        petition=petition, text=text, locale=locale,
        body_html=render_markdown(text.body) if text and not embed else "",
        untranslated=text is not None and text.locale != locale,
        progress=progress,
        signers=[] if embed else public_signers(petition),
        countries=countries,
        country_minimum=current_app.config.get("PUBLIC_COUNTRY_MINIMUM", 10),
        milestones=milestones,
        networks=SHARE_NETWORKS,
        embed_snippet=widget.snippet(petition.slug, text.title if text else petition.slug),
        values=values, errors=errors, embed=embed,
        credited=credited, credited_sentence=credited_sentence,
        consent_version=signing.CONSENT_VERSION,
        # Built when the page's <head> asks (the admin's preview of a new petition does not).
        link_preview=functools.partial(previews.tags, petition, locale),
    )


def show(petition: PublicPetition, *, embed: bool, values: Any = None,
         errors: dict[str, list[str]] | None = None, status: int = 200):
    """The petition page or the widget, with the sign form (re-rendered after errors)."""
    locale = current_locale()
    values = values if values is not None else MultiDict({"organisation": request.args.get("org", "")})

    def render(**holes: Any) -> str:
        return render_template("petitions/embed.html" if embed else "petitions/detail.html",
                               **page_context(petition, locale, embed=embed, values=values,
                                              errors=errors or {}), **holes)

    if errors:  # shown again after a submission: a first press of Sign is behind the visitor
        return render(csrf_token=generate_csrf, stamp=signing.form_stamp(shown_again=True)), status
    key = (*petition.cache_key, locale, embed)
    return page_cache.page(key, render, signing.form_stamp), status


def show_again(slug: str, *, embed: bool, values: Any, errors: dict[str, list[str]],
               status: int = 200):
    """The page at ``slug`` once more after a submission, with the form's values and errors.

    :raise NotFound: no such public petition.
    """
    return show(services.get_public_petition(slug), embed=embed, values=values, errors=errors,
                status=status)


def credited_organisation(slug: str | None) -> Organisation | None:
    """The member organisation ``?org=`` names, to show the signer who gets the credit."""
    if not is_slug(slug):
        return None
    return db.session.scalar(select(Organisation).where(
        Organisation.slug == slug, Organisation.status == OrganisationStatus.MEMBER))


def credited_sentence(name: str) -> str:
    """"Your signature is counted for NAME." with one full stop after a name ending in one."""
    sentence = _("Your signature is counted for %(name)s.", name=name)
    return sentence.replace(f"{name}.", name) if name.endswith(".") else sentence



# How many of the latest confirmations the list of public signers looks through:
# a bounded index scan, however many signatures (and however few public ones) exist.
SIGNERS_SCAN = 1000


def public_signers(petition: PublicPetition, limit: int = 10) -> list[dict[str, str]]:
    """The latest confirmed signers who asked to be shown: first name, initial, country.

    Kept per process until the petition's state or cached content changes: a
    new confirmation moves the count, an erasure the count of erased signatures
    (the count alone may come back to a value seen before).
    """
    cache: dict[int, tuple[tuple, list[dict[str, str]]]] = current_app.extensions.setdefault(
        "objectwar.public_signers", {}
    )
    cached = cache.get(petition.id)
    if cached is not None and cached[0] == petition.cache_key:
        return cached[1][:limit]
    signers = _latest_public_signers(petition.id, limit)
    cache[petition.id] = (petition.cache_key, signers)
    return signers


def _latest_public_signers(petition_id: int, limit: int) -> list[dict[str, str]]:
    recent = (
        select(Signature.id)
        .where(Signature.petition_id == petition_id, Signature.confirmed_at.is_not(None))
        .order_by(Signature.confirmed_at.desc())
        .limit(SIGNERS_SCAN)
    )
    rows = db.session.scalars(
        select(Signature)
        .where(Signature.id.in_(recent.scalar_subquery()), Signature.public_name.is_(True))
        .order_by(Signature.confirmed_at.desc(), Signature.id.desc())
        .limit(limit)
    )
    return [
        {"name": f"{row.first_name} {row.last_name[:1]}.", "country": row.country}
        for row in rows
    ]


SHARE_NETWORKS = ("email", "telegram", "whatsapp", "mastodon", "bluesky", "x", "facebook")


def share_url(network: str, url: str, title: str, instance: str | None = None) -> str:
    """Where a share link for ``network`` goes: a plain URL, no third-party script.

    :raise NotFound: unknown network. :raise ValidationError: bad Mastodon server name.
    """
    message = f"{title} {url}"
    if network == "email":
        return "mailto:?" + urlencode({"subject": title, "body": message}, quote_via=quote)
    if network == "telegram":
        return "https://t.me/share/url?" + urlencode({"url": url, "text": title})
    if network == "whatsapp":
        return "https://wa.me/?" + urlencode({"text": message})
    if network == "bluesky":
        return "https://bsky.app/intent/compose?" + urlencode({"text": message})
    if network == "x":
        return "https://x.com/intent/post?" + urlencode({"text": title, "url": url})
    if network == "facebook":
        return "https://www.facebook.com/sharer/sharer.php?" + urlencode({"u": url})
    if network == "mastodon":
        host = _mastodon_host(instance)
        return f"https://{host}/share?" + urlencode({"text": message})
    raise NotFound()


def _mastodon_host(instance: str | None) -> str:
    host = (instance or "").strip().lower().removeprefix("https://").removeprefix("@")
    host = host.rpartition("@")[2].split("/")[0]
    labels = host.split(".")
    valid = (
        2 <= len(labels) <= 10 and len(host) <= 253
        and all(label and len(label) <= 63 and label.replace("-", "").isalnum()
                and label.isascii() and not label.startswith("-") for label in labels)
    )
    if not valid:
        raise ValidationError(errors={"instance": [
            _("Enter the name of your Mastodon server, for example mastodon.social.")
        ]})
    return host

