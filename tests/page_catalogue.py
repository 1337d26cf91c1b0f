"""Every kind of HTML page the app serves, with the data each needs (for the page checks).

``PAGES`` lists one ``PageKind`` per page a person can see: public, member and
coordinator pages, and pages re-rendered with form errors (a POST with the data
in ``post``). ``EXCLUDED`` lists the GET endpoints that are not HTML pages, each
with its reason. ``uncatalogued(app)`` names every GET endpoint in neither, so a
new page cannot be left out of tests/test_pages_a11y.py and tests/test_html_valid.py
without a decision.

``seed(app)`` builds the ``World`` the pages' URLs need (ids and tokens) on an
empty database.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import Flask, url_for
from flask.testing import FlaskClient

from objectwar.demo import PETITION_SLUG

ANONYMOUS, MEMBER, COORDINATOR = "anonymous", "member", "coordinator"
# Signing forms are answered at once (not "please press Sign again"): the checks fill them fast.
APP_OVERRIDES = {"SIGN_MIN_FILL_SECONDS": 0}


@dataclass
class World:
    """Ids and tokens of the seeded data (see ``seed``)."""

    people: Any
    users: dict[str, int | None]
    signature: int
    confirm_token: str
    subscription: int
    subscription_confirm_token: str
    unsubscribe_token: str
    export_token: str
    erase_token: str
    reset_token: str
    invitation_token: str
    mailout: int
    mailout_sending: int
    inactive_coordinator: int


Args = Callable[[World], dict[str, Any]]


@dataclass(frozen=True)
class PageKind:
    """One page: ``endpoint`` with ``args``, seen by ``role``; with ``post``, the answer to a POST.

    ``post`` gives the form's fields (the CSRF token is added from the page at the
    same URL, or at ``form_page`` when the form lives elsewhere); ``post_to`` is the
    form's target when it is not the page's URL; ``files`` are uploads.
    ``status`` is the answer expected.
    """

    name: str
    endpoint: str
    role: str = ANONYMOUS
    args: Args = field(default=lambda w: {})
    query: dict[str, str] = field(default_factory=dict)
    post: Callable[[World], dict[str, str]] | None = None
    post_to: str | None = None  # an endpoint (with ``post_args``, else the same args)
    post_args: Args | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    status: int = 200
    # The mastodon share page goes on to another host (by a refresh): browsers stop at this one.
    leaves_for: str | None = None

    def url(self, app: Flask, world: World) -> str:
        with app.test_request_context():
            return url_for(self.endpoint, **self.args(world), **self.query)

    def target(self, app: Flask, world: World) -> str:
        """Where the POST goes."""
        if not self.post_to:
            return self.url(app, world)
        with app.test_request_context():
            return url_for(self.post_to, **(self.post_args or self.args)(world))


SLUG = {"slug": PETITION_SLUG}
LIST = {"slug": "updates"}
CSV = b"email,name,locale,country\nimported@example.org,Imported Person,de,DE\nnot-an-address,,,\n"
SIGN_ERRORS = {"first_name": "", "last_name": "", "email": "not-an-address", "country": ""}


def _sign_errors(world: World) -> dict[str, str]:
    return dict(SIGN_ERRORS)


PAGES: list[PageKind] = [
    # -- public ------------------------------------------------------------------------------
    PageKind("home", "main.home"),
    PageKind("petition", "petitions.detail", args=lambda w: SLUG),
    PageKind("petition credited to an organisation", "petitions.detail", args=lambda w: SLUG,
             query={"org": "org-a"}),
    PageKind("petition sign form with errors", "petitions.detail", args=lambda w: SLUG,
             post=_sign_errors, post_to="petitions.sign", status=422),
    PageKind("widget", "petitions.embed", args=lambda w: SLUG),
    PageKind("widget with errors", "petitions.embed", args=lambda w: SLUG,
             post=lambda w: {**SIGN_ERRORS, "embed": "1"}, post_to="petitions.sign", status=422),
    PageKind("signed: check your inbox", "petitions.signed", args=lambda w: SLUG),
    PageKind("confirm a signature", "petitions.confirm",
             args=lambda w: {**SLUG, "token": w.confirm_token}),
    PageKind("signature confirmed", "petitions.confirm",
             args=lambda w: {**SLUG, "token": w.confirm_token}, post=lambda w: {}),
    PageKind("share on mastodon: leaving", "petitions.detail", args=lambda w: SLUG,
             post=lambda w: {"instance": "chaos.social"}, post_to="petitions.share",
             post_args=lambda w: {**SLUG, "network": "mastodon"},
             leaves_for="https://chaos.social/"),
    PageKind("organisations", "organisations.directory"),
    PageKind("organisations of a country", "organisations.directory", query={"country": "DE"}),
    PageKind("organisation profile", "organisations.profile", args=lambda w: {"slug": "org-a"}),
    PageKind("apply", "organisations.apply"),
    PageKind("apply with errors", "organisations.apply", post=lambda w: {"email": "nope"},
             status=422),
    PageKind("applied", "organisations.applied"),
    PageKind("subscribe", "mailing.subscribe", args=lambda w: LIST),
    PageKind("subscribe with errors", "mailing.subscribe", args=lambda w: LIST,
             post=lambda w: {"email": "nope"}, status=422),
    PageKind("subscribed: check your inbox", "mailing.subscribed", args=lambda w: LIST),
    PageKind("confirm a subscription", "mailing.confirm_subscription",
             args=lambda w: {**LIST, "token": w.subscription_confirm_token}),
    PageKind("subscription confirmed", "mailing.confirm_subscription",
             args=lambda w: {**LIST, "token": w.subscription_confirm_token}, post=lambda w: {}),
    PageKind("unsubscribe", "mailing.unsubscribe", args=lambda w: {"token": w.unsubscribe_token}),
    PageKind("unsubscribed", "mailing.unsubscribe", args=lambda w: {"token": w.unsubscribe_token},
             post=lambda w: {}, post_to="mailing.unsubscribe_confirm"),
    PageKind("your data: ask", "privacy.request_form"),
    PageKind("your data: ask with errors", "privacy.request_form",
             post=lambda w: {"email": "nope"}, status=422),
    PageKind("your data: export", "privacy.show", args=lambda w: {"token": w.export_token}),
    PageKind("your data: erase", "privacy.show", args=lambda w: {"token": w.erase_token}),
    PageKind("your data: erased", "privacy.show", args=lambda w: {"token": w.erase_token},
             post=lambda w: {}, post_to="privacy.erase"),
    PageKind("log in", "accounts.login"),
    PageKind("log in with errors", "accounts.login",
             post=lambda w: {"email": "nobody@example.org", "password": "wrong"}, status=422),
    PageKind("reset password: ask", "accounts.reset_request"),
    PageKind("reset password: sent", "accounts.reset_request", post=lambda w: {"email": ""}),
    PageKind("set a new password", "accounts.reset", args=lambda w: {"token": w.reset_token}),
    PageKind("set a new password with errors", "accounts.reset",
             args=lambda w: {"token": w.reset_token},
             post=lambda w: {"password": "short", "confirm": "other"}, status=422),
    PageKind("invitation", "accounts.invitation", args=lambda w: {"token": w.invitation_token}),
    # -- members -------------------------------------------------------------------------------
    PageKind("two-factor login: set up", "accounts.two_factor_setup", role=MEMBER),
    PageKind("two-factor login: set up with errors", "accounts.two_factor_setup", role=MEMBER,
             post=lambda w: {"code": "12"}, status=422),
    PageKind("change password", "accounts.password", role=MEMBER),
    PageKind("change password with errors", "accounts.password", role=MEMBER,
             post=lambda w: {"current": "wrong", "password": "short", "confirm": "x"}, status=422),
    PageKind("my organisation", "members.overview", role=MEMBER),
    PageKind("my organisation: profile", "members.profile", role=MEMBER),
    PageKind("my organisation: profile with errors", "members.profile", role=MEMBER,
             post=lambda w: {"name": "", "country": "XX", "website": "not a url"}, status=422),
    PageKind("my organisation: logo", "members.logo", role=MEMBER),
    PageKind("my organisation: logo with errors", "members.logo", role=MEMBER,
             post=lambda w: {}, files={"logo": ("logo.png", b"not an image", "image/png")},
             status=422),
    PageKind("colleagues", "members.colleagues", role=MEMBER),
    PageKind("colleagues: invite with errors", "members.colleagues", role=MEMBER,
             post=lambda w: {"email": "nope"}, status=422),
    PageKind("remove a colleague", "members.remove_colleague", role=MEMBER,
             args=lambda w: {"user_id": w.people.colleague_a}),
    PageKind("poster", "members.poster", role=MEMBER, args=lambda w: SLUG),
    # -- coordinators ---------------------------------------------------------------------------
    PageKind("admin dashboard", "admin.dashboard", role=COORDINATOR),
    PageKind("audit log", "admin.audit_log", role=COORDINATOR),
    PageKind("audit log with errors", "admin.audit_log", role=COORDINATOR,
             query={"since": "yesterday-ish"}, status=422),
    PageKind("coordinators", "admin.coordinators_index", role=COORDINATOR),
    PageKind("coordinators: invite with errors", "admin.coordinators_index", role=COORDINATOR,
             post=lambda w: {"email": "nope"}, status=422),
    PageKind("deactivate a coordinator", "admin.coordinator_deactivate", role=COORDINATOR,
             args=lambda w: {"user_id": w.people.coordinator}),
    PageKind("reactivate a coordinator", "admin.coordinator_reactivate", role=COORDINATOR,
             args=lambda w: {"user_id": w.inactive_coordinator}),
    PageKind("reset a coordinator's two-factor login", "admin.coordinator_two_factor_reset",
             role=COORDINATOR, args=lambda w: {"user_id": w.inactive_coordinator}),
    PageKind("organisations (admin)", "admin.organisations", role=COORDINATOR),
    PageKind("organisation (admin)", "admin.organisation", role=COORDINATOR,
             args=lambda w: {"organisation_id": w.people.org_b}),
    PageKind("organisation: suspend", "admin.decide", role=COORDINATOR,
             args=lambda w: {"organisation_id": w.people.org_b, "decision": "suspend"}),
    PageKind("organisation: profile (admin)", "admin.organisation_profile", role=COORDINATOR,
             args=lambda w: {"organisation_id": w.people.org_b}),
    PageKind("petitions (admin)", "admin.petitions_index", role=COORDINATOR),
    PageKind("petition statistics", "admin.petition_stats", role=COORDINATOR, args=lambda w: SLUG),
    PageKind("new petition", "admin.petition_new", role=COORDINATOR),
    PageKind("petition editor", "admin.petition_edit", role=COORDINATOR, args=lambda w: SLUG),
    PageKind("petition editor with errors", "admin.petition_edit", role=COORDINATOR,
             args=lambda w: SLUG, post=lambda w: {"goal": "-1", "title": ""}, status=422),
    PageKind("petition preview", "admin.petition_preview", role=COORDINATOR, args=lambda w: SLUG),
    PageKind("petition: close", "admin.petition_status", role=COORDINATOR,
             args=lambda w: {**SLUG, "target": "closed"}),
    PageKind("petition export", "admin.petition_export", role=COORDINATOR, args=lambda w: SLUG),
    PageKind("petition signers", "admin.petition_signers", role=COORDINATOR, args=lambda w: SLUG),
    PageKind("hide a signer", "admin.petition_moderate", role=COORDINATOR,
             args=lambda w: {**SLUG, "signature_id": w.signature, "action": "hide"}),
    PageKind("handover", "admin.petition_handover", role=COORDINATOR, args=lambda w: SLUG),
    PageKind("poster (admin)", "admin.petition_poster", role=COORDINATOR, args=lambda w: SLUG),
    PageKind("mailing lists", "admin.lists_index", role=COORDINATOR),
    PageKind("mailing lists: new with errors", "admin.lists_index", role=COORDINATOR,
             post=lambda w: {"slug": "Not A Slug", "name": ""}, status=422),
    PageKind("mailing list", "admin.list_detail", role=COORDINATOR, args=lambda w: LIST),
    PageKind("mailing list with errors", "admin.list_detail", role=COORDINATOR,
             args=lambda w: LIST, post=lambda w: {"name": ""}, status=422),
    PageKind("list import", "admin.list_import", role=COORDINATOR, args=lambda w: LIST),
    PageKind("list import with errors", "admin.list_import", role=COORDINATOR, args=lambda w: LIST,
             post=lambda w: {}, status=422),
    PageKind("list import preview", "admin.list_import", role=COORDINATOR, args=lambda w: LIST,
             post=lambda w: {}, files={"file": ("people.csv", CSV, "text/csv")}),
    PageKind("delete a subscription", "admin.list_delete_subscription", role=COORDINATOR,
             args=lambda w: {**LIST, "subscription_id": w.subscription}),
    PageKind("mail-outs", "admin.mailouts_index", role=COORDINATOR),
    PageKind("new mail-out", "admin.mailout_new", role=COORDINATOR),
    PageKind("new mail-out with errors", "admin.mailout_new", role=COORDINATOR,
             post=lambda w: {"list": "", "subject": "", "body_markdown": ""}, status=422),
    PageKind("mail-out", "admin.mailout", role=COORDINATOR, args=lambda w: {"mailout_id": w.mailout}),
    PageKind("mail-out sending", "admin.mailout", role=COORDINATOR,
             args=lambda w: {"mailout_id": w.mailout_sending}),
    PageKind("edit a mail-out", "admin.mailout_edit", role=COORDINATOR,
             args=lambda w: {"mailout_id": w.mailout}),
    PageKind("send a mail-out", "admin.mailout_send", role=COORDINATOR,
             args=lambda w: {"mailout_id": w.mailout}),
    PageKind("cancel a mail-out", "admin.mailout_cancel", role=COORDINATOR,
             args=lambda w: {"mailout_id": w.mailout}),
    PageKind("mail-out: schedule with errors", "admin.mailout", role=COORDINATOR,
             args=lambda w: {"mailout_id": w.mailout}, post=lambda w: {"scheduled_at": "soon"},
             post_to="admin.mailout_schedule", status=422),
    PageKind("mail-out: test mail with errors", "admin.mailout", role=COORDINATOR,
             args=lambda w: {"mailout_id": w.mailout}, post=lambda w: {"locale": "xx"},
             post_to="admin.mailout_test", status=422),
]

# GET endpoints that are not HTML pages for people, or only redirect.
EXCLUDED: dict[str, str] = {
    "static": "files: style sheet, scripts, icons",
    "main.favicon": "an icon",
    "organisations.logo": "an image",
    "petitions.share_image": "a PNG",
    "admin.petition_qr": "an SVG or PNG",
    "admin.petition_day_chart": "an SVG chart (an <img> of the statistics page)",
    "members.qr": "an SVG or PNG",
    "members.day_chart": "an SVG chart (an <img> of the overview)",
    "members.signatures_csv": "CSV",
    "admin.list_export": "CSV",
    "admin.mailout_progress": "JSON (the mail-out page's figures)",
    "privacy.download": "JSON",
    # The JSON API (its own tests and the OpenAPI document cover it).
    "api.petitions_list": "JSON", "api.petition_detail": "JSON", "api.openapi": "JSON",
    "api.organisations_list": "JSON", "api.lists_index": "JSON", "api.list_export": "CSV",
    "api.mailout_detail": "JSON", "api.petition_stats": "JSON",
    "api.petition_signatures_csv": "CSV",
}


# Endpoints that take a GET but only answer it with a redirect (their pages are POST answers).
REDIRECT_ONLY: dict[str, str] = {
    "petitions.share": "GET redirects to the network; the mastodon page is the POST's answer (in PAGES)",
    # It lives only between the password and the code (a session the checks do not make).
    "accounts.login_code": "without the password step first it sends the visitor to the login page",
}


def uncatalogued(app: Flask) -> list[str]:
    """GET endpoints neither in ``PAGES`` nor excluded."""
    known = {page.endpoint for page in PAGES} | set(EXCLUDED) | set(REDIRECT_ONLY)
    return sorted({rule.endpoint for rule in app.url_map.iter_rules()
                   if "GET" in (rule.methods or ()) and rule.endpoint not in known})


# -- the data the pages need ---------------------------------------------------------------


def seed(app: Flask, people: Any) -> World:
    """The demo campaign, people (the ``people`` fixture), a signature, a list with a subscriber,
    two mail-outs and the tokens of the emails' links (inside the test's empty database)."""
    from sqlalchemy import select

    from objectwar.accounts import services as accounts
    from objectwar.accounts.models import Invitation, User
    from objectwar.demo import seed_demo
    from objectwar.extensions import db
    from objectwar.mailing import unsubscribe
    from objectwar.mailing.models import (
        MailingList,
        Mailout,
        MailoutStatus,
        Subscription,
        SubscriptionStatus,
    )
    from objectwar.mailing.subscribe import subscription_token
    from objectwar.mailouts import editing
    from objectwar.organisations.models import Organisation
    from objectwar.organisations.services import save_logo
    from objectwar.petitions import signing
    from objectwar.petitions.models import Signature
    from objectwar.privacy import services as privacy
    from objectwar.privacy.services import DataAction
    from tests.factories import add_subscribers

    with app.test_request_context():
        seed_demo()
        from PIL import Image

        image = io.BytesIO()
        Image.new("RGB", (32, 32), (179, 38, 30)).save(image, format="PNG")
        member = db.session.get(User, people.member_a)
        save_logo(member, db.session.get(Organisation, people.org_a), image.getvalue())

        # Confirmed; unconfirmed (its link); one whose data is asked for (and erased).
        for index, email in enumerate(("olena@example.org", "jonas@example.org",
                                       "privacy@example.org")):
            signing.sign(PETITION_SLUG, {"first_name": f"Signer{index}", "last_name": "Example",
                                         "email": email, "country": "DE", "consent": True,
                                         "public_name": True, "organisation": "org-a",
                                         "partner_consent": True, "locale": "en"},
                         default_locale="en")
        signatures = db.session.scalars(select(Signature).order_by(Signature.id)).all()
        signing.confirm(PETITION_SLUG, signing.confirmation_token(signatures[0]))
        confirm_token = signing.confirmation_token(signatures[1])

        updates = db.session.scalar(select(MailingList).where(MailingList.slug == "updates"))
        add_subscribers(updates, range(3))
        add_subscribers(updates, [3], status=SubscriptionStatus.UNCONFIRMED)
        db.session.commit()
        subscriptions = db.session.scalars(
            select(Subscription).where(Subscription.list_id == updates.id)
            .order_by(Subscription.id)).all()
        first, unconfirmed = subscriptions[0], subscriptions[-1]

        coordinator = db.session.get(User, people.coordinator)
        draft = editing.create_mailout({"list": "updates", "subject": "News of the campaign",
                                         "body_markdown": "Dear friends,\n\n**thank you.**",
                                         "translations": {"de": {"subject": "Neuigkeiten",
                                                                 "body_markdown": "Danke."}}},
                                        created_by=coordinator)
        sending = editing.create_mailout({"list": "updates", "subject": "Sending now",
                                           "body_markdown": "Hello."}, created_by=coordinator)
        sending_row = db.session.get(Mailout, sending.id)
        sending_row.status = MailoutStatus.SENDING
        sending_row.started_at = datetime.now(UTC)
        sending_row.recipients = 3
        sending_row.sent_count = 1

        inactive, _created = accounts.create_coordinator("former@campaign.example",
                                                         "former coordinator passphrase 1")
        inactive.active = False
        db.session.commit()

        digest = signatures[2].email_digest
        world = World(
            people=people,
            users={ANONYMOUS: None, MEMBER: people.member_a, COORDINATOR: people.coordinator},
            signature=signatures[0].id,
            confirm_token=confirm_token,
            subscription=first.id,
            subscription_confirm_token=subscription_token(unconfirmed),
            unsubscribe_token=unsubscribe.unsubscribe_token(first.subscriber_id, updates.id),
            export_token=privacy.link_token(digest, DataAction.EXPORT),
            erase_token=privacy.link_token(digest, DataAction.ERASE),
            reset_token=accounts.reset_token(db.session.get(User, people.member_b)),
            invitation_token=accounts.invitation_token(
                db.session.get(Invitation, people.invitation_b)),
            mailout=draft.id,
            mailout_sending=sending.id,
            inactive_coordinator=inactive.id,
        )
    return world


# -- fetching a page with the test client ---------------------------------------------------


def csrf_from(html: str) -> str | None:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html)
    return match.group(1) if match else None


def stamp_from(html: str) -> str | None:
    match = re.search(r'name="stamp"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="stamp"', html)
    return match.group(1) if match else None


def form_fields(page: PageKind, world: World, html: str) -> dict[str, str]:
    """The POST's fields: the page's own plus the hidden CSRF token and form stamp."""
    data = dict(page.post(world)) if page.post else {}
    for name, value in (("csrf_token", csrf_from(html)), ("stamp", stamp_from(html))):
        if value and name not in data:
            data[name] = value
    return data


def fetch(client: FlaskClient, app: Flask, page: PageKind, world: World):
    """The page's response, as the page's role sees it (the client is logged in already)."""
    url = page.url(app, world)
    if page.post is None:
        return client.get(url)
    form = client.get(url).get_data(as_text=True)
    data: dict[str, Any] = form_fields(page, world, form)
    for name, (filename, content, _type) in (page.files or {}).items():
        data[name] = (io.BytesIO(content), filename)
    return client.post(page.target(app, world), data=data)
