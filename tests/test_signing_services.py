"""Signing rules, tested without HTTP: input, double opt-in, the outbox, counting, retention."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from objectwar import security, tasks
from objectwar.errors import NotFound, ValidationError
from objectwar.extensions import db as _db
from objectwar.mailing.models import MailingList, Subscriber, Subscription, SubscriptionStatus
from objectwar.organisations.models import Organisation, OrganisationStatus
from objectwar.petitions import petition_page, signing
from objectwar.petitions.models import Petition, PetitionStatus, Signature
from objectwar.petitions.services import get_public_petition
from objectwar.privacy.services import purge_unconfirmed
from objectwar.types import utcnow
from tests.helpers import link_in
from tests.signing_support import SLUG, person


@pytest.fixture
def ctx(app, demo):
    """A request context (gettext, locale) over the demo campaign."""
    with app.test_request_context("/"):
        yield


def parse(**changes):
    return signing.parse_signature(person(**changes), default_locale="en")


def errors_of(**changes) -> dict:
    with pytest.raises(ValidationError) as caught:
        parse(**changes)
    return caught.value.errors


def signature(email="anna@example.org") -> Signature:
    return _db.session.scalar(select(Signature).where(
        Signature.email_digest == security.email_digest(email)))


def rows() -> int:
    return _db.session.scalar(select(func.count()).select_from(Signature))


def petition() -> Petition:
    _db.session.expire_all()
    return _db.session.scalar(select(Petition).where(Petition.slug == SLUG))


# -- input rules ---------------------------------------------------------------------


def test_valid_input_is_cleaned(ctx):
    given = parse(first_name="  Ana\u0301  ", last_name=" Ivanova ", email=" Anna@Example.org ",
                  country="DE", locale="ru", updates=True, public_name=True)
    assert given.first_name == "Aná"  # NFC: one code point
    assert len(given.first_name) == 3
    assert given.last_name == "Ivanova"
    assert given.email == "Anna@example.org"
    assert given.country == "DE"
    assert given.locale == "ru"
    assert given.updates and given.public_name
    assert given.organisation_id is None


def test_json_takes_codes_as_written_a_form_in_any_case(ctx):
    """The API's schema lists countries and languages as codes: JSON must send them so."""
    assert errors_of(country="de", locale=" ru") == {
        "country": ["Choose a country from the list."],
        "locale": ["Choose one of the languages offered."]}
    assert errors_of(locale="") == {"locale": ["Choose one of the languages offered."]}
    form = signing.parse_signature({**person(country=" de", locale="RU"), "consent": "y"},
                                   default_locale="en", from_form=True)
    assert (form.country, form.locale) == ("DE", "ru")


@pytest.mark.parametrize("field", ["first_name", "last_name"])
@pytest.mark.parametrize("value, message", [
    ("", "This field is required."),
    ("   ", "This field is required."),
    ("x" * 101, "Use at most 100 characters."),
    ("Anna\nBcc: x", "Remove the control characters from this field."),
    ("An\x00na", "Remove the control characters from this field."),
    ("An\tna", "Remove the control characters from this field."),
    ("Anna\u202eevil", "Remove the control characters from this field."),
    ("Anna\u2066x", "Remove the control characters from this field."),
])
def test_name_rules(ctx, field, value, message):
    assert errors_of(**{field: value}) == {field: [message]}


def test_names_of_100_characters_and_any_script_are_accepted(ctx):
    assert parse(first_name="Я" * 100).first_name == "Я" * 100
    assert parse(last_name="Лукашэвіч-Ґалаґан").last_name == "Лукашэвіч-Ґалаґан"


@pytest.mark.parametrize("value", ["", "anna", "anna@", "@example.org", "anna@@example.org",
                                   "anna example@example.org", "a" * 250 + "@x.org"])
def test_bad_email_addresses(ctx, value):
    assert list(errors_of(email=value)) == ["email"]


def test_internationalised_addresses_are_accepted_without_dns(ctx):
    assert parse(email="иван@почта.рф").email == "иван@почта.рф"
    assert parse(email="jürgen@bücher.example").email == "jürgen@bücher.example"
    # A domain that does not exist is fine: deliverability is not looked up.
    assert parse(email="x@no-such-domain-objectwar-4711.org").email.endswith("4711.org")


