"""The HTML of every kind of page is valid per the Nu HTML Checker: zero errors.

Each page of tests/page_catalogue.py is fetched with the test client (as the
member or coordinator it is for; pages with form errors as the answer to a POST),
saved to a folder, and the checker (vnu.jar, from the npm package ``vnu-jar``)
runs once over the folder: Java starts slowly. Skipped without Java or the checker.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import defaultdict

import pytest
from page_catalogue import APP_OVERRIDES, PAGES, fetch, seed

from tests.checkers import JAVA, VNU, missing_vnu
from tests.helpers import login_as

pytestmark = [pytest.mark.sqlite_only]


@pytest.fixture
def app_overrides():
    return APP_OVERRIDES


def _filename(index: int, name: str) -> str:
    return f"{index:03d}-{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}.html"


def test_every_page_is_valid_html(app, people, tmp_path):
    if reason := missing_vnu():
        pytest.skip(reason)
    world = seed(app, people)
    names, wrong_status = {}, []
    for index, page in enumerate(PAGES):
        client = login_as(app.test_client(), app, world.users[page.role])
        response = fetch(client, app, page, world)
        if response.status_code != page.status:
            wrong_status.append(f"{page.name}: {response.status_code}, expected {page.status}")
            continue
        assert response.mimetype == "text/html", page.name
        filename = _filename(index, page.name)
        (tmp_path / filename).write_bytes(response.get_data())
        names[filename] = page.name
    assert not wrong_status, "\n".join(wrong_status)

    result = subprocess.run(
        [JAVA, "-Xss1024k", "-jar", str(VNU), "--format", "json", "--exit-zero-always",
         *sorted(str(tmp_path / name) for name in names)],
        capture_output=True, text=True, timeout=300, check=True)
    messages = json.loads(result.stderr or result.stdout)["messages"]
    errors = defaultdict(list)
    for message in messages:
        if message.get("type") == "error" or message.get("subType") == "fatal":
            filename = message.get("url", "").rsplit("/", 1)[-1]
            errors[names.get(filename, filename)].append(
                f"  line {message.get('lastLine')}: {message['message']}"
                f" [{message.get('extract', '').strip()[:120]}]")
    report = "\n".join(f"{name}:\n" + "\n".join(lines) for name, lines in sorted(errors.items()))
    assert not errors, f"{len(errors)} of {len(names)} pages are not valid HTML:\n{report}"
