"""Every route of the app, asked by every role: anonymous, member of A, member of B, coordinator.

The test walks ``app.url_map`` and fails for any endpoint without a rule here, so
a new route cannot arrive without a decision about who may use it.

To add an endpoint: a public GET page goes into ``PUBLIC`` (200 for everyone; its
URL arguments come from ``DEFAULT_ARGS`` by name, or from ``ARGS``); anything else
gets a ``Rule`` in ``RULES`` with the answers expected for the four roles:
200 (or another status), ``LOGIN`` (302 to the login page) or ``REDIRECT`` (302
elsewhere). A POST is sent with a valid CSRF token. ``CSRF_EXEMPT`` lists POST
endpoints that take no cookie (JSON API, RFC 8058 one-click unsubscribe, the sign
and share forms of petition pages).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from objectwar.accounts import services as accounts
from objectwar.accounts.models import Invitation, User
from objectwar.demo import PETITION_SLUG
from objectwar.extensions import db as _db
from objectwar.mailouts import editing
from objectwar.organisations.models import Organisation
from tests.helpers import csrf_token, login_as

LOGIN = "login"  # 302 to /account/login?next=...
REDIRECT = "redirect"  # 302 anywhere else
ROLES = ("anonymous", "member_a", "member_b", "coordinator")
# Roles in the order they ask, so that a success that changes state comes last.
ASKING_ORDER = ("anonymous", "member_b", "coordinator", "member_a")

DEFAULT_ARGS: dict[str, Any] = {"slug": PETITION_SLUG, "filename": "style.css"}


@dataclass
class World:
    """Ids and tokens the rules' URLs need (built by the ``world`` fixture)."""

    people: Any
    logo: str
    reset_token: str
    invitation_token: str
    invitation_a: int
    mailout: int = 0


@dataclass
class Rule:
    expect: tuple[Any, Any, Any, Any]  # anonymous, member of A, member of B, coordinator
    method: str = "GET"
    args: Callable[[World], dict[str, Any]] = field(default=lambda world: {})


PUBLIC: set[str] = {
    "static", "main.home", "petitions.detail", "api.petitions_list", "api.petition_detail",
    "api.openapi",
    "api.organisations_list", "organisations.directory", "organisations.apply",
    "organisations.applied",
    "organisations.profile", "organisations.logo", "accounts.reset_request",
    "accounts.reset", "accounts.invitation",
    # Signing: the widget, the check-your-inbox page.
    "petitions.embed", "petitions.signed",
    # Mailing lists: the subscribe form of a public list, its answer page.
    "mailing.subscribe", "mailing.subscribed",
    # Your data: the form asking for a copy or an erasure by email.
    "privacy.request_form",
    # Link previews: the petition's share image; the site's icon.
    "petitions.share_image", "main.favicon",
}
ARGS: dict[str, Callable[[World], dict[str, Any]]] = {
    "organisations.profile": lambda w: {"slug": "org-a"},
    "organisations.logo": lambda w: {"name": w.logo},
    "accounts.reset": lambda w: {"token": w.reset_token},
    "accounts.invitation": lambda w: {"token": w.invitation_token},
    "mailing.subscribe": lambda w: {"slug": "updates"},
    "mailing.subscribed": lambda w: {"slug": "updates"},
}

MEMBER_PAGE = (LOGIN, 200, 200, 403)
COORDINATOR_PAGE = (LOGIN, 403, 403, 200)

