"""Properties of the shared rules, whatever the input (hypothesis)."""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from objectwar.accounts.services import safe_next
from objectwar.errors import ValidationError
from objectwar.markup import render_markdown
from objectwar.validation import clean_text, validate_url

pytestmark = pytest.mark.sqlite_only


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_safe_next_only_returns_local_paths(target):
    result = safe_next(target)
    if result is not None:
        assert result.startswith("/") and not result.startswith("//") and "\\" not in result
        parts = urlsplit(result)
        assert not parts.scheme and not parts.netloc


@given(st.text(max_size=300))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_validate_url_accepts_only_http_and_https(app, value):
    with app.test_request_context():
        try:
            url = validate_url(value)
        except ValidationError:
            return
    assert url is None or urlsplit(url).scheme.lower() in {"http", "https"}


@given(st.text(max_size=500))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_clean_text_never_keeps_control_characters(app, value):
    with app.test_request_context():
        try:
            text = clean_text(value, "description")
        except ValidationError:
            return
    assert all(ch in "\n\t" or unicodedata.category(ch) != "Cc" for ch in text)


@given(st.text(alphabet=st.sampled_from(list("<>[]()\"':=/ javascriptonerrorSCRIPTimg*&#;x")),
               max_size=200))
@settings(max_examples=300, deadline=None)
def test_markdown_output_has_no_script_or_handlers(source):
    html = str(render_markdown(source)).lower()
    assert "<script" not in html and "<img" not in html and "onerror=" not in html.replace(" ", "")
    assert 'href="javascript' not in html