@pytest.mark.parametrize("value", ["", "XX", "ZZ", "DEU", "1", "EU"])
def test_country_must_be_iso_3166(ctx, value):
    assert errors_of(country=value) == {"country": ["Choose a country from the list."]}


def test_locale_is_one_of_ours_and_defaults_to_the_request(ctx):
    assert errors_of(locale="fr") == {"locale": ["Choose one of the languages offered."]}
    given = signing.parse_signature(person(locale=None), default_locale="uk")
    assert given.locale == "uk"


def test_consent_is_required(ctx):
    message = "Please agree to how we use your data; we cannot count your signature without it."
    assert errors_of(consent=False) == {"consent": [message]}
    assert errors_of(consent=None) == {"consent": [message]}


@pytest.mark.parametrize("field, value", [
    ("consent", "yes"), ("consent", 1), ("updates", "true"), ("public_name", []),
])
def test_flags_must_be_booleans_in_json(ctx, field, value):
    assert errors_of(**{field: value}) == {field: ["This field must be true or false."]}


@pytest.mark.parametrize("field", ["first_name", "email", "country", "locale", "organisation"])
def test_text_fields_must_be_text_in_json(ctx, field):
    assert errors_of(**{field: 5}) == {field: ["This field must be text."]}


def test_form_checkboxes(ctx):
    data = {"first_name": "A", "last_name": "B", "email": "a@example.org", "country": "DE",
            "consent": "y", "updates": "", "public_name": "on"}
    given = signing.parse_signature(data, default_locale="en", from_form=True)
    assert given.public_name and not given.updates
    with pytest.raises(ValidationError) as caught:
        signing.parse_signature({**data, "consent": ""}, default_locale="en", from_form=True)
    assert list(caught.value.errors) == ["consent"]


def test_every_error_at_once(ctx):
    errors = errors_of(first_name="", last_name="", email="x", country="", consent=False,
                       locale="xx", organisation="nobody")
    assert set(errors) == {"first_name", "last_name", "email", "country", "consent", "locale",
                           "organisation"}


def test_organisation_must_be_a_member(ctx):
    _db.session.add(Organisation(slug="applicant", name="Applicant", country="DE",
                                 status=OrganisationStatus.APPLIED))
    _db.session.commit()
    message = ["This organisation is not a member of the campaign."]
    assert errors_of(organisation="nobody") == {"organisation": message}
    assert errors_of(organisation="applicant") == {"organisation": message}
    member = _db.session.scalar(select(Organisation).where(Organisation.slug == "pro-asyl"))
    assert parse(organisation="pro-asyl").organisation_id == member.id
    assert parse(organisation="").organisation_id is None


# -- signing ------------------------------------------------------------------------------


def test_new_signature_is_stored_unconfirmed_and_due(ctx):
    outcome = signing.sign(SLUG, person(organisation="ebco", public_name=True), default_locale="en")
    row = signature()
    assert outcome.signature_id == row.id
    assert outcome.notices == []
    assert row.confirmed_at is None
    assert row.confirmation_due_at is not None
    assert row.consent_version == signing.CONSENT_VERSION
    assert row.organisation.slug == "ebco"
    assert row.public_name and not row.wants_updates
    assert row.email == "anna@example.org"
    assert petition().signature_count == 0


def test_personal_data_is_encrypted_at_rest(ctx):
    signing.sign(SLUG, person(), default_locale="en")
    stored = _db.session.execute(
        _db.text("SELECT email, first_name, last_name FROM signatures")).one()
    assert "anna" not in " ".join(stored).lower()
    assert "Müller" not in " ".join(stored)


def test_invalid_input_stores_nothing(ctx):
    with pytest.raises(ValidationError):
        signing.sign(SLUG, person(email="nope"), default_locale="en")
    assert rows() == 0


def test_repeat_signer_gets_the_same_outcome_and_data_stays(ctx):
    first = signing.sign(SLUG, person(), default_locale="en")
    again = signing.sign(SLUG, person(email="  ANNA@example.ORG ", first_name="Other"),
                         default_locale="en")
    assert again == first
    assert rows() == 1
    assert signature().first_name == "Anna"


