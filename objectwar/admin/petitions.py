"""``/admin`` (the coordinator's dashboard) and ``/admin/petitions``: how the campaign goes.

Attached to the ``admin`` blueprint. Figures come from ``petitions.stats`` (SQL);
charts are SVG documents drawn on the server, shown as images, with the same
numbers in a table beside them.
"""

from __future__ import annotations

from flask import Response, render_template
from flask_babel import gettext as _

from objectwar.accounts import permissions
from objectwar.admin.views import bp
from objectwar.mailing import lists, mailouts
from objectwar.petitions import services, stats

CHART_CSP = "default-src 'none'; style-src 'unsafe-inline'"


@bp.get("/")
@permissions.coordinator_required
def dashboard():
    """The petitions with their counts, the lists and the latest mail-outs."""
    recent = [(m, mailouts.text_for(m, m.default_locale).subject, mailouts.progress(m))
              for m in mailouts.recent_mailouts(limit=5)]
    return render_template("admin/dashboard.html", petitions=stats.overview(),
                           lists=lists.lists_with_counts(), mailouts=recent)


@bp.get("/petitions")
@permissions.coordinator_required
def petitions_index():
    return render_template("admin/petitions.html", petitions=stats.overview())


@bp.get("/petitions/<slug>")
@permissions.coordinator_required
def petition_stats(slug: str):
    petition = services.get_petition(slug)
    text = petition.text_for(petition.default_locale)
    numbers = stats.petition_stats(petition)
    return render_template("admin/petition_stats.html", petition=petition,
                           title=text.title if text else petition.slug, numbers=numbers,
                           most_by_country=max(numbers["by_country"].values(), default=0),
                           most_by_organisation=max(numbers["by_organisation"].values(), default=0))


@bp.get("/petitions/<slug>/days.svg")
@permissions.coordinator_required
def petition_day_chart(slug: str):
    """The per-day chart as an SVG image (its inline styles allowed in this document only)."""
    petition = services.get_petition(slug)
    svg = stats.day_chart(stats.by_day(petition.id), title=_("Signatures per day (UTC)"),
                          labels=(_("Signed"), _("Confirmed")))
    response = Response(svg, mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = CHART_CSP
    response.headers["Cache-Control"] = "private, no-store"
    return response
