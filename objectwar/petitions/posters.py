"""Posters and QR codes for street campaigning.

A poster or flyer handed out at an event carries a QR code of the petition's
address with ``?org=``: signatures through it are credited to the organisation
that handed it out, as through its link or widget. The code is drawn by segno.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import segno
from flask import current_app, render_template, request, url_for
from flask_babel import force_locale
from markupsafe import Markup

from objectwar.mail import message as mailer
from objectwar.organisations.models import Organisation
from objectwar.petitions.services import PublicPetition

INK = "#1b1b1f"  # the campaign's ink (static/style.css)


def petition_url(slug: str, organisation: Organisation | None) -> str:
    """The petition's public address, crediting ``organisation`` when given."""
    return mailer.external_url("petitions.detail", slug=slug,
                               org=organisation.slug if organisation else None)


def _code(url: str) -> segno.QRCode:
    # Level M survives a crease or a smudge on a printed sheet and keeps the code small.
    return segno.make(url, error="m", micro=False)


def qr_svg(url: str) -> str:
    """The QR code of ``url`` as a standalone SVG document (scalable for print)."""
    out = io.BytesIO()
    _code(url).save(out, kind="svg", scale=10, border=4, dark=INK, title=url)
    return out.getvalue().decode("utf-8")


def qr_inline(url: str) -> Markup:
    """The QR code of ``url`` as an ``<svg>`` element to put in a page (sized by CSS)."""
    svg = _code(url).svg_inline(scale=10, border=4, dark=INK, omitsize=True, svgclass="qr-code",
                                title=url)  # segno escapes the title
    return Markup(svg)  # noqa: S704 (segno's drawing: paths and the escaped title only)


def qr_png(url: str) -> bytes:
    """The QR code of ``url`` as a PNG, 20 pixels a module (sharp when printed large)."""
    out = io.BytesIO()
    _code(url).save(out, kind="png", scale=20, border=4, dark=INK)
    return out.getvalue()


@dataclass(frozen=True)
class Poster:
    """What the printable poster shows, in one language."""

    locale: str
    title: str
    summary: str
    demands: list[tuple[str, str]]
    url: str
    qr: Markup
    organisation: str | None


def poster(petition: PublicPetition, organisation: Organisation | None, locale: str) -> Poster:
    """The poster of ``petition`` in ``locale``, its code crediting ``organisation``."""
    text = petition.text_for(locale)
    demands = [(view.title, view.text or "") for view in
               (demand.text_for(locale) for demand in petition.demands) if view is not None]
    url = petition_url(petition.slug, organisation)
    return Poster(locale=locale, title=text.title if text else petition.slug,
                  summary=text.summary if text else "", demands=demands, url=url,
                  qr=qr_inline(url), organisation=organisation.name if organisation else None)


def poster_locale(asked: str | None, fallback: str) -> str:
    """The poster's language: the one asked for when we have it, else ``fallback``."""
    return asked if asked in current_app.config["LANGUAGES"] else fallback


def render_page(poster: Poster, *, qr_endpoint: str, back_url: str, **qr_args: str) -> str:
    """The printable poster page, in the poster's language; ``qr_endpoint`` serves its code."""

    def locale_url(code: str) -> str:  # this page in another language, the credit kept
        return url_for(request.endpoint or "", **(request.view_args or {}),
                       **{**request.args.to_dict(), "locale": code})

    # The sheet in its own language; the page around it in the viewer's.
    with force_locale(poster.locale):
        sheet = Markup(render_template("petitions/_poster_sheet.html", poster=poster))  # noqa: S704
    return render_template(
        "petitions/poster.html", poster=poster, sheet=sheet, back_url=back_url,
        locale_url=locale_url,
        qr_svg_url=url_for(qr_endpoint, kind="svg", **qr_args),
        qr_png_url=url_for(qr_endpoint, kind="png", **qr_args))