def test_closed_and_unknown_petitions_take_no_signatures(ctx):
    petition().status = PetitionStatus.CLOSED
    _db.session.commit()
    with pytest.raises(ValidationError) as caught:
        signing.sign(SLUG, person(), default_locale="en")
    assert "closed" in caught.value.errors["request"][0]
    with pytest.raises(NotFound):
        signing.sign("nope", person(), default_locale="en")
    assert rows() == 0


def test_a_closed_petition_answers_repeat_and_new_signers_alike(ctx):
    """Signed while open, then closed: the repeat signer gets the same refusal as anyone."""
    first = signing.sign(SLUG, person(), default_locale="en")
    signing.send_confirmation(first.signature_id)
    petition().status = PetitionStatus.CLOSED
    _db.session.commit()
    errors = []
    for email in ("anna@example.org", "ANNA@example.org", "someone.new@example.org"):
        with pytest.raises(ValidationError) as caught:
            signing.sign(SLUG, person(email=email), default_locale="en")
        errors.append(caught.value.errors)
    assert errors[0] == errors[1] == errors[2]
    assert rows() == 1
    assert signature().confirmation_due_at is None  # no second email is due


def test_risky_provider_gets_a_notice_but_is_accepted(ctx):
    outcome = signing.sign(SLUG, person(email="anna@Mail.Ru"), default_locale="en")
    assert outcome.notices == [signing.risky_notice()]
    assert rows() == 1
    assert signing.risky_address("x@sub.yandex.ru")
    assert not signing.risky_address("x@notmail.ru.example.org")
    assert not signing.risky_address("x@gmail.com")


# -- the outbox ---------------------------------------------------------------------------


def test_send_marks_the_row_and_only_once(ctx, outbox):
    outcome = signing.sign(SLUG, person(), default_locale="en")
    assert signing.send_confirmation(outcome.signature_id) is True
    assert signing.send_confirmation(outcome.signature_id) is False  # nothing due any more
    assert len(outbox) == 1
    row = signature()
    assert row.confirmation_due_at is None
    assert row.confirmation_sent_at is not None
    assert row.confirmation_sends == 1


def test_claim_is_taken_by_one_runner(ctx):
    outcome = signing.sign(SLUG, person(), default_locale="en")
    now = utcnow()
    first = signing._claim(outcome.signature_id, now)
    assert first is not None
    assert signing._claim(outcome.signature_id, now + timedelta(seconds=299)) is None  # held
    # A runner that died: after the lease the row may be claimed again, under a new token.
    later = now + timedelta(seconds=301)
    second = signing._claim(outcome.signature_id, later)
    assert second is not None and second != first


def test_confirmation_email_is_neutral_and_in_the_signers_locale(ctx, outbox):
    outcome = signing.sign(SLUG, person(locale="de"), default_locale="en")
    signing.send_confirmation(outcome.signature_id)
    (message,) = outbox
    assert message.subject == "Bitte bestätigen Sie Ihre Unterschrift"  # neutral, in German
    assert message.sender == "Bestätigung <noreply@objectwar.test>"  # the sender's name too
    assert message.recipients == ["anna@example.org"]
    assert "Schutz und Asyl" in message.body  # the German title: what is being confirmed
    assert "Schutz und Asyl" in message.html
    path = link_in(message.body)
    assert path.startswith(f"/petitions/{SLUG}/confirm/")
    assert path in message.html


def test_configured_sender_and_subject(app, demo, outbox):
    app.config.update(CONFIRMATION_SENDER_NAME="Post", CONFIRMATION_SUBJECT="Hello")
    with app.test_request_context("/"):
        outcome = signing.sign(SLUG, person(), default_locale="en")
        signing.send_confirmation(outcome.signature_id)
    assert outbox[0].subject == "Hello"
    assert outbox[0].sender.startswith("Post <")


