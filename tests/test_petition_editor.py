"""The admin's petition editor: create, translate side by side, reorder demands, preview, open."""

from __future__ import annotations

import html
import re
import time

import pytest
from sqlalchemy import func, select

from objectwar.audit.models import AuditEvent
from objectwar.extensions import db as _db
from objectwar.petitions import authoring
from objectwar.petitions.authoring import Translation
from objectwar.petitions.models import Petition, PetitionStatus
from tests.helpers import csrf_token


def new_petition_form(**changes) -> dict:
    form = {
        "action": "save", "slug": "refuge-now", "goal": "2 500", "default_locale": "en",
        "opens_at": "", "closes_at": "",
        "texts.en.title": "Refuge now", "texts.en.summary": "Protect those who refuse to fight.",
        "texts.en.body_markdown": "**Now**, not later.",
        "demands.0.position": "1", "demands.0.texts.en.title": "Humanitarian visas",
        "demands.0.texts.en.text": "Open a safe way.",
    }
    form.update(changes)
    return form


def submit(client, path: str, form: dict):
    return client.post(path, data={"csrf_token": csrf_token(client, path), **form})


def stored(app, slug: str = "refuge-now") -> Petition | None:
    with app.app_context():
        petition = _db.session.scalar(select(Petition).where(Petition.slug == slug))
        if petition is not None:  # load what the tests read, then leave the session
            _ = [(t.locale, t.title) for t in petition.texts]
            _ = [[(t.locale, t.title) for t in d.texts] for d in petition.demands]
            _db.session.expunge_all()
        return petition


def petitions_stored(app) -> int:
    with app.app_context():
        return _db.session.scalar(select(func.count()).select_from(Petition))


def demand_titles(petition: Petition, locale: str) -> list[str]:
    return [next(t.title for t in d.texts if t.locale == locale) for d in petition.demands]


@pytest.fixture
def created(app, auth, people):
    coordinator = auth.coordinator()
    response = submit(coordinator, "/admin/petitions/new", new_petition_form())
    assert response.status_code == 302, response.get_data(as_text=True)
    return stored(app)


def test_a_coordinator_creates_a_draft_from_the_form(app, auth, people, created):
    coordinator = auth.coordinator()
    assert created.status == PetitionStatus.DRAFT and created.goal == 2500
    assert {t.locale: t.title for t in created.texts} == {"en": "Refuge now"}
    assert demand_titles(created, "en") == ["Humanitarian visas"]
    page = coordinator.get("/admin/petitions/refuge-now/edit").get_data(as_text=True)
    assert "Refuge now" in page and "Humanitarian visas" in page
    assert coordinator.get("/petitions/refuge-now").status_code == 404  # a draft is not public
    with app.app_context():
        assert _db.session.scalar(select(func.count()).select_from(AuditEvent)
                                  .where(AuditEvent.action == "petition.create")) == 1


@pytest.mark.parametrize(("changes", "field"), [
    ({"texts.en.title": ""}, "texts.en.title"),
    ({"slug": "Not A Slug"}, "slug"),
    ({"slug": "new"}, "slug"),
    ({"goal": "lots"}, "goal"),
    ({"opens_at": "2027-03-01T10:00", "closes_at": "2027-02-01T10:00"}, "closes_at"),
    ({"opens_at": "the first of March"}, "opens_at"),
    ({"demands.0.texts.en.title": "", "demands.0.texts.en.text": "A text without a title"},
     "demands.0.texts.en.title"),
])
def test_a_bad_field_is_refused_at_the_field_and_nothing_is_stored(app, auth, people, changes, field):
    coordinator = auth.coordinator()
    response = submit(coordinator, "/admin/petitions/new", new_petition_form(**changes))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert f'id="f-{field}-error"' in page, page
    assert petitions_stored(app) == 0
    for name, value in changes.items():  # what was typed is shown again
        if value and name not in ("default_locale",):
            assert value.replace("&", "&amp;") in page


def test_a_slug_taken_is_refused(app, auth, people, created):
    coordinator = auth.coordinator()
    response = submit(coordinator, "/admin/petitions/new", new_petition_form(**{"texts.en.title": "Again"}))
    assert response.status_code == 422 and 'id="f-slug-error"' in response.get_data(as_text=True)
    assert petitions_stored(app) == 1


def test_a_new_petition_can_be_written_first_in_german(app, auth, people):
    coordinator = auth.coordinator()
    form = {k.replace(".en.", ".de."): v for k, v in new_petition_form(default_locale="de").items()}
    response = submit(coordinator, "/admin/petitions/new?locale=de", form)
    assert response.status_code == 302
    petition = stored(app)
    assert petition.default_locale == "de" and demand_titles(petition, "de") == ["Humanitarian visas"]


