"""Every user-facing string is translated into every language, placeholders intact."""

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

TRANSLATIONS = Path(__file__).resolve().parent.parent / "objectwar" / "translations"
LOCALES = ["de", "ru", "uk", "be"]
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def _catalog(locale):
    with open(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po", "rb") as handle:
        return read_po(handle, locale=locale)


def test_template_and_catalogs_agree():
    with open(TRANSLATIONS / "messages.pot", "rb") as handle:
        template_ids = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(handle) if m.id}
    for locale in LOCALES:
        ids = {m.id if isinstance(m.id, str) else m.id[0] for m in _catalog(locale) if m.id}
        assert ids == template_ids, f"{locale}: run `make extract-messages` and translate"


@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_translated_with_its_placeholders(locale):
    for message in _catalog(locale):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"{locale}: untranslated {ids[0]!r}"
        assert "fuzzy" not in message.flags, f"{locale}: fuzzy {ids[0]!r}"
        expected = set(PLACEHOLDER.findall(ids[-1])) | set(PLACEHOLDER.findall(ids[0]))
        for string in strings:
            assert set(PLACEHOLDER.findall(string)) <= expected, f"{locale}: {string!r}"


@pytest.mark.parametrize(("locale", "text"), [
    ("de", "Unterschreiben Sie die Petition"),
    ("ru", "Подпишите петицию"),
    ("uk", "Підпишіть петицію"),
    ("be", "Падпішыце петыцыю"),
])
def test_pages_speak_the_language(client, demo, locale, text):
    assert text in client.get(f"/?lang={locale}").get_data(as_text=True)


def test_plural_forms(client, demo):
    assert "0 Unterschriften" in client.get("/?lang=de").get_data(as_text=True)
    assert "0 подписей" in client.get("/?lang=ru").get_data(as_text=True)