def test_repeat_of_confirmed_signer_gets_already_signed(ctx, outbox):
    outcome = signing.sign(SLUG, person(), default_locale="en")
    signing.send_confirmation(outcome.signature_id)
    token = link_in(outbox[0].body).rsplit("/", 1)[1]
    signing.confirm(SLUG, token)
    again = signing.sign(SLUG, person(email="Anna@Example.org"), default_locale="en")
    signing.send_confirmation(again.signature_id)
    assert len(outbox) == 2
    assert "already signed" in outbox[1].body
    assert "/confirm/" not in outbox[1].body
    # its own subject, as neutral as the first one's: nothing in it says what was signed
    assert outbox[1].subject == "About your signature" != outbox[0].subject
    assert outbox[1].sender == outbox[0].sender == "Confirmation <noreply@objectwar.test>"


def test_a_configured_sender_name_is_kept_as_written(ctx, outbox, app):
    app.config["CONFIRMATION_SENDER_NAME"] = "Kampagne"
    outcome = signing.sign(SLUG, person(locale="ru"), default_locale="en")
    signing.send_confirmation(outcome.signature_id)
    assert outbox[0].sender == "Kampagne <noreply@objectwar.test>"


def test_repeat_of_unconfirmed_signer_gets_a_new_link(ctx, outbox):
    for _ in range(2):
        outcome = signing.sign(SLUG, person(), default_locale="en")
        signing.send_confirmation(outcome.signature_id)
    assert len(outbox) == 2
    assert "/confirm/" in outbox[1].body


def test_at_most_three_emails_a_day(ctx, outbox):
    ids, sent = [], []
    for _ in range(5):
        outcome = signing.sign(SLUG, person(), default_locale="en")
        ids.append(outcome.signature_id)
        _db.session.expire_all()
        assert (signature().confirmation_due_at is not None) == (len(ids) <= 3)  # none over it
        sent.append(signing.send_confirmation(outcome.signature_id))
    assert len(outbox) == 3
    assert len(set(ids)) == 1  # the request cannot tell: the same row's id every time
    assert sent == [True, True, True, False, False]
    # A day later the window starts again.
    row = signature()
    row.confirmation_window_start = utcnow() - timedelta(hours=24, seconds=1)
    _db.session.commit()
    outcome = signing.sign(SLUG, person(), default_locale="en")
    assert signing.send_confirmation(outcome.signature_id)
    assert len(outbox) == 4
    assert signature().confirmation_sends == 1


def test_claim_respects_the_daily_limit_too(ctx, outbox):
    outcome = signing.sign(SLUG, person(), default_locale="en")
    row = signature()
    row.confirmation_sends = 3
    row.confirmation_window_start = utcnow()
    _db.session.commit()
    assert signing.send_confirmation(outcome.signature_id) is False
    assert outbox == []
    assert signature().confirmation_due_at is None  # dropped, not sent tomorrow


def test_failed_send_stays_due_for_a_retry(app, demo):
    app.config.update(MAIL_SUPPRESS_SEND=False, MAIL_SERVER="127.0.0.1", MAIL_PORT=1)
    from objectwar.extensions import mail
    mail.init_app(app)  # take the unreachable server
    from objectwar.mail.message import SendError
    with app.test_request_context("/"):
        outcome = signing.sign(SLUG, person(), default_locale="en")
        with pytest.raises(SendError, match="ConnectionRefusedError"):  # the relay is down: transient
            signing.send_confirmation(outcome.signature_id)
        row = signature()
        assert row.confirmation_sent_at is None
        assert row.confirmation_due_at > utcnow()  # retried after MAIL_RETRY_SECONDS
        assert row.confirmation_sends == 0


def test_periodic_task_sends_what_is_overdue(app, demo, outbox):
    with app.test_request_context("/"):
        a = signing.sign(SLUG, person(email="a@example.org"), default_locale="en").signature_id
        b = signing.sign(SLUG, person(email="b@example.org"), default_locale="en").signature_id
        _db.session.get(Signature, a).confirmation_due_at = utcnow() - timedelta(minutes=2)
        _db.session.commit()
        assert signing.overdue_confirmations() == [a]  # b is due for less than a minute
    # The periodic task runs in a worker: no request context.
    tasks.send_overdue_signature_confirmations.call_local()
    assert [m.recipients for m in outbox] == [["a@example.org"]]
    with app.app_context():
        assert _db.session.get(Signature, a).confirmation_due_at is None
        assert _db.session.get(Signature, b).confirmation_due_at is not None