RULES: dict[str, Rule] = {
    "accounts.login": Rule((200, REDIRECT, REDIRECT, REDIRECT)),
    "accounts.logout": Rule((REDIRECT, REDIRECT, REDIRECT, REDIRECT), method="POST"),
    "accounts.logout_everywhere": Rule((LOGIN, REDIRECT, REDIRECT, REDIRECT), method="POST"),
    "accounts.password": Rule((LOGIN, 200, 200, 200)),
    # Two-factor login: the code's step without a password first starts the login over
    # (a logged-in user is sent on); nobody in the matrix has it on, so changing it
    # sends them to set it up.
    "accounts.login_code": Rule((REDIRECT,) * 4),
    "accounts.two_factor_setup": Rule((LOGIN, 200, 200, 200)),
    "accounts.two_factor_recovery_codes": Rule((LOGIN, REDIRECT, REDIRECT, REDIRECT), method="POST"),
    "accounts.two_factor_disable": Rule((LOGIN, REDIRECT, REDIRECT, REDIRECT), method="POST"),
    "members.overview": Rule(MEMBER_PAGE),
    "members.day_chart": Rule(MEMBER_PAGE),
    "members.signatures_csv": Rule(MEMBER_PAGE),
    "members.profile": Rule(MEMBER_PAGE),
    "members.logo": Rule(MEMBER_PAGE),
    "members.colleagues": Rule(MEMBER_PAGE),
    # Posters for street campaigning: the organisation's own credit only.
    "members.poster": Rule(MEMBER_PAGE),
    "members.qr": Rule(MEMBER_PAGE, args=lambda w: {"kind": "svg"}),
    "members.remove_colleague": Rule((LOGIN, 200, 404, 403),
                                     args=lambda w: {"user_id": w.people.colleague_a}),
    "members.revoke_invitation": Rule((LOGIN, REDIRECT, 404, 403), method="POST",
                                      args=lambda w: {"invitation_id": w.invitation_a}),
    "admin.organisations": Rule(COORDINATOR_PAGE),
    "admin.organisation": Rule(COORDINATOR_PAGE, args=lambda w: {"organisation_id": w.people.org_b}),
    "admin.organisation_profile": Rule(COORDINATOR_PAGE,
                                       args=lambda w: {"organisation_id": w.people.org_b}),
    # Signing: a post without the form's signed timestamp gets the form again (a
    # person may have sent it; nothing is stored); a forged confirmation token says
    # nothing about anyone.
    "petitions.sign": Rule((200,) * 4, method="POST"),
    "petitions.confirm": Rule((404,) * 4, args=lambda w: {"token": "forged"}),
    "petitions.share": Rule((REDIRECT,) * 4, args=lambda w: {"network": "telegram"}),
    "api_signing.petition_sign": Rule((415,) * 4, method="POST"),  # the matrix posts a form, not JSON
    # Mailing: a forged unsubscribe token says nothing; the coordinator
    # API takes bearer tokens only, so a browser session gets 401 whoever it is.
    "mailing.unsubscribe": Rule((404,) * 4, args=lambda w: {"token": "forged"}),
    "mailing.unsubscribe_confirm": Rule((404,) * 4, method="POST", args=lambda w: {"token": "forged"}),
    "api.lists_index": Rule((401,) * 4),
    "api.petition_stats": Rule((401,) * 4),
    "api.petition_create": Rule((401,) * 4, method="POST"),
    "api.petition_update": Rule((401,) * 4, method="PATCH"),
    "api.petition_signatures_csv": Rule((401,) * 4),
    "api.list_import": Rule((401,) * 4, method="POST", args=lambda w: {"slug": "updates"}),
    "api.list_export": Rule((401,) * 4, args=lambda w: {"slug": "updates"}),
    "api.mailout_create": Rule((401,) * 4, method="POST"),
    "api.mailout_detail": Rule((401,) * 4, args=lambda w: {"id": 1}),
    "api.mailout_send": Rule((401,) * 4, method="POST", args=lambda w: {"id": 1}),
    "api.mailout_pause": Rule((401,) * 4, method="POST", args=lambda w: {"id": 1}),
    "api.mailout_cancel": Rule((401,) * 4, method="POST", args=lambda w: {"id": 1}),
    "api.mailout_schedule": Rule((401,) * 4, method="POST", args=lambda w: {"id": 1}),
    "api.mailout_duplicate": Rule((401,) * 4, method="POST", args=lambda w: {"id": 1}),
    # Mailing lists: coordinators' pages; a forged confirmation link says nothing.
    "mailing.confirm_subscription": Rule((404,) * 4, args=lambda w: {"slug": "updates",
                                                                     "token": "forged"}),
    # Your data: a forged link says nothing about anyone.
    "privacy.show": Rule((404,) * 4, args=lambda w: {"token": "forged"}),
    "privacy.download": Rule((404,) * 4, args=lambda w: {"token": "forged"}),
    "privacy.erase": Rule((404,) * 4, method="POST", args=lambda w: {"token": "forged"}),
    "admin.lists_index": Rule(COORDINATOR_PAGE),
    "admin.audit_log": Rule(COORDINATOR_PAGE),
    "admin.dashboard": Rule(COORDINATOR_PAGE),
    "admin.petitions_index": Rule(COORDINATOR_PAGE),
    "admin.petition_stats": Rule(COORDINATOR_PAGE),
    "admin.petition_new": Rule(COORDINATOR_PAGE),
    "admin.petition_edit": Rule(COORDINATOR_PAGE),
    "admin.petition_preview": Rule(COORDINATOR_PAGE),
    "admin.petition_status": Rule(COORDINATOR_PAGE, args=lambda w: {"target": "closed"}),
    "admin.petition_day_chart": Rule(COORDINATOR_PAGE),
    "admin.petition_export": Rule(COORDINATOR_PAGE),
    "admin.petition_signers": Rule(COORDINATOR_PAGE),
    "admin.petition_handover": Rule(COORDINATOR_PAGE),
    "admin.petition_poster": Rule(COORDINATOR_PAGE),
    "admin.petition_qr": Rule(COORDINATOR_PAGE, args=lambda w: {"kind": "png"}),
    "admin.petition_moderate": Rule(((LOGIN, 403, 403, 404)), args=lambda w: {
        "signature_id": 2147483647, "action": "hide"}),
    "admin.list_detail": Rule(COORDINATOR_PAGE, args=lambda w: {"slug": "updates"}),
    "admin.list_import": Rule(COORDINATOR_PAGE, args=lambda w: {"slug": "updates"}),
    "admin.list_export": Rule(COORDINATOR_PAGE, args=lambda w: {"slug": "updates"}),
    "admin.list_import_confirm": Rule((LOGIN, 403, 403, 422), method="POST",
                                      args=lambda w: {"slug": "updates"}),
    "admin.list_unsubscribe": Rule((LOGIN, 403, 403, 404), method="POST",
                                   args=lambda w: {"slug": "updates", "subscription_id": 999999}),
    "admin.list_delete_subscription": Rule((LOGIN, 403, 403, 404), args=lambda w: {
        "slug": "updates", "subscription_id": 999999}),
    "admin.decide": Rule(COORDINATOR_PAGE, args=lambda w: {"organisation_id": w.people.org_b,
                                                           "decision": "suspend"}),
    # Mail-outs in the admin: the world's draft mail-out. Pause and resume
    # do not fit a draft (409); schedule and test without their fields are field errors.
    "admin.mailouts_index": Rule(COORDINATOR_PAGE),
    "admin.mailout_new": Rule(COORDINATOR_PAGE),
    "admin.mailout": Rule(COORDINATOR_PAGE, args=lambda w: {"mailout_id": w.mailout}),
    "admin.mailout_send": Rule(COORDINATOR_PAGE, args=lambda w: {"mailout_id": w.mailout}),
    "admin.mailout_cancel": Rule(COORDINATOR_PAGE, args=lambda w: {"mailout_id": w.mailout}),
    "admin.mailout_edit": Rule(COORDINATOR_PAGE, args=lambda w: {"mailout_id": w.mailout}),
    "admin.mailout_progress": Rule(COORDINATOR_PAGE, args=lambda w: {"mailout_id": w.mailout}),
    "admin.mailout_duplicate": Rule((LOGIN, 403, 403, REDIRECT), method="POST",
                                    args=lambda w: {"mailout_id": w.mailout}),
    "admin.mailout_pause": Rule((LOGIN, 403, 403, 409), method="POST",
                                args=lambda w: {"mailout_id": w.mailout}),
    "admin.mailout_resume": Rule((LOGIN, 403, 403, 409), method="POST",
                                 args=lambda w: {"mailout_id": w.mailout}),
    "admin.mailout_schedule": Rule((LOGIN, 403, 403, 422), method="POST",
                                   args=lambda w: {"mailout_id": w.mailout}),
    "admin.mailout_test": Rule((LOGIN, 403, 403, 422), method="POST",
                               args=lambda w: {"mailout_id": w.mailout}),
    # Coordinators manage coordinators; a member's id or a member's invitation is
    # nothing these pages know (404).
    "admin.coordinators_index": Rule(COORDINATOR_PAGE),
    "admin.coordinator_deactivate": Rule(COORDINATOR_PAGE,
                                         args=lambda w: {"user_id": w.people.coordinator}),
    "admin.coordinator_reactivate": Rule((LOGIN, 403, 403, 404),
                                         args=lambda w: {"user_id": w.people.member_a}),
    "admin.coordinator_two_factor_reset": Rule((LOGIN, 403, 403, 404),
                                               args=lambda w: {"user_id": w.people.member_a}),
    "admin.coordinator_invitation_revoke": Rule((LOGIN, 403, 403, 404), method="POST",
                                                args=lambda w: {"invitation_id": w.invitation_a}),
}

