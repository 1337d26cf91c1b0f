"""The petition widget's snippet: what partners paste into their own pages.

The frame's height fits the widget at 360 px wide, its field errors included,
in the longest of our languages, so the Sign button is never hidden in a
second scroll area. The optional script on the second line (served from our
host) makes the frame as tall as the widget instead: the widget posts its
height (``static/widget-height.js``), the partner's page resizes the frame.
"""

from __future__ import annotations

from markupsafe import escape

from objectwar.mail.message import external_url

# Measured in Chromium at 360 px (tests/test_widget_browser.py): the tallest widget,
# credited to an organisation and showing every field error, in any of our languages
# (930 px in Russian and Ukrainian), and a little room for wider fonts and longer names.
HEIGHT = 980


def snippet(slug: str, title: str, organisation: str | None = None) -> str:
    """The iframe for the petition's widget, and the optional auto-height script after it."""
    src = external_url("petitions.embed", slug=slug, org=organisation)
    script = external_url("static", filename="widget-resize.js")
    return (f'<iframe src="{escape(src)}" title="{escape(title)}" width="100%" '
            f'height="{HEIGHT}" loading="lazy"></iframe>\n'
            f'<script src="{escape(script)}" async></script>')