def test_send_task_runs_without_a_request(app, demo, outbox):
    with app.test_request_context("/"):
        outcome = signing.sign(SLUG, person(locale="uk"), default_locale="en")
    tasks.send_signature_confirmation.call_local(outcome.signature_id)
    assert "Захист" in outbox[0].body


# -- confirming -----------------------------------------------------------------------------


def _token(outbox) -> str:
    return link_in(outbox[-1].body).rsplit("/", 1)[1]


def test_confirm_counts_once(ctx, outbox):
    outcome = signing.sign(SLUG, person(), default_locale="en")
    signing.send_confirmation(outcome.signature_id)
    token = _token(outbox)
    assert signing.signature_for_token(SLUG, token).confirmed_at is None  # reading changes nothing
    assert petition().signature_count == 0
    confirmed = signing.confirm(SLUG, token)
    assert confirmed.confirmed_at is not None
    assert confirmed.confirmation_due_at is None
    signing.confirm(SLUG, token)
    assert petition().signature_count == 1


def test_confirm_with_updates_subscribes(ctx, outbox):
    outcome = signing.sign(SLUG, person(updates=True, locale="ru"), default_locale="en")
    signing.send_confirmation(outcome.signature_id)
    assert _db.session.scalar(select(func.count()).select_from(Subscription)) == 0
    signing.confirm(SLUG, _token(outbox))
    signing.confirm(SLUG, _token(outbox))
    (subscription,) = _db.session.scalars(select(Subscription))
    assert subscription.status == SubscriptionStatus.SUBSCRIBED
    assert subscription.source == f"petition:{SLUG}"
    assert subscription.consented_at is not None
    assert subscription.mailing_list.slug == "updates"
    assert subscription.subscriber.email == "anna@example.org"
    assert subscription.subscriber.locale == "ru"


def test_confirm_without_updates_does_not_subscribe(ctx, outbox):
    outcome = signing.sign(SLUG, person(updates=False), default_locale="en")
    signing.send_confirmation(outcome.signature_id)
    signing.confirm(SLUG, _token(outbox))
    assert _db.session.scalar(select(func.count()).select_from(Subscription)) == 0


def test_an_unsubscribed_signer_who_opts_in_again_is_subscribed(ctx, outbox):
    from objectwar.mailing.subscribe import subscribe_confirmed

    kwargs = dict(email="anna@example.org", name="A", locale="en", country="DE", source="x")
    subscription = subscribe_confirmed("updates", consented_at=utcnow(), **kwargs)
    subscription.status = SubscriptionStatus.UNSUBSCRIBED
    _db.session.commit()
    subscribe_confirmed("updates", consented_at=utcnow(), **kwargs)
    assert subscription.status == SubscriptionStatus.SUBSCRIBED
    subscription.status = SubscriptionStatus.COMPLAINED
    subscribe_confirmed("updates", consented_at=utcnow(), **kwargs)
    assert subscription.status == SubscriptionStatus.COMPLAINED  # a spam report is final
    assert _db.session.scalar(select(func.count()).select_from(Subscriber)) == 1


@pytest.mark.parametrize("mangle", [
    lambda t: t + "x", lambda t: "x" + t[1:], lambda t: "", lambda t: "a.b.c",
])
def test_forged_tokens_are_refused(ctx, outbox, mangle):
    outcome = signing.sign(SLUG, person(), default_locale="en")
    signing.send_confirmation(outcome.signature_id)
    with pytest.raises(NotFound) as caught:
        signing.confirm(SLUG, mangle(_token(outbox)))
    assert "not valid or has expired" in caught.value.errors["token"][0]
    assert petition().signature_count == 0


def test_token_for_another_purpose_petition_or_signer_is_refused(ctx, outbox):
    outcome = signing.sign(SLUG, person(), default_locale="en")
    row = signature()
    for purpose, payload in [
        ("unsubscribe", [row.id, row.petition_id, row.email_digest[:16]]),
        (signing.CONFIRM_PURPOSE, [row.id, row.petition_id + 1, row.email_digest[:16]]),
        (signing.CONFIRM_PURPOSE, [row.id, row.petition_id, "0" * 16]),
        (signing.CONFIRM_PURPOSE, {"id": row.id}),
        (signing.CONFIRM_PURPOSE, [[1], row.petition_id, row.email_digest[:16]]),
    ]:
        with pytest.raises(NotFound):
            signing.confirm(SLUG, security.make_token(purpose, payload))
    assert outcome.signature_id == row.id
    assert signature().confirmed_at is None