# The JSON API trusts no cookie; RFC 8058 one-click unsubscribe carries only its signed token.
CSRF_EXEMPT: set[str] = {
    # Signing needs no session (the public API signs too; a signed stamp guards the form).
    "petitions.sign", "petitions.share",
    "api_signing.petition_sign", "mailing.unsubscribe_confirm",
    "api.list_import", "api.mailout_create", "api.mailout_send", "api.mailout_pause",
    "api.mailout_cancel", "api.mailout_schedule", "api.mailout_duplicate", "api.petition_create",
}


@pytest.fixture
def world(app, people, demo) -> World:
    from objectwar.organisations.services import save_logo

    with app.test_request_context():
        import io

        from PIL import Image

        image = io.BytesIO()
        Image.new("RGB", (8, 8)).save(image, format="PNG")
        member_a = _db.session.get(User, people.member_a)
        logo = save_logo(member_a, _db.session.get(Organisation, people.org_a), image.getvalue())
        invitation_a = Invitation(organisation_id=people.org_a, email_digest="1" * 64,
                                  email="new@a.example")
        _db.session.add(invitation_a)
        _db.session.commit()
        mailout = editing.create_mailout({"list": "updates", "subject": "S", "body_markdown": "B"})
        return World(
            people=people, logo=logo,
            reset_token=accounts.reset_token(_db.session.get(User, people.member_b)),
            invitation_token=accounts.invitation_token(_db.session.get(Invitation, people.invitation_b)),
            invitation_a=invitation_a.id, mailout=mailout.id,
        )


