"""Comments and docstrings say why, in today's names.

A comment that points at a module which no longer exists, or at an issue number
nobody can look up, sends the next reader the wrong way. These tests read every
comment and docstring of the code and its tests.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [*sorted((ROOT / "objectwar").rglob("*.py")), *sorted((ROOT / "tests").rglob("*.py")),
           *sorted((ROOT / "bench").rglob("*.py")), ROOT / "config.py", ROOT / "wsgi.py",
           ROOT / "migrations" / "env.py"]

# "issue 3", "issue [7]", "issues 3 and 4", "[12]", "(#14)": numbers of a tracker the code does not carry.
ISSUE = re.compile(r"\bissues? *\[?#?\d+|(?<![\w\])'\"])\[\d{1,3}\]|\(#\d+\)", re.IGNORECASE)
# objectwar.mail.claims, objectwar/mail/claims.py, mailing/delivery.py, outbox.rows
DOTTED = re.compile(r"\bobjectwar(?:\.[a-z_][a-z0-9_]*)+")
PATH = re.compile(r"\b(?:objectwar/)?((?:[a-z_]+/)+[a-z_0-9]+\.py)\b")
# mailing.delivery, petitions.signing.sign: a domain's module named without the package
DOMAINS = sorted(p.parent.name for p in (ROOT / "objectwar").glob("*/__init__.py"))
SHORT = re.compile(r"(?<![\w.@/-])(?:" + "|".join(DOMAINS) + r")(?:\.(?!py\b)[a-z_][a-z0-9_]*)+(?![\w-])")
MAIL_DOMAINS = {"mail.ru", "mail.by"}  # providers, not modules
RETIRED = re.compile(r"\boutbox[./][a-z_]")  # the mail core was called outbox before it was mail/


def _texts(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of every comment and docstring in ``path``."""
    source = path.read_text(encoding="utf-8")
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            docstring = ast.get_docstring(node, clean=False)
            if docstring and node.body:
                yield node.body[0].lineno, docstring


def _module_exists(dotted: str) -> bool:
    """Whether ``dotted`` names a module, or something inside one, that exists today."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        name = ".".join(parts[:end])
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:
            spec = None
        if spec is not None:
            found: object = importlib.import_module(name)
            for attribute in parts[end:]:
                if not hasattr(found, attribute):
                    return False
                found = getattr(found, attribute)
            return True
    return False


def _path_exists(relative: str) -> bool:
    return any((base / relative).exists() for base in (ROOT, ROOT / "objectwar", ROOT / "tests"))


def _findings(check) -> list[str]:
    found = []
    for path in SOURCES:
        if path.resolve() == Path(__file__).resolve():
            continue
        for line, text in _texts(path):
            for problem in check(text):
                found.append(f"{path.relative_to(ROOT)}:{line}: {problem}")
    return found


def _issue_numbers(text: str) -> list[str]:
    return [match.group(0) for match in ISSUE.finditer(text)]


def _stale_names(text: str) -> list[str]:
    problems = [match.group(0) for match in RETIRED.finditer(text)]
    problems += [name for name in (m.group(0).rstrip(".") for m in DOTTED.finditer(text))
                 if not _module_exists(name)]
    problems += [name for name in (m.group(0) for m in SHORT.finditer(text))
                 if not _module_exists("objectwar." + name) and name not in MAIL_DOMAINS]
    problems += [m.group(0) for m in PATH.finditer(text) if not _path_exists(m.group(1))]
    return problems


def test_no_comment_or_docstring_cites_an_issue_number():
    found = _findings(_issue_numbers)
    assert not found, "say why, not which issue:\n" + "\n".join(found)


# Comments outside Python: Jinja's {# #}, CSS's /* */, and TOML's, Makefile's and shell's #.
OTHER_COMMENTS = re.compile(r"\{#.*?#\}|/\*.*?\*/|(?:^|\s)#[^\n{]*", re.S)
OTHER_SOURCES = [*sorted((ROOT / "templates").rglob("*.html")),
                 *sorted((ROOT / "objectwar" / "static").glob("*.css")),
                 *sorted((ROOT / "objectwar" / "static").glob("*.js")),
                 ROOT / "pyproject.toml", ROOT / "Makefile", ROOT / ".ci" / "run"]


def test_no_comment_in_templates_styles_or_build_files_cites_an_issue_number():
    found = [f"{path.relative_to(ROOT)}: {number}"
             for path in OTHER_SOURCES
             for comment in OTHER_COMMENTS.findall(path.read_text(encoding="utf-8"))
             for number in _issue_numbers(comment)]
    assert not found, "say why, not which issue:\n" + "\n".join(found)


def test_no_comment_or_docstring_names_a_module_that_does_not_exist():
    found = _findings(_stale_names)
    assert not found, "stale module names:\n" + "\n".join(found)


def test_the_checks_catch_what_they_look_for():
    """The patterns find the kinds of reference they are meant to refuse, and pass today's names."""
    assert _issue_numbers("# organisations and accounts (issue 3)") == ["issue 3"]
    assert _issue_numbers("# see [12] and issue [7]") == ["[12]", "issue [7"]
    assert _issue_numbers("# the list's first entry, items[0]") == []
    assert OTHER_COMMENTS.findall("a {# accounts (issue 3) #} b /* x */") == [
        "{# accounts (issue 3) #}", "/* x */"]
    assert _stale_names("# outbox.rows claims the row") == ["outbox.r"]
    assert _stale_names("# objectwar.mail.claims holds the lease") == []
    assert _stale_names("# see objectwar.mailing.gone") == ["objectwar.mailing.gone"]
    assert _stale_names("# as objectwar/mail/claims.py says") == []
    assert _stale_names("# mail.claims.persist waits; mail.ru is a provider") == []
    assert _stale_names("# mailing.gone.run sends") == ["mailing.gone.run"]
    assert _stale_names("# the routes mailing.py adds") == []
    assert _stale_names("# as mailing/gone.py says") == ["mailing/gone.py"]