def test_token_expires_with_the_retention_period(app, demo, outbox, monkeypatch):
    import time as time_module

    with app.test_request_context("/"):
        outcome = signing.sign(SLUG, person(), default_locale="en")
        signing.send_confirmation(outcome.signature_id)
        token = _token(outbox)
        real = time_module.time
        monkeypatch.setattr(time_module, "time", lambda: real() + 31 * 24 * 3600)
        with pytest.raises(NotFound):
            signing.confirm(SLUG, token)
        monkeypatch.setattr(time_module, "time", lambda: real() + 29 * 24 * 3600)
        assert signing.confirm(SLUG, token).confirmed_at is not None


def test_closed_petition_takes_no_confirmation(ctx, outbox):
    outcome = signing.sign(SLUG, person(), default_locale="en")
    signing.send_confirmation(outcome.signature_id)
    petition().status = PetitionStatus.CLOSED
    _db.session.commit()
    with pytest.raises(ValidationError):
        signing.confirm(SLUG, _token(outbox))
    assert petition().signature_count == 0


# -- the page ------------------------------------------------------------------------------


def test_public_signers_are_confirmed_and_asked_for_it(ctx, outbox):
    for email, first, public in [("a@example.org", "Olga", True), ("b@example.org", "Ivan", False),
                                 ("c@example.org", "Taras", True)]:
        outcome = signing.sign(SLUG, person(email=email, first_name=first, last_name="Petrenko",
                                            public_name=public, country="UA"), default_locale="en")
        signing.send_confirmation(outcome.signature_id)
        if first != "Taras":  # Taras never confirms
            signing.confirm(SLUG, _token(outbox))
    public = get_public_petition(SLUG)
    assert petition_page.public_signers(public) == [{"name": "Olga P.", "country": "UA"}]


def test_share_urls(ctx):
    url = "https://objectwar.test/petitions/x"
    assert petition_page.share_url("telegram", url, "T").startswith("https://t.me/share/url?url=https%3A")
    assert petition_page.share_url("email", url, "A B").startswith("mailto:?subject=A%20B&body=")
    assert petition_page.share_url("facebook", url, "T").startswith("https://www.facebook.com/sharer/")
    assert petition_page.share_url("mastodon", url, "T", "@me@chaos.social").startswith(
        "https://chaos.social/share?text=")
    for network in petition_page.SHARE_NETWORKS:
        instance = "mastodon.social" if network == "mastodon" else None
        assert "objectwar.test" in petition_page.share_url(network, url, "T", instance)
    for bad in ["", "localhost", "evil.example/x?y", "a b.social", "-x.social", "..social"]:
        host_ok = bad == "evil.example/x?y"  # the path is dropped, the host stays
        if host_ok:
            assert petition_page.share_url("mastodon", url, "T", bad).startswith("https://evil.example/share?")
        else:
            with pytest.raises(ValidationError):
                petition_page.share_url("mastodon", url, "T", bad)
    with pytest.raises(NotFound):
        petition_page.share_url("myspace", url, "T")


# -- retention ------------------------------------------------------------------------------


def test_purge_deletes_unconfirmed_data_past_the_retention_period(ctx, outbox):
    old = utcnow() - timedelta(days=31)
    for email in ("old@example.org", "new@example.org", "kept@example.org"):
        outcome = signing.sign(SLUG, person(email=email, updates=True), default_locale="en")
        signing.send_confirmation(outcome.signature_id)
    signing.confirm(SLUG, _token(outbox))  # kept@ confirmed
    signature("old@example.org").created_at = old
    signature("kept@example.org").created_at = old
    updates = _db.session.scalar(select(MailingList).where(MailingList.slug == "updates"))
    stale = Subscriber(email_digest=security.email_digest("s@example.org"), email="s@example.org",
                       created_at=old)
    _db.session.add(stale)
    _db.session.flush()
    _db.session.add(Subscription(list_id=updates.id, subscriber_id=stale.id, source="form",
                                 status=SubscriptionStatus.UNCONFIRMED, created_at=old))
    _db.session.commit()

    assert purge_unconfirmed() == {"signatures": 1, "subscriptions": 1, "subscribers": 1}
    assert signature("old@example.org") is None
    assert signature("new@example.org") is not None
    assert signature("kept@example.org") is not None
    assert _db.session.scalar(select(func.count()).select_from(Subscription)) == 1  # kept@'s
    assert purge_unconfirmed() == {"signatures": 0, "subscriptions": 0, "subscribers": 0}