def edit_form(client, path: str) -> dict:
    """The editor's fields as the browser would send them back unchanged."""
    page = client.get(path).get_data(as_text=True)
    form = {}
    for tag in re.findall(r"<input [^>]*>", page):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name and 'type="checkbox"' not in tag and 'type="submit"' not in tag:
            form[name.group(1)] = value.group(1) if value else ""
    for name, value in re.findall(r'<textarea id="[^"]+" name="([^"]+)"[^>]*>\n(.*?)</textarea>', page, re.S):
        form[name] = value
    for name, options in re.findall(r'<select id="[^"]+" name="([^"]+)">(.*?)</select>', page, re.S):
        form[name] = re.search(r'value="([^"]+)" selected', options).group(1)
    form.pop("csrf_token", None)
    return {name: html.unescape(value) for name, value in form.items()}


def test_a_translation_is_written_beside_the_default_text(app, auth, people, created):
    coordinator = auth.coordinator()
    path = "/admin/petitions/refuge-now/edit?locale=de"
    form = edit_form(coordinator, path)
    assert form["texts.en.title"] == "Refuge now" and form["texts.de.title"] == ""
    form.update({"texts.de.title": "Zuflucht jetzt", "texts.de.summary": "Schützt, wer verweigert.",
                 "demands.0.texts.de.title": "Humanitäre Visa", "action": "save"})
    assert submit(coordinator, path, form).status_code == 302
    petition = stored(app)
    assert {t.locale: t.title for t in petition.texts} == {"en": "Refuge now", "de": "Zuflucht jetzt"}
    assert demand_titles(petition, "de") == ["Humanitäre Visa"]
    # Russian, edited next, leaves the German alone
    form = edit_form(coordinator, "/admin/petitions/refuge-now/edit?locale=ru")
    form.update({"texts.ru.title": "Убежище сейчас", "demands.0.texts.ru.title": "Гуманитарные визы",
                 "action": "save"})
    assert submit(coordinator, "/admin/petitions/refuge-now/edit?locale=ru", form).status_code == 302
    petition = stored(app)
    assert demand_titles(petition, "de") == ["Humanitäre Visa"]
    assert demand_titles(petition, "ru") == ["Гуманитарные визы"]


def test_demands_are_added_reordered_and_removed_keeping_their_translations(app, auth, people, created):
    coordinator = auth.coordinator()
    path = "/admin/petitions/refuge-now/edit?locale=de"
    form = edit_form(coordinator, path)
    form["demands.0.texts.de.title"] = "Humanitäre Visa"
    form["action"] = "add_demand"
    page = submit(coordinator, path, form).get_data(as_text=True)
    assert 'name="demands.1.position"' in page  # one more, empty row; nothing saved yet
    assert "Humanitäre Visa" in page  # what was typed stays in the form
    assert [t.locale for t in stored(app).demands[0].texts] == ["en"] and len(stored(app).demands) == 1
    form.update({"action": "save", "demands.1.position": "2", "demands.1.texts.en.title": "No deportations",
                 "demands.1.texts.de.title": "Keine Abschiebungen"})
    assert submit(coordinator, path, form).status_code == 302
    assert demand_titles(stored(app), "en") == ["Humanitarian visas", "No deportations"]
    # reorder: the second goes first; the German follows its demand
    form = edit_form(coordinator, path)
    form.update({"demands.0.position": "2", "demands.1.position": "1", "action": "save"})
    assert submit(coordinator, path, form).status_code == 302
    petition = stored(app)
    assert demand_titles(petition, "en") == ["No deportations", "Humanitarian visas"]
    assert demand_titles(petition, "de") == ["Keine Abschiebungen", "Humanitäre Visa"]
    # remove the first
    form = edit_form(coordinator, "/admin/petitions/refuge-now/edit")
    form.update({"demands.0.remove": "1", "action": "save"})
    assert submit(coordinator, "/admin/petitions/refuge-now/edit", form).status_code == 302
    petition = stored(app)
    assert demand_titles(petition, "en") == ["Humanitarian visas"]
    assert demand_titles(petition, "de") == ["Humanitäre Visa"]


def test_a_translation_is_outdated_when_the_default_text_changes_after_it(app, auth, people, created):
    coordinator = auth.coordinator()
    path = "/admin/petitions/refuge-now/edit?locale=de"
    form = edit_form(coordinator, path)
    form.update({"texts.de.title": "Zuflucht jetzt", "demands.0.texts.de.title": "Humanitäre Visa",
                 "action": "save"})
    submit(coordinator, path, form)
    with app.app_context():
        states = authoring.translations(_db.session.scalar(select(Petition)), ["en", "de", "ru"])
    assert states == {"en": Translation.DEFAULT, "de": Translation.CURRENT, "ru": Translation.MISSING}
    time.sleep(0.01)  # the clock must move on between the two saves
    # the English demand changes; the whole form (German unchanged) is saved with it
    form = edit_form(coordinator, path)
    form.update({"demands.0.texts.en.text": "Open a safe and legal way.", "action": "save"})
    submit(coordinator, path, form)
    with app.app_context():
        states = authoring.translations(_db.session.scalar(select(Petition)), ["en", "de"])
    assert states["de"] == Translation.OUTDATED
    listing = coordinator.get("/admin/petitions").get_data(as_text=True)
    assert "Deutsch: translation outdated" in listing and "Русский: translation missing" in listing
    page = coordinator.get(path).get_data(as_text=True)
    assert 'name="confirm_current" value="de"' in page
    # a translator checks it and says it is still current
    form = edit_form(coordinator, path)
    form.update({"confirm_current": "de", "action": "save"})
    submit(coordinator, path, form)
    with app.app_context():
        states = authoring.translations(_db.session.scalar(select(Petition)), ["de"])
        assert _db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "petition.translations_confirmed")) == 1
    assert states["de"] == Translation.CURRENT


