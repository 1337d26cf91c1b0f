"""The JSON API fuzzed against its own OpenAPI document (schemathesis, in-process WSGI).

Every operation of ``/api/v1/openapi.json`` gets schema-valid and schema-violating
requests with every check of schemathesis on: no 5xx, every answer as documented
(status, content type, headers, body), schema-valid requests accepted and
schema-violating ones refused, the bearer token really required.

Each operation starts from a seeded campaign (the demo petition, list and
organisations, a draft petition, mail-outs, a coordinator's token) on each
backend, so most requests reach a real object instead of a 404. Rate limits are
off (the 429 answer stays documented); mail is recorded, never sent.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import zlib

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from sqlalchemy import select

from objectwar.api.schemas import MAIL_TEXT_PATTERN, SLUG_PATTERN, openapi_document
from objectwar.extensions import db as _db

PUBLIC_URL = "https://objectwar.test"
SEEDED_PETITION = "protect-objectors"
DRAFT_PETITION = "fuzz-draft"
SEEDED_LIST = "updates"
SEEDED_ORGANISATION = "ebco"  # a member organisation of the demo campaign


class CurrentApp:
    """The WSGI application of the running test (schemathesis calls it in-process)."""

    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


current = CurrentApp()
schema = schemathesis.openapi.from_dict(openapi_document(PUBLIC_URL))
schema.app = current
# Every check, with schema-valid and schema-violating data alike.
schema.config.checks.update(included_check_names=["all"])
schema.config.generation.update(
    modes=list(schemathesis.GenerationMode),
    # The token is the test's (below); the checks try the operations without it. The document
    # says nothing of parameters it does not name, so adding some proves nothing.
    with_security_parameters=False, allow_extra_parameters=False)

pytestmark = pytest.mark.slow  # about a minute and a half of generated requests

FUZZ_SETTINGS = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                         suppress_health_check=list(HealthCheck), print_blob=True)


def special_use_domain(case) -> bool:
    """An address that ``format: email`` allows and email-validator refuses: a domain without
    a dot, or a special-use one (``.test``, ``.local``, ``.invalid``...), as the schema says."""
    import email_validator

    domain = str(case.body.get("email", "")).rpartition("@")[2].lower().rstrip(".")
    return "." not in domain or any(domain == name or domain.endswith("." + name)
                                    for name in email_validator.SPECIAL_USE_DOMAIN_NAMES)


TITLES = [
    (r"texts\.\w+\.title", "Give a title in the default language."),
    (r"demands\.\d+\.texts\.\w+\.title", "Give every demand a title in the default language."),
    (r"closes_at", "The closing date must come after the opening date."),
]
REPLY_TO = [(r"reply_to", "Choose one of the addresses offered."),
            (r"reply_to", "No Reply-To addresses are configured (MAIL_FROM_CHOICES).")]
# Rules no JSON schema can state (an address already taken, a list that must exist, a
# time still to come), as each operation's description names them: a schema-valid
# request refused with 422 passes only with one of these messages at one of these fields
# (and the condition, if any, holding for the request).
BEYOND_SCHEMA = {
    "POST /petitions": [(r"slug", "Another petition has this address."), *TITLES],
    "PATCH /petitions/{slug}": [
        (r"slug", "Another petition has this address."),
        (r"slug", "The address of a published petition cannot change: links to it are out there."),
        (r"status", "A petition that is %(status)s cannot become %(target)s."),
        *TITLES,
    ],
    "POST /petitions/{slug}/signatures": [
        (r"organisation", "This organisation is not a member of the campaign."),
        (r"email", "This does not look like an email address.", special_use_domain),
        (r"request", "This petition is closed and no longer takes signatures. Thank you for "
                     "your support."),
    ],
    "GET /petitions/{slug}/signatures.csv": [
        (r"columns", "Choose columns among: %(columns)s, each once.")],
    "POST /mailouts": [(r"list", "There is no list with this name."), *REPLY_TO],
    "PUT /mailouts/{id}": [(r"list", "There is no list with this name."), *REPLY_TO],
    "POST /mailouts/{id}/schedule": [(r"scheduled_at", "Choose a time in the future.")],
}


@schema.hook
def filter_failure(context, failure, case, response) -> bool:
    """Keep every failure but a 422 to valid data that only a rule beyond the schema refused."""
    if type(failure).__name__ != "RejectedPositiveData" or response.status_code != 422:
        return True
    rules = BEYOND_SCHEMA.get(f"{case.method.upper()} {case.operation.path}", [])
    locale = (case.query or {}).get("lang", "en")
    errors = json.loads(response.content)["errors"]
    return not all(
        any(re.fullmatch(field_rule, field) and re.fullmatch(_pattern(msgid, locale), message)
            and all(condition(case) for condition in conditions)
            for field_rule, msgid, *conditions in rules)
        for field, messages in errors.items() for message in messages)


@functools.cache
def _pattern(msgid: str, locale: str) -> str:
    """A regular expression of the message ``msgid`` as ``locale`` words it, any values in it."""
    from flask_babel import force_locale, gettext

    with current.app.test_request_context(), force_locale(locale):
        text = gettext(msgid)
    return ".*".join(re.escape(part) for part in re.split(r"%\(\w+\)[sd]", text))


@pytest.fixture
def app_overrides() -> dict:
    """No rate limits: the fuzz would otherwise measure the limiter."""
    return {"RATELIMIT_ENABLED": False}


@pytest.fixture
def seeded(app) -> dict:
    """The demo campaign, a draft petition, three subscribers, two mail-outs and a token."""
    from objectwar import security
    from objectwar.accounts.models import Role, User
    from objectwar.accounts.services import create_api_token
    from objectwar.demo import seed_demo
    from objectwar.mailing.models import MailingList
    from objectwar.mailouts import editing
    from objectwar.petitions import authoring
    from tests.factories import add_subscribers

    with app.test_request_context():
        seed_demo()
        coordinator = User(email_digest=security.email_digest("coord@objectwar.test"),
                           email="coord@objectwar.test", role=Role.COORDINATOR)
        _db.session.add(coordinator)
        updates = _db.session.scalar(select(MailingList).where(MailingList.slug == SEEDED_LIST))
        add_subscribers(updates, range(3))
        _db.session.commit()
        token = create_api_token("coord@objectwar.test", "fuzz")
        authoring.create_petition({"slug": DRAFT_PETITION, "texts": {"en": {"title": "Draft"}}},
                                  actor_id=coordinator.id)
        ids = [editing.create_mailout({"list": SEEDED_LIST, "subject": f"Mail-out {n}",
                                        "body_markdown": "Hello {{ name }}"},
                                       created_by=coordinator).id for n in (1, 2)]
    return {"token": token, "mailouts": ids}


def aim_at_seeded_objects(case, mailout_ids: list[int]) -> None:
    """Point most valid slugs, ids and references at seeded objects; a quarter stay (404, 422).

    Only a value the document allows is replaced, by another it allows: a schema-violating
    request stays one. New petitions get slugs of their own, so that most can be created.
    """
    path = case.operation.path
    key = zlib.crc32(repr((case.path_parameters, case.query, case.body)).encode())
    spared = key % 4 == 0
    # Drafts are not public: the public operations get the open petition.
    coordinators = bool(case.operation.definition.raw.get("security"))
    parameters = case.path_parameters or {}
    for name, value in parameters.items():
        if spared:
            continue
        if name == "slug" and isinstance(value, str) and re.fullmatch(SLUG_PATTERN, value):
            parameters[name] = (SEEDED_LIST if path.startswith("/lists") else
                                DRAFT_PETITION if coordinators and key % 8 > 4 else SEEDED_PETITION)
        elif name == "id" and type(value) is int and 1 <= value <= 2147483647:
            parameters[name] = mailout_ids[value % len(mailout_ids)]
    body = case.body
    if not isinstance(body, dict):
        return
    given = body.get("list")
    if isinstance(given, str) and len(given) <= 80 and re.search(MAIL_TEXT_PATTERN, given):
        body["list"] = given if spared else SEEDED_LIST
    given = body.get("organisation")
    if isinstance(given, str) and not spared:
        body["organisation"] = SEEDED_ORGANISATION
    given = body.get("slug")
    if path == "/petitions" and isinstance(given, str) and re.fullmatch(SLUG_PATTERN, given):
        body["slug"] = f"{given[:60]}-{next(NEW_SLUGS)}"


NEW_SLUGS = itertools.count(1)


@schema.parametrize()
@FUZZ_SETTINGS
def test_api_conforms_to_its_openapi_document(case, app, seeded):
    current.app = app
    aim_at_seeded_objects(case, seeded["mailouts"])
    case.call_and_validate(headers={"Authorization": f"Bearer {seeded['token']}"})
