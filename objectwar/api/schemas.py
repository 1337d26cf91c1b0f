"""The OpenAPI 3 document of JSON API v1 (served at ``/api/v1/openapi.json``).

It describes what CONTRACT.md promises, with the constraints the code enforces:
a request the document allows is accepted unless a rule it cannot state refuses
it (an address already taken, a list that does not exist, a date that has
passed: each named in the operation's description), and a request it forbids is
refused. ``tests/test_openapi.py`` checks that every route under ``/api/v1`` is
here and nothing else; ``tests/test_api_fuzz.py`` fuzzes the code against it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from config import Config
from objectwar.api.signing import ACCEPTED_STATUS
from objectwar.mailing.models import MailoutStatus
from objectwar.petitions import export
from objectwar.petitions.models import PetitionStatus
from objectwar.validation import BIDI_CONTROLS, CONTROL_CHARACTERS, SLUG, country_codes


def _char_class(chars: Iterable[str]) -> str:
    """``chars`` as the inside of a regular expression's class: escaped, runs of three or
    more as ranges."""
    def escape(code: int) -> str:
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    codes = sorted(map(ord, chars))
    runs: list[list[int]] = []
    for code in codes:
        if runs and code == runs[-1][-1] + 1:
            runs[-1].append(code)
        else:
            runs.append([code])
    return "".join(f"{escape(run[0])}-{escape(run[-1])}" if len(run) >= 3
                   else "".join(map(escape, run)) for run in runs)


LANGUAGES = Config.LANGUAGES
PETITION_STATUSES = tuple(status.value for status in PetitionStatus)
MAILOUT_STATUSES = tuple(status.value for status in MailoutStatus)
SLUG_PATTERN = f"^{SLUG.pattern}$"
# Names and texts are trimmed; inside them no control characters, nor the
# bidirectional controls that make a name display as another (objectwar.validation).
_CONTROLS = _char_class(CONTROL_CHARACTERS)
_BIDI = _char_class(BIDI_CONTROLS)
NAME_PATTERN = (rf"^\s*[^\s{_CONTROLS}{_BIDI}]"
                rf"(?:[^{_CONTROLS}{_BIDI}]*[^\s{_CONTROLS}{_BIDI}])?\s*$")
TEXT_PATTERN = (rf"^\s*(?:[^{_char_class(CONTROL_CHARACTERS - set(chr(9) + chr(10)))}{_BIDI}]"
                rf"|\r\n)*\s*$")  # lines and tabs
# A mail-out's texts are sent as written: only NUL is refused, and a subject is one line.
SUBJECT_PATTERN = r"^\s*[^\r\n\x00]*[^\s\x00][^\r\n\x00]*\s*$"
MAIL_TEXT_PATTERN = r"^[^\x00]*[^\s\x00][^\x00]*$"
# The export's columns (``petitions.export``), comma-separated, each among them.
_COLUMN = f"(?:{'|'.join(export.COLUMNS)})"
COLUMNS_PATTERN = rf"^\s*(?:{_COLUMN}\s*(?:,\s*{_COLUMN}\s*)*)?$"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str, headers: dict | None = None) -> dict[str, Any]:
    response = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def _header(description: str, kind: str = "string") -> dict[str, Any]:
    return {"description": description, "required": True, "schema": {"type": kind}}


RETRY_AFTER = {"Retry-After": _header("Seconds to wait before trying again", "integer")}
ERROR_RESPONSES = {
    "400": _json(_ref("Errors"), "The body cannot be read (JSON nested too deeply)"),
    "401": _json(_ref("Errors"), "Missing or invalid bearer token",
                 {"WWW-Authenticate": _header('`Bearer realm="objectwar"`')}),
    "403": _json(_ref("Errors"), "The token's user may not do this (not a coordinator)"),
    "404": _json(_ref("Errors"), "Unknown object"),
    "409": _json(_ref("Errors"), "Not allowed in the object's current status"),
    "413": _json(_ref("Errors"), "The body is too large"),
    "415": _json(_ref("Errors"), "The body is not JSON (Content-Type)"),
    "422": _json(_ref("Errors"), "Invalid input; messages per field"),
    "429": _json(_ref("Errors"), "Rate limit", RETRY_AFTER),
    "503": _json(_ref("Errors"), "The database is briefly unavailable", RETRY_AFTER),
}
BODY = ("400", "413", "415", "422")  # every operation that reads a JSON body
AUTH = ("401", "403")
BEARER = [{"bearer": []}]


def _responses(ok: dict[str, Any], *codes: str) -> dict[str, Any]:
    """``ok`` (status -> response) and the error answers ``codes``; every operation that
    reads the database may answer 503."""
    return {**ok, **{code: ERROR_RESPONSES[code] for code in sorted({*codes, "503"})}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _path_param(name: str) -> dict[str, Any]:
    schema = ({"type": "integer", "minimum": 1, "maximum": 2147483647} if name == "id"
              else {"type": "string", "pattern": SLUG_PATTERN})
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _name(max_length: int, **extra: Any) -> dict[str, Any]:
    """A name or title: trimmed, 1 to ``max_length`` characters as sent, no controls."""
    return {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": NAME_PATTERN,
            **extra}


def _text(max_length: int) -> dict[str, Any]:
    """A longer text of several lines; ``null`` or empty: none."""
    return {"type": "string", "maxLength": max_length, "pattern": TEXT_PATTERN, "nullable": True}


def _per_locale(schema: dict[str, Any], languages: Iterable[str], description: str) -> dict[str, Any]:
    return {"type": "object", "description": description, "additionalProperties": False,
            "properties": {locale: schema for locale in languages}}


def _petition(statuses: Iterable[str], languages: tuple[str, ...]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["slug", "title", "summary", "status", "goal", "signatures", "by_country",
                     "demands", "locale"],
        "properties": {
            "slug": {"type": "string", "pattern": SLUG_PATTERN},
            "title": {"type": "string"},
            "summary": {"type": "string"},
            "status": {"type": "string", "enum": list(statuses)},
            "goal": {"type": "integer", "minimum": 1},
            "signatures": {"type": "integer", "minimum": 0, "description": "Confirmed signatures"},
            "by_country": {
                "type": "object",
                "additionalProperties": {"type": "integer", "minimum": 0},
                "description": "Confirmed signatures by ISO 3166-1 alpha-2 country, largest "
                               "first; every country with fewer than PUBLIC_COUNTRY_MINIMUM "
                               "(default 10) is counted in \"other\"",
                "example": {"DE": 1250, "AT": 310, "other": 42}},
            "demands": {"type": "array", "items": _ref("Demand")},
            "locale": {"type": "string", "enum": list(languages),
                       "description": "The language of the texts (the default one when the "
                                      "asked one has no translation)"},
        },
    }


def _petition_write(*, creating: bool, languages: tuple[str, ...]) -> dict[str, Any]:
    text = {"type": "object", "required": ["title"], "properties": {
        "title": _name(300), "summary": _text(2000), "body_markdown": _text(50000)}}
    demand_text = {"type": "object", "required": ["title"], "properties": {
        "title": _name(300), "text": _text(2000)}}
    schema: dict[str, Any] = {"type": "object", "properties": {
        "slug": {"type": "string", "pattern": SLUG_PATTERN, "not": {"enum": ["new"]},
                 "description": "The petition's address; free, and unchanged once published"},
        "goal": {"type": "integer", "minimum": 1, "maximum": 100_000_000,
                 **({"default": 10_000} if creating else {})},
        "default_locale": {"type": "string", "enum": list(languages),
                           **({"default": "en"} if creating else {})},
        "status": ({"type": "string", "enum": [PetitionStatus.DRAFT.value, PetitionStatus.OPEN.value],
                    "default": PetitionStatus.DRAFT.value} if creating
                   else {"type": "string", "enum": list(PETITION_STATUSES),
                         "description": "draft → open → closed, and closed → open"}),
        "opens_at": {"type": "string", "format": "date-time", "nullable": True,
                     "description": "A draft opens then by itself; without a zone, UTC"},
        "closes_at": {"type": "string", "format": "date-time", "nullable": True,
                      "description": "After opens_at; an open petition closes then by itself"},
        "texts": _per_locale(text, languages, "Per language; the default language needs one"),
        "demands": {"type": "array", "maxItems": 20, "items": {
            "type": "object", "required": ["texts"], "properties": {"texts": _per_locale(
                demand_text, languages, "Per language; the default language needs one")}},
            "description": "Replaces every demand, numbered in this order"},
    }}
    if creating:
        schema["required"] = ["slug", "texts"]
    return schema


def _mailout_action(summary: str) -> dict[str, Any]:
    return {"post": {
        "summary": summary,
        "security": BEARER,
        "parameters": [_path_param("id")],
        "responses": _responses({"202": _json(_ref("MailoutProgress"), "Accepted")},
                                *AUTH, "404", "409"),
    }}


def openapi_document(server_url: str, languages: Iterable[str] = LANGUAGES) -> dict[str, Any]:
    """The whole document, with ``server_url`` (PUBLIC_URL) as its server."""
    languages = tuple(languages)
    countries = country_codes()
    lang = {"name": "lang", "in": "query", "required": False,
            "schema": {"type": "string", "enum": list(languages)},
            "description": "Language of the texts; without it, Accept-Language. Any other "
                           "value is refused (422)"}
    petition_path = [_path_param("slug")]
    document = {
        "openapi": "3.0.3",
        "info": {
            "title": "ObjectWar campaign API",
            "version": "1",
            "description": "Public petition and directory data, signing, and the coordinators' "
                           "petition and mailing tools. Errors are "
                           "`{\"errors\": {field: [message, ...]}}`. A body must be JSON "
                           "(`Content-Type: application/json`).",
        },
        "servers": [{"url": server_url + "/api/v1"}],
        "paths": {
            "/petitions": {"get": {
                "summary": "Open and closed petitions (never drafts)",
                "parameters": [lang],
                "responses": _responses({"200": _json({
                    "type": "object", "required": ["petitions"], "properties": {
                        "petitions": {"type": "array", "items": _ref("Petition")}}},
                    "The petitions")}, "422"),
            }, "post": {
                "summary": "Create a petition (a draft, or open at once); audited",
                "description": "Refused (422) beyond this schema: a slug another petition has; "
                               "no title in the default language, for the petition or a demand; "
                               "closes_at not after opens_at.",
                "security": BEARER,
                "requestBody": _body(_ref("PetitionCreate")),
                "responses": _responses({"201": _json(_ref("CoordinatorPetition"), "The petition")},
                                        *AUTH, *BODY),
            }},
            "/petitions/{slug}": {"get": {
                "summary": "One petition with its demands and confirmed count",
                "parameters": [*petition_path, lang],
                "responses": _responses({"200": _json(_ref("Petition"), "The petition")},
                                        "404", "422"),
            }, "patch": {
                "summary": "Change any field; audited",
                "description": "Refused (422) beyond this schema: a status the petition cannot "
                               "move to from its own; a new slug for a published petition, or one "
                               "another petition has; a default language without a title; "
                               "closes_at not after opens_at.",
                "security": BEARER,
                "parameters": [*petition_path, lang],
                "requestBody": _body(_ref("PetitionChange")),
                "responses": _responses({"200": _json(_ref("CoordinatorPetition"), "The petition")},
                                        *AUTH, "404", *BODY),
            }},
            "/petitions/{slug}/signatures": {"post": {
                "summary": "Sign a petition; a confirmation email goes out",
                "description": "Answers the same for a new and a repeat signer. Refused (422) "
                               "beyond this schema: an organisation that is not a member; a "
                               "closed petition; an address at a domain without a dot or at a "
                               "special-use one (.test, .local, .invalid...). At most SIGN_RATE_LIMIT attempts per client "
                               "address (429); a body over 16 KB is refused (413).",
                "parameters": [*petition_path, {**lang, "description":
                               "The signer's language when the body has no locale"}],
                "requestBody": _body(_ref("SignatureRequest")),
                "responses": _responses({"202": _json(_ref("SignatureAccepted"),
                                                      "Pending confirmation")},
                                        "404", "429", *BODY),
            }},
            "/petitions/{slug}/stats": {"get": {
                "summary": "A petition's statistics for coordinators (every country, nothing folded)",
                "security": BEARER,
                "parameters": petition_path,
                "responses": _responses({"200": _json(_ref("PetitionStats"), "The statistics")},
                                        *AUTH, "404"),
            }},
            "/petitions/{slug}/signatures.csv": {"get": {
                "summary": ("The handover export: confirmed signatures as CSV (UTF-8 with BOM, "
                            "formula-safe), streamed; audited"),
                "security": BEARER,
                "parameters": [*petition_path, {
                    "name": "columns", "in": "query", "required": False,
                    "description": ("Comma-separated, each once, among first_name, last_name, "
                                    "country, organisation, confirmed_at and email (only when "
                                    "named); empty or absent: first_name,last_name,country,"
                                    "organisation,confirmed_at. A column named twice is "
                                    "refused (422)"),
                    "schema": {"type": "string", "pattern": COLUMNS_PATTERN}}],
                "responses": _responses({"200": {
                    "description": "The CSV file",
                    "content": {"text/csv": {"schema": {"type": "string"}}}}},
                    *AUTH, "404", "422"),
            }},
            "/organisations": {"get": {
                "summary": "Member organisations (no contact data)",
                "parameters": [{"name": "country", "in": "query", "required": False,
                                "description": "ISO 3166-1 alpha-2 code, any case",
                                "schema": {"type": "string", "pattern": "^[A-Za-z]{2}$"}}],
                "responses": _responses({"200": _json({
                    "type": "object", "required": ["organisations"], "properties": {
                        "organisations": {"type": "array", "items": _ref("Organisation")}}},
                    "The organisations")}, "422"),
            }},
            "/lists": {"get": {
                "summary": "Mailing lists with their subscriber counts",
                "security": BEARER,
                "responses": _responses({"200": _json({
                    "type": "object", "required": ["lists"], "properties": {
                        "lists": {"type": "array", "items": _ref("MailingList")}}}, "The lists")},
                    *AUTH),
            }},
            "/lists/{slug}/subscribers": {"post": {
                "summary": ("Import subscribers; addresses that unsubscribed, bounced, complained "
                            "or were deleted are skipped, never re-subscribed"),
                "description": "Each row is checked on its own: a row that is not a valid "
                               "`Subscriber` is listed in `errors` by its index, the others "
                               "are imported.",
                "security": BEARER,
                "parameters": [_path_param("slug")],
                "requestBody": _body(_ref("SubscriberImport")),
                "responses": _responses({"200": _json(_ref("ImportResult"), "What the import did")},
                                        *AUTH, "404", *BODY),
            }},
            "/lists/{slug}/subscribers.csv": {"get": {
                "summary": "Export a list's subscribers as CSV (streamed; formula cells neutralised)",
                "security": BEARER,
                "parameters": [_path_param("slug")],
                "responses": _responses({"200": {"description": "CSV", "content": {"text/csv": {
                    "schema": {"type": "string"}}}}}, *AUTH, "404"),
            }},
            "/mailouts": {"post": {
                "summary": "Create a mail-out (a draft; it sends nothing yet)",
                "description": "Refused (422) beyond this schema: a list that does not exist; "
                               "a Reply-To that is not one of MAIL_FROM_CHOICES.",
                "security": BEARER,
                "requestBody": _body(_ref("MailoutRequest")),
                "responses": _responses({"201": _json(
                    _ref("MailoutProgress"), "Created",
                    {"Location": _header("The mail-out's address in this API")})}, *AUTH, *BODY),
            }},
            "/mailouts/{id}": {"get": {
                "summary": "A mail-out's status and progress",
                "security": BEARER,
                "parameters": [_path_param("id")],
                "responses": _responses({"200": _json(_ref("MailoutProgress"), "Progress")},
                                        *AUTH, "404"),
            }, "put": {
                "summary": "Replace a draft's or scheduled mail-out's list, texts, audience and pace",
                "description": "The fields of a new mail-out; a translation left out is removed. "
                               "Refused with 409 once sending started, and (422) beyond this "
                               "schema as to create one.",
                "security": BEARER,
                "parameters": [_path_param("id")],
                "requestBody": _body(_ref("MailoutRequest")),
                "responses": _responses({"200": _json(_ref("MailoutProgress"), "Changed")},
                                        *AUTH, "404", "409", *BODY),
            }},
            "/mailouts/{id}/duplicate": {"post": {
                "summary": "A new draft with the texts, list, audience and pace of any mail-out",
                "security": BEARER,
                "parameters": [_path_param("id")],
                "responses": _responses({"201": _json(
                    _ref("MailoutProgress"), "The new draft",
                    {"Location": _header("The new mail-out's address in this API")})},
                    *AUTH, "404"),
            }},
            "/mailouts/{id}/send": _mailout_action("Start or resume sending"),
            "/mailouts/{id}/pause": _mailout_action("Pause sending"),
            "/mailouts/{id}/cancel": _mailout_action("Cancel: what is not sent yet never is"),
            "/mailouts/{id}/schedule": {"post": {
                "summary": "Schedule a draft (or move a scheduled mail-out)",
                "description": "Refused (422) beyond this schema: a time that is not in the future.",
                "security": BEARER,
                "parameters": [_path_param("id")],
                "requestBody": _body({"type": "object", "required": ["scheduled_at"], "properties": {
                    "scheduled_at": {"type": "string", "format": "date-time",
                                     "description": "With its zone, in the future"}}}),
                "responses": _responses({"202": _json(_ref("MailoutProgress"), "Scheduled")},
                                        *AUTH, "404", "409", *BODY),
            }},
            "/openapi.json": {"get": {
                "summary": "This document",
                "responses": {"200": _json({"type": "object", "required": ["openapi", "paths"]},
                                           "OpenAPI 3 document")},
            }},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "A token from `flask create-token`"}},
            "schemas": {
                "Errors": {"type": "object", "required": ["errors"], "properties": {
                    "errors": {"type": "object", "minProperties": 1, "additionalProperties": {
                        "type": "array", "minItems": 1, "items": {"type": "string"}}}}},
                "Demand": {"type": "object", "required": ["position", "title", "text"], "properties": {
                    "position": {"type": "integer", "minimum": 1}, "title": {"type": "string"},
                    "text": {"type": "string"}}},
                "Petition": _petition((PetitionStatus.OPEN.value, PetitionStatus.CLOSED.value),
                                      languages),
                "CoordinatorPetition": _petition(PETITION_STATUSES, languages),
                "PetitionCreate": _petition_write(creating=True, languages=languages),
                "PetitionChange": _petition_write(creating=False, languages=languages),
                "PetitionStats": {"type": "object", "required": [
                    "confirmed", "unconfirmed", "confirmation_rate", "by_day", "by_country",
                    "by_organisation"], "properties": {
                    "confirmed": {"type": "integer", "minimum": 0},
                    "unconfirmed": {"type": "integer", "minimum": 0},
                    "confirmation_rate": {"type": "number", "nullable": True, "minimum": 0,
                                          "maximum": 1,
                                          "description": "confirmed / (confirmed + unconfirmed)"},
                    "by_day": {"type": "array", "items": {
                        "type": "object", "required": ["date", "signed", "confirmed"], "properties": {
                            "date": {"type": "string", "format": "date", "description": "UTC day"},
                            "signed": {"type": "integer", "minimum": 0},
                            "confirmed": {"type": "integer", "minimum": 0}}}},
                    "by_country": {"type": "object",
                                   "additionalProperties": {"type": "integer", "minimum": 0}},
                    "by_organisation": {"type": "object",
                                        "additionalProperties": {"type": "integer", "minimum": 0},
                                        "description": "confirmed signatures by partner slug"}}},
                "SignatureRequest": {
                    "type": "object",
                    "required": ["first_name", "last_name", "email", "country", "consent"],
                    "properties": {
                        "first_name": _name(100),
                        "last_name": _name(100),
                        "email": {"type": "string", "format": "email", "maxLength": 254},
                        "country": {"type": "string", "enum": countries,
                                    "description": "ISO 3166-1 alpha-2, upper case"},
                        "consent": {"type": "boolean", "enum": [True]},
                        "updates": {"type": "boolean", "nullable": True,
                                    "description": "Subscribe to the campaign's updates; null: no"},
                        "public_name": {"type": "boolean", "nullable": True,
                                        "description": "Show the name among the signers; null: no"},
                        "locale": {"type": "string", "enum": [*languages, None], "nullable": True,
                                   "description": "The signer's language; null: ?lang=, else "
                                                  "Accept-Language"},
                        "organisation": {"type": "string", "nullable": True,
                                         "description": "Slug of the member organisation "
                                                        "credited; empty or null: none"},
                        "partner_consent": {
                            "type": "boolean", "nullable": True, "default": False,
                            "description": "With an organisation: the signer agrees that it may "
                                           "contact them"}}},
                "SignatureAccepted": {"type": "object", "required": ["status", "notices"],
                                      "properties": {
                    "status": {"type": "string", "enum": [ACCEPTED_STATUS]},
                    "notices": {"type": "array", "items": {"type": "string"}}}},
                "Organisation": {"type": "object", "required": [
                    "slug", "name", "country", "city", "website", "description_html", "logo_url"],
                    "properties": {
                    "slug": {"type": "string", "pattern": SLUG_PATTERN},
                    "name": {"type": "string"},
                    "country": {"type": "string", "enum": countries},
                    "city": {"type": "string", "nullable": True},
                    "website": {"type": "string", "format": "iri", "nullable": True},
                    "description_html": {"type": "string"},
                    "logo_url": {"type": "string", "format": "uri", "nullable": True}}},
                "MailingList": {"type": "object", "required": ["slug", "name", "subscribers"],
                                "properties": {
                    "slug": {"type": "string"}, "name": {"type": "string"},
                    "subscribers": {"type": "integer", "minimum": 0}}},
                "Subscriber": {"type": "object", "required": ["email"], "properties": {
                    "email": {"type": "string", "format": "email", "maxLength": 254},
                    "name": {"type": "string", "nullable": True, "maxLength": 100},
                    "locale": {"type": "string", "enum": [*languages, None], "nullable": True},
                    "country": {"type": "string", "enum": [*countries, None], "nullable": True}}},
                "SubscriberImport": {"type": "object", "required": ["subscribers"], "properties": {
                    "subscribers": {"type": "array", "maxItems": 10_000, "items": {
                        "description": "A `Subscriber`; any other row is reported in `errors`",
                        "anyOf": [_ref("Subscriber"), {}]}},
                    "confirmed": {"type": "boolean", "default": False,
                                  "description": "These people consented already: subscribed "
                                                 "at once, else asked to confirm"}}},
                "ImportResult": {"type": "object",
                                 "required": ["added", "updated", "skipped", "errors"], "properties": {
                    "added": {"type": "integer", "minimum": 0},
                    "updated": {"type": "integer", "minimum": 0},
                    "skipped": {"type": "integer", "minimum": 0},
                    "errors": {"type": "array", "items": {
                        "type": "object", "required": ["index", "errors"], "properties": {
                            "index": {"type": "integer", "minimum": 0},
                            "errors": {"type": "object", "additionalProperties": {
                                "type": "array", "items": {"type": "string"}}}}}}}},
                "MailoutRequest": {
                    "type": "object", "required": ["list", "subject", "body_markdown"],
                    "properties": {
                        "list": {"type": "string", "maxLength": 80, "pattern": MAIL_TEXT_PATTERN,
                                 "description": "The list's slug"},
                        "locale": {"type": "string", "enum": list(languages), "default": "en",
                                   "description": "The language of subject and body_markdown"},
                        "subject": {"type": "string", "maxLength": 300, "pattern": SUBJECT_PATTERN},
                        "body_markdown": {"type": "string", "maxLength": 100_000,
                                          "pattern": MAIL_TEXT_PATTERN,
                                          "description": "Markdown; {{ name }} and "
                                                         "{{ unsubscribe_url }} are filled in"},
                        "translations": {**_per_locale({
                            "type": "object", "required": ["subject", "body_markdown"],
                            "properties": {
                                "subject": {"type": "string", "maxLength": 300,
                                            "pattern": SUBJECT_PATTERN},
                                "body_markdown": {"type": "string", "maxLength": 100_000,
                                                  "pattern": MAIL_TEXT_PATTERN}}},
                            languages, "Subject and body in other languages"), "nullable": True},
                        "audience": {"type": "object", "nullable": True, "properties": {
                            "country": {"type": "array", "nullable": True, "items": {
                                "type": "string", "enum": countries}},
                            "locale": {"type": "array", "nullable": True, "items": {
                                "type": "string", "enum": list(languages)}}},
                            "description": "Only subscribers of these countries and languages; "
                                           "empty or null: everyone"},
                        "rate_per_minute": {"type": "integer", "minimum": 1, "maximum": 1_000_000,
                                            "description": "Default MAILOUT_RATE_PER_MINUTE"},
                        "from_name": {"type": "string", "nullable": True, "maxLength": 100,
                                      "pattern": rf"^\s*$|{NAME_PATTERN}",
                                      "description": "The name on the From line; empty: the "
                                                     "configured sender's"},
                        "reply_to": {"type": "string", "nullable": True,
                                     "description": "One of MAIL_FROM_CHOICES' addresses; "
                                                    "empty: no Reply-To"}}},
                "MailoutProgress": {"type": "object", "required": [
                    "id", "status", "recipients", "sent", "failed", "pending", "bounced",
                    "complained", "started_at", "finished_at", "bounce_rate", "complaint_rate",
                    "skipped", "scheduled_at", "rate_per_minute", "estimated_seconds_left"],
                    "properties": {
                    "id": {"type": "integer", "minimum": 1},
                    "status": {"type": "string", "enum": list(MAILOUT_STATUSES)},
                    "recipients": {"type": "integer", "minimum": 0},
                    "sent": {"type": "integer", "minimum": 0},
                    "failed": {"type": "integer", "minimum": 0},
                    "pending": {"type": "integer", "minimum": 0},
                    "skipped": {"type": "integer", "minimum": 0},
                    "bounced": {"type": "integer", "minimum": 0, "description":
                                "deliveries whose address bounced: refused by the relay with a"
                                " 5xx, or reported by a DSN after it accepted them"},
                    "complained": {"type": "integer", "minimum": 0, "description":
                                   "deliveries reported as spam (ARF complaints)"},
                    "bounce_rate": {"type": "number", "minimum": 0, "description":
                                    "bounced / (sent + failed); more than MAILOUT_BOUNCE_PAUSE"
                                    " after 200 messages pauses the mail-out"},
                    "complaint_rate": {"type": "number", "minimum": 0, "description":
                                       "complained / (sent + failed); more than 0.003 after 200"
                                       " messages pauses the mail-out"},
                    "started_at": {"type": "string", "format": "date-time", "nullable": True},
                    "finished_at": {"type": "string", "format": "date-time", "nullable": True},
                    "scheduled_at": {"type": "string", "format": "date-time", "nullable": True},
                    "rate_per_minute": {"type": "integer", "minimum": 1},
                    "estimated_seconds_left": {"type": "integer", "minimum": 0, "nullable": True,
                                               "description": "While sending"},
                    "from_name": {"type": "string", "nullable": True},
                    "reply_to": {"type": "string", "nullable": True}}},
            },
        },
    }
    return document
