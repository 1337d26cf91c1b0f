"""Choice of the visitor's language: ``?lang=``, then a cookie, then the browser."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from babel import Locale
from flask import Flask, current_app, g, has_request_context, request, url_for
from flask_babel import get_locale
from markupsafe import Markup, escape
from werkzeug.datastructures import LanguageAccept
from werkzeug.exceptions import HTTPException
from werkzeug.http import parse_accept_header

from objectwar.validation import country_choices

LANGUAGE_NAMES = {
    "en": "English",
    "de": "Deutsch",
    "ru": "Русский",
    "uk": "Українська",
    "be": "Беларуская",
}


def _given(values: Mapping[str, str], key: str) -> str:
    # ``MultiDict.get`` builds and catches a BadRequestKeyError for a missing key,
    # and most requests carry neither ``?lang=`` nor the cookie.
    return values[key] if key in values else ""  # noqa: SIM401 (see above)


def select_locale() -> str:
    """``?lang=``, then the cookie, then the browser's languages, then the default."""
    config = current_app.config
    if not has_request_context():  # commands and workers: force_locale picks the language
        return config["BABEL_DEFAULT_LOCALE"]
    asked = _given(request.args, "lang")
    if asked in config["LANGUAGES"]:
        return asked
    cookie = _given(request.cookies, config["LOCALE_COOKIE"])
    if cookie in config["LANGUAGES"]:
        return cookie
    # Cut short: a real list of languages fits, and the memo below stays small.
    return _from_browser(request.headers.get("Accept-Language", "")[:200],
                         tuple(config["LANGUAGES"]), config["BABEL_DEFAULT_LOCALE"])


@functools.lru_cache(maxsize=1024)
def _from_browser(header: str, languages: tuple[str, ...], default: str) -> str:
    # Browsers send a handful of distinct headers: parse each once.
    return LanguageAccept(parse_accept_header(header)).best_match(languages) or default


def babel_locale() -> Locale:
    """Flask-Babel's locale selector: :func:`select_locale`, parsed once per language."""
    return _parsed(select_locale())


@functools.lru_cache(maxsize=32)
def _parsed(code: str) -> Locale:
    # Locale.parse looks for the locale's data file on every call.
    return Locale.parse(code)


def current_locale() -> str:
    return str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"])


def init_app(app: Flask) -> None:
    @app.after_request
    def remember_choice(response):
        # A language picked with ?lang= sticks for the next pages.
        if request.path.startswith("/api/"):
            return response  # the API sets no cookies
        choice = _given(request.args, "lang")
        if choice in app.config["LANGUAGES"] and _given(request.cookies, app.config["LOCALE_COOKIE"]) != choice:
            response.set_cookie(
                app.config["LOCALE_COOKIE"], choice, max_age=365 * 24 * 3600,
                secure=app.config["SESSION_COOKIE_SECURE"], httponly=True, samesite="Lax",
            )
        return response

    app.add_template_filter(country_name, "country_name")
    app.add_template_global(country_options, "country_options")

    @app.context_processor
    def language_context():
        return {
            "languages": LANGUAGE_NAMES,
            "current_locale": current_locale(),
            "lang_url": lang_url,
            "text_direction": "ltr",
        }


def country_name(code: str | None) -> str:
    """A country's name in the current locale (``DE`` -> ``Germany``/``Deutschland``)."""
    if not code:
        return ""
    return _parsed(current_locale()).territories.get(code.upper(), code)


@functools.cache
def _country_options_html(locale: str) -> str:
    return "".join(
        # No end tags: HTML ends an option at the next one, and the sign page,
        # the busiest of the campaign, is 2 KB lighter.
        f'<option value="{code}">{escape(name)}' for code, name in country_choices(locale)
    )


def country_options(chosen: str | None = None) -> Markup:
    """The ``<option>`` elements of every country in the current locale (built once per locale)."""
    html = _country_options_html(current_locale())
    if chosen:
        value = escape(chosen)
        html = html.replace(f'<option value="{value}">', f'<option value="{value}" selected>', 1)
    return Markup(html)  # noqa: S704 (names escaped above)


def form_page(endpoint: str, **values: Any) -> None:
    """Name the page holding the form this POST came from (a GET page).

    Its answer (the form again, with errors) links to that page in each
    language: following a link is a GET, which a POST-only address refuses.
    """
    g.form_page = (endpoint, values)


def lang_url(code: str) -> str:
    """The current page's address with ``?lang=code`` (for the language switcher).

    The answer to a POST links to the form's page its view named (:func:`form_page`),
    else to the same address when that address also answers a GET, else home.
    """
    if request.method not in ("GET", "HEAD"):
        if "form_page" in g:
            endpoint, values = g.form_page
            return url_for(endpoint, **values, lang=code)
        if not _answers_get():
            return url_for("main.home", lang=code)
    args = request.args.to_dict(flat=False)
    args["lang"] = [code]
    return request.path + "?" + urlencode(args, doseq=True)


def _answers_get() -> bool:
    adapter = current_app.create_url_adapter(request)
    try:
        adapter.match(method="GET")
    except HTTPException:  # 405, 404, or a redirect elsewhere
        return False
    return True
