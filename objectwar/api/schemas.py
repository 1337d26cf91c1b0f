"""The OpenAPI 3 document of JSON API v1 (served at ``/api/v1/openapi.json``).

It describes what CONTRACT.md promises; a test checks that every route under
``/api/v1`` appears here, so the document cannot fall behind the code.
"""

from __future__ import annotations

from typing import Any


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    "401": _json(_ref("Errors"), "Missing or invalid bearer token"),
    "403": _json(_ref("Errors"), "The token's user may not do this"),
    "404": _json(_ref("Errors"), "Unknown object"),
    "422": _json(_ref("Errors"), "Invalid input; messages per field"),
    "429": _json(_ref("Errors"), "Rate limit; see the Retry-After header"),
}
# Every operation that reads a JSON body may answer these too.
BODY_ERRORS = {
    "400": _json(_ref("Errors"), "The body cannot be read (JSON nested too deeply)"),
    "415": _json(_ref("Errors"), "The body is not JSON (Content-Type)"),
}
BEARER = [{"bearer": []}]
LANG = {"name": "lang", "in": "query", "required": False,
        "schema": {"type": "string", "enum": ["en", "de", "ru", "uk", "be"]},
        "description": "Locale of the texts; else Accept-Language"}


def _path_param(name: str, kind: str = "string") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": kind}}


def _mailout_action(verb: str) -> dict[str, Any]:
    return {"post": {
        "summary": f"{verb.capitalize()} a mail-out",
        "security": BEARER,
        "parameters": [_path_param("id", "integer")],
        "responses": {"202": _json(_ref("MailoutProgress"), "Accepted"),
                      "409": _json(_ref("Errors"), "Not allowed in the mail-out's status"),
                      **ERRORS},
    }}