def test_purge_command(app, demo, runner):
    with app.test_request_context("/"):
        signing.sign(SLUG, person(), default_locale="en")
        signature().created_at = utcnow() - timedelta(days=40)
        _db.session.commit()
    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    assert "1 signatures" in result.output
    with app.app_context():
        assert rows() == 0



def test_repeat_goes_through_the_unique_constraint_and_leaves_the_session_usable(ctx, outbox):
    first = signing.sign(SLUG, person(), default_locale="en")
    again = signing.sign(SLUG, person(email="ANNA@example.org"), default_locale="en")
    assert again == first
    other = signing.sign(SLUG, person(email="boris@example.org"), default_locale="en")
    assert other.signature_id != first.signature_id
    assert rows() == 2


@pytest.mark.parametrize("app_overrides", [{"TASKS_IMMEDIATE": False}])
def test_the_request_only_enqueues_and_a_worker_sends(app, client, demo, outbox):
    from tests.signing_support import API_URL

    tasks.huey.flush()  # the test instance's own queue file
    response = client.post(API_URL, json=person())
    assert response.status_code == 202
    assert outbox == []  # nothing sent in the request
    task = tasks.huey.dequeue()
    assert task.name == "send_signature_confirmation"
    with app.app_context():
        assert task.args == (signature().id,)  # the queue carries only the id
    tasks.huey.execute(task)  # what a worker does with the message
    assert [m.recipients for m in outbox] == [["anna@example.org"]]
    assert tasks.huey.dequeue() is None


@pytest.mark.parametrize("app_overrides", [{"TASKS_IMMEDIATE": False}])
def test_the_worker_tells_a_repeat_signer_apart_and_keeps_to_the_day(app, client, demo, outbox):
    """The request is the same for every signer; the worker reads the row and sends the
    confirmation (again), "About your signature" once confirmed, or nothing over the cap."""
    from tests.signing_support import API_URL

    def sign_and_work(**changes) -> None:
        assert client.post(API_URL, json=person(**changes)).status_code == 202
        task = tasks.huey.dequeue()  # every signer's request queues its row's id
        assert task.name == "send_signature_confirmation"
        tasks.huey.execute(task)  # what a worker does with it
        assert tasks.huey.dequeue() is None

    tasks.huey.flush()
    sign_and_work()
    assert outbox[0].subject == "Please confirm your signature"
    assert "/confirm/" in outbox[0].body
    sign_and_work(first_name="Other", country="FR", public_name=True)  # unconfirmed: a new link
    assert outbox[1].subject == outbox[0].subject
    assert "/confirm/" in outbox[1].body and "Other" not in outbox[1].body
    with app.test_request_context("/"):
        signing.confirm(SLUG, link_in(outbox[1].body).rsplit("/", 1)[1])
    sign_and_work(first_name="Boris", organisation="ebco", partner_consent=True, updates=True)
    assert outbox[2].subject == "About your signature"
    assert "already signed" in outbox[2].body and "/confirm/" not in outbox[2].body
    sign_and_work()  # a fourth email today: none goes out
    assert len(outbox) == 3
    with app.app_context():
        row = signature()
        assert row.confirmed_at is not None and row.confirmation_due_at is None
        assert row.confirmation_sends == signing.MAX_SENDS_PER_DAY
        # the confirmed signer's data stays as first given; counted once
        assert (row.first_name, row.country, row.public_name, row.wants_updates) == (
            "Anna", "DE", False, False)
        assert (row.organisation_id, row.partner_consent) == (None, False)
        assert petition().signature_count == 1
