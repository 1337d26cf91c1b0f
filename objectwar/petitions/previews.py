"""Link previews: the petition page's Open Graph tags and its share image.

A link pasted into a messenger is shown with the page's ``og:`` tags and the
image they name: a 1200×630 PNG drawn here with Pillow from the petition's
title in the page's language, in the campaign's colours, with the count.

The image shows the count rounded down to its two leading digits (57, 120,
1,200, 56,000; exact below 100), so it is drawn again only when the count
crosses such a round number, at most ninety times per power of ten, and the
number on it stays true until the next drawing ("at least 1,200"). The image's
address carries that rounded count, so previews fetch the new image.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from babel import Locale
from babel.core import get_global
from flask import current_app
from flask_babel import format_number, get_translations, gettext
from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

from objectwar.mail import message as mailer
from objectwar.petitions import page_cache
from objectwar.petitions.services import PublicPetition

WIDTH, HEIGHT = 1200, 630
MARGIN = 72
# The campaign's colours (static/style.css: --ink, --accent, --paper, --line, --muted).
INK, ACCENT, PAPER, LINE, MUTED = "#1b1b1f", "#b3261e", "#ffffff", "#d9d7d0", "#5b5b66"
# Fonts with Cyrillic glyphs (Debian's fonts-dejavu-core, fonts-liberation); the
# first found is used, else Pillow's own scalable font (Latin only, never missing).
FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype/liberation",
             "/usr/share/fonts/TTF", "/usr/share/fonts/dejavu")
BOLD_FONTS = ("DejaVuSans-Bold.ttf", "LiberationSans-Bold.ttf")
REGULAR_FONTS = ("DejaVuSans.ttf", "LiberationSans-Regular.ttf")
TITLE_SIZES = (68, 60, 54, 48, 42, 38)
TITLE_LINES = 4


def count_floor(count: int) -> int:
    """``count`` with every digit after its first two set to zero (exact below 100)."""
    if count < 100:
        return max(count, 0)
    scale = 10 ** (len(str(count)) - 2)
    return count // scale * scale


def og_locale(code: str) -> str:
    """An Open Graph locale (``language_TERRITORY``) for one of our language codes."""
    likely = get_global("likely_subtags").get(code, code)
    locale = Locale.parse(likely)
    return f"{locale.language}_{locale.territory}" if locale.territory else locale.language


def tags(petition: PublicPetition, locale: str) -> dict[str, Any]:
    """What the page's ``<head>`` says to link previews and search engines."""
    text = petition.text_for(locale)
    title = text.title if text else petition.slug
    translated = [code for code in current_app.config["LANGUAGES"] if code in petition.content.texts]
    return {
        "title": title,
        "description": _shorten(text.summary if text else "", 200),
        "url": mailer.external_url("petitions.detail", slug=petition.slug, lang=locale),
        "default_url": mailer.external_url("petitions.detail", slug=petition.slug),
        "image": mailer.external_url("petitions.share_image", slug=petition.slug, locale=locale,
                                     v=count_floor(petition.signature_count)),
        "locale": og_locale(locale),
        "alternates": [(code, og_locale(code),
                        mailer.external_url("petitions.detail", slug=petition.slug, lang=code))
                       for code in translated if code != locale],
    }


def share_png(petition: PublicPetition, locale: str) -> bytes:
    """The share image in ``locale`` (the current locale: call under ``force_locale``)."""
    text = petition.text_for(locale)
    title = text.title if text else petition.slug
    shown = count_floor(petition.signature_count)
    key = ("share.png", petition.id, locale, title, petition.goal, shown)
    progress = shown / max(petition.goal, 1)
    return page_cache.document(key, lambda: draw(title, _count_line(shown, petition), progress),
                          kind="share_images")


def _count_line(shown: int, petition: PublicPetition) -> str:
    # Flask-Babel's ngettext fills in the bare number; the image shows it formatted (1,200).
    catalog = get_translations()
    if shown < 100:
        line = catalog.ngettext("%(num)s signature", "%(num)s signatures", shown)
    else:
        line = catalog.ngettext("At least %(num)s signature", "At least %(num)s signatures", shown)
    line %= {"num": format_number(shown)}
    return f"{line} · {gettext('goal: %(goal)s', goal=format_number(petition.goal))}"


def draw(title: str, count_line: str, progress: float) -> bytes:
    """A 1200×630 PNG: the campaign's name, ``title`` wrapped to fit, a progress bar, the count."""
    image = Image.new("RGB", (WIDTH, HEIGHT), PAPER)
    pen = ImageDraw.Draw(image)
    pen.rectangle((0, 0, 24, HEIGHT), fill=ACCENT)
    pen.text((MARGIN, 56), "#ObjectWarCampaign", font=_font(BOLD_FONTS, 34), fill=ACCENT)
    font, lines = _fit(pen, title, WIDTH - 2 * MARGIN)
    line_height = int(getattr(font, "size", TITLE_SIZES[-1]) * 1.22)  # a bitmap font has none
    top = 130 + (TITLE_LINES * int(TITLE_SIZES[0] * 1.22) - len(lines) * line_height) // 3
    for number, line in enumerate(lines):
        pen.text((MARGIN, top + number * line_height), line, font=font, fill=INK)
    bar = (MARGIN, 486, WIDTH - MARGIN, 510)
    pen.rounded_rectangle(bar, radius=12, fill=LINE)
    filled = bar[0] + int((bar[2] - bar[0]) * min(max(progress, 0.0), 1.0))
    if filled > bar[0] + 24:
        pen.rounded_rectangle((bar[0], bar[1], filled, bar[3]), radius=12, fill=ACCENT)
    pen.text((MARGIN, 534), count_line, font=_font(REGULAR_FONTS, 34), fill=MUTED)
    info = PngInfo()
    info.add_itxt("Title", title)  # the title as text too, for tools that read it
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True, pnginfo=info)
    return out.getvalue()


def _fit(pen: ImageDraw.ImageDraw, title: str,
         width: int) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, list[str]]:
    """The largest title font whose wrapped lines fit; the last size cuts with an ellipsis."""
    for size in TITLE_SIZES:
        font = _font(BOLD_FONTS, size)
        lines = _wrap(pen, title, font, width)
        if len(lines) <= TITLE_LINES:
            return font, lines
    lines[TITLE_LINES - 1] = _shorten(" ".join(lines[TITLE_LINES - 1:]), 40)
    return font, [_cut(pen, line, font, width) for line in lines[:TITLE_LINES]]


def _wrap(pen: ImageDraw.ImageDraw, text: str, font: Any, width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and pen.textlength(candidate, font=font) <= width:
            lines[-1] = candidate
        else:
            lines.append(_cut(pen, word, font, width))
    return lines or [""]


def _cut(pen: ImageDraw.ImageDraw, text: str, font: Any, width: int) -> str:
    """``text``, shortened with an ellipsis until it fits ``width`` (a very long word)."""
    if pen.textlength(text, font=font) <= width:
        return text
    while text and pen.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit - 1].rsplit(" ", 1)[0].rstrip(",;:.") + "…"


@functools.cache
def _font(names: Sequence[str], size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for name in names:
        for folder in FONT_DIRS:
            path = Path(folder) / name
            if path.exists():
                return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)