def openapi_document(server_url: str) -> dict[str, Any]:
    """The whole document, with ``server_url`` (PUBLIC_URL) as its server."""
    document = {
        "openapi": "3.0.3",
        "info": {
            "title": "ObjectWar campaign API",
            "version": "1",
            "description": "Public petition and directory data, signing, and the coordinators' "
                           "mailing tools. Errors are `{\"errors\": {field: [message, ...]}}`.",
        },
        "servers": [{"url": server_url + "/api/v1"}],
        "paths": {
            "/petitions": {"get": {
                "summary": "Open and closed petitions (never drafts)",
                "parameters": [LANG],
                "responses": {"200": _json({"type": "object", "required": ["petitions"], "properties": {
                    "petitions": {"type": "array", "items": _ref("Petition")}}}, "The petitions")},
            }, "post": {
                "summary": "Create a petition (a draft, or open at once); audited",
                "security": BEARER,
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": _ref("PetitionWrite")}}},
                "responses": {"201": _json(_ref("Petition"), "The petition"),
                              "401": ERRORS["401"], "403": ERRORS["403"], "422": ERRORS["422"]},
            }},
            "/petitions/{slug}": {"get": {
                "summary": "One petition with its demands and confirmed count",
                "parameters": [_path_param("slug"), LANG],
                "responses": {"200": _json(_ref("Petition"), "The petition"), "404": ERRORS["404"]},
            }, "patch": {
                "summary": ("Change any field; status moves draft → open → closed and closed → open "
                            "(the address of a published petition stays); audited"),
                "security": BEARER,
                "parameters": [_path_param("slug")],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": _ref("PetitionWrite")}}},
                "responses": {"200": _json(_ref("Petition"), "The petition"),
                              "401": ERRORS["401"], "403": ERRORS["403"], "404": ERRORS["404"],
                              "422": ERRORS["422"]},
            }},
            "/petitions/{slug}/signatures": {"post": {
                "summary": "Sign a petition; a confirmation email goes out",
                "description": "Answers the same for a new and a repeat signer.",
                "parameters": [_path_param("slug")],
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("SignatureRequest")}}},
                "responses": {"202": _json(_ref("SignatureAccepted"), "Pending confirmation"),
                              "404": ERRORS["404"], "422": ERRORS["422"], "429": ERRORS["429"]},
            }},
            "/organisations": {"get": {
                "summary": "Member organisations (no contact data)",
                "parameters": [{"name": "country", "in": "query", "required": False,
                                "schema": {"type": "string", "pattern": "^[A-Z]{2}$"}}],
                "responses": {"200": _json({"type": "object", "required": ["organisations"], "properties": {
                    "organisations": {"type": "array", "items": _ref("Organisation")}}}, "The organisations")},
            }},
            "/petitions/{slug}/stats": {"get": {
                "summary": "A petition's statistics for coordinators (every country, nothing folded)",
                "security": BEARER,
                "parameters": [_path_param("slug")],
                "responses": {"200": _json({"type": "object", "required": [
                    "confirmed", "unconfirmed", "confirmation_rate", "by_day", "by_country",
                    "by_organisation"], "properties": {
                    "confirmed": {"type": "integer"},
                    "unconfirmed": {"type": "integer"},
                    "confirmation_rate": {"type": "number", "nullable": True,
                                          "description": "confirmed / (confirmed + unconfirmed)"},
                    "by_day": {"type": "array", "items": {"type": "object",
                               "required": ["date", "signed", "confirmed"], "properties": {
                                   "date": {"type": "string", "format": "date",
                                            "description": "UTC day"},
                                   "signed": {"type": "integer"},
                                   "confirmed": {"type": "integer"}}}},
                    "by_country": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "by_organisation": {"type": "object", "additionalProperties": {"type": "integer"},
                                        "description": "confirmed signatures by partner slug"}}},
                    "The statistics"),
                    "401": ERRORS["401"], "403": ERRORS["403"], "404": ERRORS["404"]},
            }},
            "/petitions/{slug}/signatures.csv": {"get": {
                "summary": ("The handover export: confirmed signatures as CSV (UTF-8 with BOM, "
                            "formula-safe), streamed; audited"),
                "security": BEARER,
                "parameters": [_path_param("slug"), {
                    "name": "columns", "in": "query", "required": False,
                    "description": ("comma-separated, among first_name, last_name, country, "
                                    "organisation, confirmed_at, email (only when named); default "
                                    "first_name,last_name,country,organisation,confirmed_at"),
                    "schema": {"type": "string"}}],
                "responses": {"200": {"description": "The CSV file",
                                      "content": {"text/csv": {"schema": {"type": "string"}}}},
                              "401": ERRORS["401"], "403": ERRORS["403"], "404": ERRORS["404"],
                              "422": ERRORS["422"]},
            }},
            "/lists": {"get": {
                "summary": "Mailing lists with their subscriber counts",
                "security": BEARER,
                "responses": {"200": _json({"type": "object", "required": ["lists"], "properties": {
                    "lists": {"type": "array", "items": _ref("MailingList")}}}, "The lists"),
                    "401": ERRORS["401"], "403": ERRORS["403"]},
            }},
            "/lists/{slug}/subscribers": {"post": {
                "summary": ("Import subscribers; addresses that unsubscribed, bounced, complained or were"
                            " deleted are skipped, never re-subscribed"),
                "security": BEARER,
                "parameters": [_path_param("slug")],
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("SubscriberImport")}}},
                "responses": {"200": _json(_ref("ImportResult"), "What the import did"), **ERRORS},
            }},
            "/lists/{slug}/subscribers.csv": {"get": {
                "summary": "Export a list's subscribers as CSV (streamed; formula cells neutralised)",
                "security": BEARER,
                "parameters": [_path_param("slug")],
                "responses": {"200": {"description": "CSV", "content": {"text/csv": {
                    "schema": {"type": "string"}}}}, **ERRORS},
            }},
            "/mailouts": {"post": {
                "summary": "Create a mail-out (draft)",
                "security": BEARER,
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("MailoutRequest")}}},
                "responses": {"201": _json(_ref("MailoutProgress"), "Created"), **ERRORS},
            }},
            "/mailouts/{id}": {"get": {
                "summary": "A mail-out's status and progress",
                "security": BEARER,
                "parameters": [_path_param("id", "integer")],
                "responses": {"200": _json(_ref("MailoutProgress"), "Progress"), **ERRORS},
            }},
            "/mailouts/{id}/send": _mailout_action("start or resume sending"),
            "/mailouts/{id}/pause": _mailout_action("pause"),
            "/mailouts/{id}/cancel": _mailout_action("cancel"),
            "/mailouts/{id}/schedule": {"post": {
                "summary": "Schedule a draft mail-out",
                "security": BEARER,
                "parameters": [_path_param("id", "integer")],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["scheduled_at"], "properties": {
                        "scheduled_at": {"type": "string", "format": "date-time",
                               "description": "With its zone, in the future"}}}}}},
                "responses": {"202": _json(_ref("MailoutProgress"), "Scheduled"),
                              "409": _json(_ref("Errors"), "Not allowed in the mail-out's status"),
                              **ERRORS},
            }},
            "/openapi.json": {"get": {
                "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3 document"}},
            }},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "A token from `flask create-token`"}},
            "schemas": {
                "Errors": {"type": "object", "required": ["errors"], "properties": {
                    "errors": {"type": "object", "additionalProperties": {
                        "type": "array", "items": {"type": "string"}}}}},
                "Demand": {"type": "object", "required": ["position", "title", "text"], "properties": {
                    "position": {"type": "integer"}, "title": {"type": "string"},
                    "text": {"type": "string"}}},
                "Petition": {"type": "object",
                             "required": ["slug", "title", "summary", "status", "goal", "signatures",
                                          "by_country", "demands", "locale"],
                             "properties": {
                                 "slug": {"type": "string"}, "title": {"type": "string"},
                                 "summary": {"type": "string"},
                                 "status": {"type": "string", "enum": ["open", "closed"]},
                                 "goal": {"type": "integer"},
                                 "signatures": {"type": "integer", "description": "Confirmed signatures"},
                                 "by_country": {
                                     "type": "object",
                                     "additionalProperties": {"type": "integer"},
                                     "description": "Confirmed signatures by ISO 3166-1 alpha-2 country, "
                                                    "largest first; every country with fewer than "
                                                    "PUBLIC_COUNTRY_MINIMUM (default 10) is counted in "
                                                    "\"other\"",
                                     "example": {"DE": 1250, "AT": 310, "other": 42}},
                                 "demands": {"type": "array", "items": _ref("Demand")},
                                 "locale": {"type": "string"}}},
                "PetitionWrite": {"type": "object", "properties": {
                    "slug": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,79}$"},
                    "goal": {"type": "integer", "minimum": 1},
                    "default_locale": {"type": "string", "enum": ["en", "de", "ru", "uk", "be"]},
                    "status": {"type": "string", "enum": ["draft", "open", "closed"]},
                    "opens_at": {"type": "string", "format": "date-time", "nullable": True},
                    "closes_at": {"type": "string", "format": "date-time", "nullable": True},
                    "texts": {"type": "object", "description": "per locale; the default one needs a title",
                              "additionalProperties": {"type": "object", "required": ["title"], "properties": {
                                  "title": {"type": "string", "maxLength": 300},
                                  "summary": {"type": "string", "maxLength": 2000},
                                  "body_markdown": {"type": "string", "maxLength": 50000}}}},
                    "demands": {"type": "array", "maxItems": 20, "items": {
                        "type": "object", "required": ["texts"], "properties": {"texts": {
                            "type": "object", "additionalProperties": {
                                "type": "object", "required": ["title"], "properties": {
                                    "title": {"type": "string", "maxLength": 300},
                                    "text": {"type": "string", "maxLength": 2000}}}}}}}}},
                "SignatureRequest": {"type": "object",
                                     "required": ["first_name", "last_name", "email", "country", "consent"],
                                     "properties": {
                                         "first_name": {"type": "string", "maxLength": 100},
                                         "last_name": {"type": "string", "maxLength": 100},
                                         "email": {"type": "string", "format": "email"},
                                         "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
                                         "consent": {"type": "boolean", "enum": [True]},
                                         "updates": {"type": "boolean"},
                                         "public_name": {"type": "boolean"},
                                         "locale": {"type": "string", "enum": ["en", "de", "ru", "uk", "be"]},
                                         "organisation": {"type": "string", "nullable": True},
                                         "partner_consent": {
                                             "type": "boolean", "default": False,
                                             "description": "with an organisation: the signer agrees "
                                                            "that it may contact them"}}},
                "SignatureAccepted": {"type": "object", "required": ["status"], "properties": {
                    "status": {"type": "string", "enum": ["pending_confirmation"]},
                    "notices": {"type": "array", "items": {"type": "string"}}}},
                "Organisation": {"type": "object", "properties": {
                    "slug": {"type": "string"}, "name": {"type": "string"},
                    "country": {"type": "string"}, "city": {"type": "string", "nullable": True},
                    "website": {"type": "string", "nullable": True},
                    "description_html": {"type": "string"},
                    "logo_url": {"type": "string", "nullable": True}}},
                "MailingList": {"type": "object", "properties": {
                    "slug": {"type": "string"}, "name": {"type": "string"},
                    "subscribers": {"type": "integer"}}},
                "SubscriberImport": {"type": "object", "required": ["subscribers"], "properties": {
                    "subscribers": {"type": "array", "items": {"type": "object", "required": ["email"],
                                                                "properties": {
                        "email": {"type": "string"}, "name": {"type": "string"},
                        "locale": {"type": "string"}, "country": {"type": "string"}}}},
                    "confirmed": {"type": "boolean"}}},
                "ImportResult": {"type": "object", "properties": {
                    "added": {"type": "integer"}, "updated": {"type": "integer"},
                    "skipped": {"type": "integer"},
                    "errors": {"type": "array", "items": {"type": "object"}}}},
                "MailoutRequest": {"type": "object", "required": ["list", "subject", "body_markdown"],
                                   "properties": {
                    "list": {"type": "string"}, "subject": {"type": "string"},
                    "body_markdown": {"type": "string"},
                    "translations": {"type": "object", "additionalProperties": {
                        "type": "object", "properties": {"subject": {"type": "string"},
                                                         "body_markdown": {"type": "string"}}}},
                    "audience": {"type": "object", "properties": {
                        "country": {"type": "array", "items": {"type": "string"}},
                        "locale": {"type": "array", "items": {"type": "string"}}}},
                    "rate_per_minute": {"type": "integer", "minimum": 1}}},
                "MailoutProgress": {"type": "object", "properties": {
                    "id": {"type": "integer"},
                    "status": {"type": "string",
                               "enum": ["draft", "scheduled", "sending", "paused", "sent", "cancelled"]},
                    "recipients": {"type": "integer"}, "sent": {"type": "integer"},
                    "failed": {"type": "integer"}, "pending": {"type": "integer"},
                    "bounced": {"type": "integer", "description":
                                "deliveries whose address bounced: refused by the relay with a"
                                " 5xx, or reported by a DSN after it accepted them"},
                    "complained": {"type": "integer", "description":
                                   "deliveries reported as spam (ARF complaints)"},
                    "bounce_rate": {"type": "number", "description":
                                    "bounced / (sent + failed); more than MAILOUT_BOUNCE_PAUSE"
                                    " after 200 messages pauses the mail-out"},
                    "complaint_rate": {"type": "number", "description":
                                       "complained / (sent + failed); more than 0.003 after 200"
                                       " messages pauses the mail-out"},
                    "started_at": {"type": "string", "format": "date-time", "nullable": True},
                    "finished_at": {"type": "string", "format": "date-time", "nullable": True}}},
            },
        },
    }
    for operations in document["paths"].values():
        for operation in operations.values():
            if "requestBody" in operation:
                operation["responses"].update(BODY_ERRORS)
    return document
