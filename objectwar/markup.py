"""Safe HTML from Markdown written by partners and coordinators (descriptions, petitions)."""

from __future__ import annotations

import html as html_module

import markdown
import nh3
from markupsafe import Markup

ALLOWED_TAGS = {"p", "br", "strong", "em", "a", "ul", "ol", "li", "blockquote", "code"}
ALLOWED_ATTRIBUTES = {"a": {"href"}}
URL_SCHEMES = {"http", "https", "mailto"}


def render_markdown(text: str | None) -> Markup:
    """Markdown to HTML, then sanitised by nh3: a small allow-list, links ``nofollow noopener``."""
    html = markdown.markdown(text or "", output_format="html")
    return Markup(nh3.clean(  # noqa: S704 (sanitised just now)
        html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes=URL_SCHEMES,
        link_rel="nofollow noopener",
    ))


def plain_excerpt(text: str | None, length: int = 160) -> str:
    """The first line of a Markdown text as plain text, cut at ``length`` characters."""
    html = markdown.markdown(text or "", output_format="html")
    plain = nh3.clean(html, tags=set()).strip()
    first = plain.split("\n", 1)[0].strip()
    first = html_module.unescape(first)
    return first if len(first) <= length else first[: length - 1].rstrip() + "…"