def _rules(app) -> dict[str, tuple[Rule, bool]]:
    rules = {}
    for endpoint in {rule.endpoint for rule in app.url_map.iter_rules()}:
        if endpoint in RULES:
            rules[endpoint] = (RULES[endpoint], False)
        elif endpoint in PUBLIC:
            rules[endpoint] = (Rule((200, 200, 200, 200), args=ARGS.get(endpoint, lambda w: {})), True)
    return rules


def test_every_endpoint_has_a_rule(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    missing = sorted(endpoints - set(RULES) - PUBLIC)
    assert not missing, f"endpoints without an access rule in {__name__}: {missing}"
    assert not set(RULES) & PUBLIC


def _answer(response) -> Any:
    if response.status_code in (302, 303):
        location = response.headers["Location"]
        return LOGIN if location.startswith("/account/login?next=") else REDIRECT
    return response.status_code


def _url(app, endpoint: str, rule: Rule, world: World) -> str:
    values = rule.args(world)
    url_rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    for name in url_rule.arguments:
        values.setdefault(name, DEFAULT_ARGS.get(name))
    with app.test_request_context():
        from flask import url_for

        return url_for(endpoint, **values)


def test_route_matrix(app, world):
    users = {"anonymous": None, "member_a": world.people.member_a,
             "member_b": world.people.member_b, "coordinator": world.people.coordinator}
    failures = []
    for endpoint, (rule, _public) in sorted(_rules(app).items()):
        url = _url(app, endpoint, rule, world)
        for role in ASKING_ORDER:
            client = login_as(app.test_client(), app, users[role])
            if rule.method in ("POST", "PATCH"):
                token = csrf_token(client, "/organisations/apply")
                response = client.open(url, method=rule.method, data={"csrf_token": token})
            else:
                response = client.get(url)
            expected = rule.expect[ROLES.index(role)]
            if _answer(response) != expected:
                failures.append(f"{rule.method} {url} ({endpoint}) as {role}: "
                                f"expected {expected}, got {_answer(response)}")
    assert not failures, "\n".join(failures)


def test_csrf_refused_on_every_form(app, world):
    """Every POST endpoint refuses a request without a valid token, whoever sends it."""
    posts = sorted({rule.endpoint for rule in app.url_map.iter_rules()
                    if "POST" in rule.methods and rule.endpoint not in CSRF_EXEMPT})
    assert "organisations.apply" in posts and "accounts.login" in posts
    everyone = {"anonymous": None, "member_a": world.people.member_a,
                "coordinator": world.people.coordinator}
    for endpoint in posts:
        rule = RULES.get(endpoint) or Rule((200,) * 4, args=ARGS.get(endpoint, lambda w: {}))
        url = _url(app, endpoint, rule, world)
        for role, user_id in everyone.items():
            client = login_as(app.test_client(), app, user_id)
            for data in ({}, {"csrf_token": "forged"}):
                response = client.post(url, data=data)
                assert response.status_code == 400, f"{endpoint} as {role} with {data}"
                assert "This form has expired" in response.get_data(as_text=True)
    with app.app_context():
        from sqlalchemy import func, select

        assert _db.session.scalar(select(func.count()).select_from(Organisation)) == 7  # demo + A, B
        assert _db.session.get(Invitation, world.invitation_a).revoked_at is None