def test_the_preview_shows_the_unsaved_text_as_the_public_page_does(app, auth, people, created):
    coordinator = auth.coordinator()
    path = "/admin/petitions/refuge-now/edit?locale=de"
    form = edit_form(coordinator, path)
    form.update({"texts.de.title": "Zuflucht jetzt", "texts.de.body_markdown": "<script>x()</script>*Jetzt*",
                 "demands.0.texts.de.title": "Humanitäre Visa", "action": "preview"})
    response = submit(coordinator, path, form)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<h1>Zuflucht jetzt</h1>" in page and "Humanitäre Visa" in page
    assert "<em>Jetzt</em>" in page and "<script>x()" not in page  # sanitised as in public
    assert "Unsere Forderungen" in page  # the page's own words in German, as the public sees them
    assert {t.locale for t in stored(app).texts} == {"en"}  # nothing saved
    # the preview's Save button saves what was previewed
    saved = re.search(r'<form method="post" action="[^"]*">(.*?)</form>', page, re.S).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', saved))
    fields = {k: html.unescape(v) for k, v in fields.items()}
    assert coordinator.post(path, data={**fields, "action": "save"}).status_code == 302
    assert {t.locale: t.title for t in stored(app).texts}["de"] == "Zuflucht jetzt"


def test_a_preview_with_an_error_shows_the_form_again(app, auth, people, created):
    coordinator = auth.coordinator()
    path = "/admin/petitions/refuge-now/edit"
    form = edit_form(coordinator, path)
    form.update({"texts.en.title": "", "action": "preview"})
    response = submit(coordinator, path, form)
    assert response.status_code == 422 and 'id="f-texts.en.title-error"' in response.get_data(as_text=True)


def test_the_saved_preview_of_a_draft_and_its_opening(app, auth, people, created):
    coordinator = auth.coordinator()
    page = coordinator.get("/admin/petitions/refuge-now/preview?locale=en").get_data(as_text=True)
    assert "<h1>Refuge now</h1>" in page and "inert" in page  # the sign form is shown, not usable
    confirm = coordinator.get("/admin/petitions/refuge-now/status/open")
    assert confirm.status_code == 200 and stored(app).status == PetitionStatus.DRAFT  # a GET changes nothing
    response = submit(coordinator, "/admin/petitions/refuge-now/status/open", {})
    assert response.status_code == 302 and stored(app).status == PetitionStatus.OPEN
    assert coordinator.get("/petitions/refuge-now").status_code == 200
    # open cannot be opened again; closing works; a closed one can be reopened
    again = coordinator.get("/admin/petitions/refuge-now/status/open")
    assert again.status_code == 302
    submit(coordinator, "/admin/petitions/refuge-now/status/closed", {})
    assert stored(app).status == PetitionStatus.CLOSED
    submit(coordinator, "/admin/petitions/refuge-now/status/open", {})
    assert stored(app).status == PetitionStatus.OPEN
    with app.app_context():
        moves = _db.session.scalars(select(AuditEvent.details).where(AuditEvent.action == "petition.status")
                                    .order_by(AuditEvent.id)).all()
    assert [m["after"] for m in moves] == ["open", "closed", "open"]


def test_the_address_of_an_open_petition_cannot_change(app, auth, people, created):
    coordinator = auth.coordinator()
    submit(coordinator, "/admin/petitions/refuge-now/status/open", {})
    form = edit_form(coordinator, "/admin/petitions/refuge-now/edit")
    form.update({"slug": "another-address", "default_locale": "xx", "action": "save"})
    response = submit(coordinator, "/admin/petitions/refuge-now/edit", form)
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="f-slug-error"' in page
    assert 'id="f-default_locale-error"' in page
    assert stored(app).slug == "refuge-now" and stored(app).default_locale == "en"


@pytest.mark.parametrize("path", ["/admin/petitions/new", "/admin/petitions/refuge-now/edit",
                                  "/admin/petitions/refuge-now/preview",
                                  "/admin/petitions/refuge-now/status/open"])
def test_members_and_strangers_are_kept_out(app, client, people, created, path, auth):
    client.get("/account/logout")
    with client.session_transaction() as session:
        session.clear()
    assert client.get(path).status_code == 302  # to the login page
    auth.member(people.org_a)
    assert client.get(path).status_code in (403, 404)
