"""Every change of a mail-out's status goes through ``objectwar/mailouts/status.py``.

The test reads the code (``ast``): no other module assigns ``.status`` on a
mail-out, builds a ``Mailout`` with a status, or sends an UPDATE (or INSERT) to
the mailouts table that sets one. A second write path would bypass the
transition table's conditional UPDATE, which is what keeps a worker and a
coordinator acting at the same moment from both winning.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import objectwar

PACKAGE = Path(objectwar.__file__).parent
ALLOWED = {Path("mailouts/status.py")}
RAW_WRITE = re.compile(r"\bUPDATE\s+mailouts\s+SET\b[^;]*?\bstatus\s*=", re.IGNORECASE | re.DOTALL)


def _mailoutish(node: ast.AST) -> bool:
    return "mailout" in ast.unparse(node).lower()


def _writes_status(call: ast.Call) -> bool:
    """``.values(status=...)`` or ``.values({...status...: ...})``."""
    if any(keyword.arg == "status" for keyword in call.keywords):
        return True
    for argument in call.args:
        if isinstance(argument, ast.Dict):
            for key in argument.keys:
                if key is not None and re.search(r"(^|\.)status'?$|^'status'$", ast.unparse(key)):
                    return True
    return False


def _statement_on_mailouts(node: ast.AST) -> bool:
    """Whether a chain like ``update(Mailout).where(...)`` starts on the mailouts table."""
    while isinstance(node, (ast.Call, ast.Attribute)):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in {"update", "insert"} and node.args and _mailoutish(node.args[0]):
                return True
            node = node.func
        else:
            node = node.value
    return False


def _call_writes(call: ast.Call, is_mailout) -> bool:
    """``setattr(mailout, "status", ...)``, ``Mailout(status=...)``, ``update(Mailout)...values(status=...)``."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if name == "setattr":
        return (len(call.args) >= 2 and is_mailout(call.args[0])
                and isinstance(call.args[1], ast.Constant) and call.args[1].value == "status")
    if name == "Mailout":
        return any(keyword.arg == "status" for keyword in call.keywords)
    return name == "values" and _writes_status(call) and _statement_on_mailouts(func)


def status_writes(source: str) -> list[int]:
    """The lines of ``source`` that write a mail-out's status."""
    tree = ast.parse(source)
    # Names that hold a mail-out somewhere in the module (``found = get_mailout(...)``).
    holders = {target.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
               and _mailoutish(node.value) for target in node.targets if isinstance(target, ast.Name)}

    def is_mailout(node: ast.AST) -> bool:
        return _mailoutish(node) or (isinstance(node, ast.Name) and node.id in holders)

    lines = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            flat = [leaf for target in targets for leaf in ast.walk(target)]
            if any(isinstance(leaf, ast.Attribute) and leaf.attr == "status" and isinstance(leaf.ctx, ast.Store)
                   and is_mailout(leaf.value) for leaf in flat):
                lines.append(node.lineno)
        elif isinstance(node, ast.Call):
            if _call_writes(node, is_mailout):
                lines.append(node.lineno)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and RAW_WRITE.search(node.value):
            lines.append(node.lineno)
    return sorted(set(lines))


def test_only_the_status_module_writes_a_mailouts_status():
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative in ALLOWED:
            continue
        if lines := status_writes(path.read_text(encoding="utf-8")):
            found[str(relative)] = lines
    assert found == {}, "a mail-out's status written outside mailouts/status.py"


def test_the_status_module_does_write_it():
    """The reader finds the writes where they belong (else the test above proves nothing)."""
    assert status_writes((PACKAGE / "mailouts/status.py").read_text(encoding="utf-8"))


@pytest.mark.parametrize("source", [
    "mailout.status = MailoutStatus.SENT",
    "found = get_mailout(1)\nfound.status = 'sent'",
    "copy = Mailout(list_id=1, status=MailoutStatus.DRAFT)",
    "setattr(mailout, 'status', 'sent')",
    "db.session.execute(update(Mailout).where(Mailout.id == 1).values(status=MailoutStatus.SENT))",
    "conn.execute(update(_mailouts).where(_mailouts.c.id == 1).values({_mailouts.c.status: 'sent'}))",
    "db.session.execute(text(\"UPDATE mailouts SET sent_count = 0, status = 'sent' WHERE id = 1\"))",
])
def test_the_reader_finds_a_write_around_the_status(source):
    assert status_writes(source) == [source.count("\n") + 1]


@pytest.mark.parametrize("source", [
    "subscription.status = SubscriptionStatus.SUBSCRIBED",
    "update(Subscription).values(status=SubscriptionStatus.BOUNCED)",
    "update(Mailout).where(Mailout.status == MailoutStatus.SENDING).values(sent_count=1)",
    "select(Mailout.status).where(Mailout.id == 1)",
    "update(Delivery).where(Delivery.mailout_id == 1).values(status=DeliveryStatus.PENDING)",
])
def test_the_reader_leaves_other_statuses_alone(source):
    assert status_writes(source) == []
