"""Every change of a subscription's status, its creation and its deletion go through
``objectwar.mailing.subscriptions``: a test that reads the code for writes elsewhere.

Other models have a ``status`` too (a mail-out, a delivery, a petition, an
organisation), so a write counts as a subscription's when it names the
subscription: ``SubscriptionStatus.X`` as the value, a ``subscription`` as the
object, or ``Subscription`` (its table, or a name bound to its table) as what an
UPDATE, INSERT or DELETE changes.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from objectwar import security
from objectwar.extensions import db
from objectwar.mailing import bounces, subscriptions
from objectwar.mailing.models import MailingList, Subscriber, Subscription, SubscriptionStatus
from objectwar.mailing.subscriptions import Action

PACKAGE = Path(__file__).resolve().parent.parent / "objectwar"
HOME = PACKAGE / "mailing" / "subscriptions.py"
RAW_SQL = re.compile(r"\b(UPDATE|DELETE\s+FROM|INSERT\s+INTO)\s+subscriptions\b", re.IGNORECASE)


def _names(node: ast.AST) -> set[str]:
    """Every name and attribute name in an expression."""
    found: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            found.add(child.id)
        elif isinstance(child, ast.Attribute):
            found.add(child.attr)
    return found


def _is_table(node: ast.AST, aliases: set[str]) -> bool:
    """``Subscription``, ``Subscription.__table__``, or a name bound to that table."""
    if isinstance(node, ast.Name):
        return node.id == "Subscription" or node.id in aliases
    return (isinstance(node, ast.Attribute) and node.attr == "__table__"
            and isinstance(node.value, ast.Name) and node.value.id == "Subscription")


def _is_subscription(node: ast.AST) -> bool:
    """An object called ``subscription`` (or ``...subscription``): a local, an attribute."""
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")
    return "subscription" in name.lower() and "subscriptions" not in name.lower()


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def _chain_root(node: ast.AST) -> ast.Call | None:
    """The first call of a method chain: ``update(X)`` of ``update(X).where(...).values(...)``."""
    root = None
    while True:
        if isinstance(node, ast.Call):
            root = node
            node = node.func
        elif isinstance(node, ast.Attribute):
            node = node.value
        else:
            return root


def writes(source: str) -> list[tuple[int, str]]:
    """(line, what) of each write of a subscription's status and each insert or delete of one."""
    tree = ast.parse(source)
    aliases = {target.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
               and _is_table(node.value, set())
               and not isinstance(node.value, ast.Name)
               for target in node.targets if isinstance(target, ast.Name)}
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if (isinstance(target, ast.Attribute) and target.attr == "status"
                        and (_is_subscription(target.value)
                             or "SubscriptionStatus" in _names(node.value or ast.Pass()))):
                    found.append((node.lineno, "assigns a subscription's status"))
        elif isinstance(node, ast.Call):
            name = _call_name(node)
            if (name == "setattr" and len(node.args) >= 2 and _is_subscription(node.args[0])
                    and isinstance(node.args[1], ast.Constant) and node.args[1].value == "status"):
                found.append((node.lineno, "sets a subscription's status"))
            elif name == "Subscription":
                found.append((node.lineno, "creates a subscription"))
            elif name in ("update", "insert", "delete") and isinstance(node.func, ast.Name) \
                    and node.args and _is_table(node.args[0], aliases):
                found.append((node.lineno, f"{name}s subscriptions"))
            elif name == "delete" and isinstance(node.func, ast.Attribute) and node.args \
                    and _is_subscription(node.args[0]):
                found.append((node.lineno, "deletes a subscription"))
            elif name == "delete" and not node.args:
                root = _chain_root(node.func)
                if root is not None and _call_name(root) == "query" and root.args \
                        and _is_table(root.args[0], aliases):
                    found.append((node.lineno, "deletes subscriptions"))
            elif name == "values":
                given = [keyword.value for keyword in node.keywords if keyword.arg == "status"]
                given += [value for arg in node.args if isinstance(arg, ast.Dict)
                          for key, value in zip(arg.keys, arg.values, strict=True)
                          if isinstance(key, ast.Constant) and key.value == "status"]
                if any("SubscriptionStatus" in _names(value) for value in given):
                    found.append((node.lineno, "writes a subscription's status"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and RAW_SQL.search(node.value):
            found.append((node.lineno, "changes subscriptions in raw SQL"))
    return sorted(set(found))


def test_only_the_state_machine_writes_a_subscription() -> None:
    elsewhere = [f"{path.relative_to(PACKAGE.parent)}:{line}: {what}"
                 for path in sorted(PACKAGE.rglob("*.py")) if path != HOME
                 for line, what in writes(path.read_text(encoding="utf-8"))]
    assert elsewhere == [], "\n".join(
        ["Change a subscription through objectwar/mailing/subscriptions.py:", *elsewhere])


def test_the_state_machine_is_where_the_writes_are() -> None:
    """The reader sees the writes it is meant to see (it would pass on nothing otherwise)."""
    kinds = {what for _line, what in writes(HOME.read_text(encoding="utf-8"))}
    assert {"updates subscriptions", "deletes subscriptions", "creates a subscription"} <= kinds


def test_the_reader_finds_every_kind_of_write() -> None:
    source = """
_subscriptions = Subscription.__table__
subscription.status = SubscriptionStatus.SUBSCRIBED
row.status = SubscriptionStatus.BOUNCED
setattr(subscription, "status", wanted)
db.session.add(Subscription(list_id=1, subscriber_id=2))
conn.execute(update(_subscriptions).values(status=SubscriptionStatus.BOUNCED))
db.session.execute(update(Subscription).values(status=wanted))
db.session.execute(delete(Subscription).where(Subscription.id == 1))
db.session.delete(subscription)
db.session.query(Subscription).filter_by(id=1).delete()
conn.exec_driver_sql("DELETE FROM subscriptions WHERE id = 1")
stmt.values({"status": SubscriptionStatus.UNSUBSCRIBED})
"""
    assert sorted({line for line, _what in writes(source)}) == list(range(3, 14))


def test_other_statuses_are_not_a_subscriptions() -> None:
    source = """
mailout.status = MailoutStatus.SENT
petition.status = PetitionStatus.OPEN
db.session.execute(update(Mailout).values(status=MailoutStatus.SENT))
db.session.execute(update(Delivery).where(Delivery.status == SubscriptionStatus.SUBSCRIBED)
                   .values(status=DeliveryStatus.SKIPPED))
db.session.delete(mailing_list)
db.session.execute(delete(Subscriber).where(Subscriber.id == 1))
conn.execute("SELECT status FROM subscriptions WHERE id = 1")
if subscription.status == SubscriptionStatus.SUBSCRIBED:
    pass
"""
    assert writes(source) == []


# -- the table at work ------------------------------------------------------------------


def _waiting(app) -> int:
    """The id of a new unconfirmed subscription."""
    with app.app_context():
        mailing_list = MailingList(slug="updates", name="Updates", public=True)
        person = Subscriber(email_digest=security.email_digest("reader@example.org"),
                            email="reader@example.org")
        db.session.add_all([mailing_list, person])
        db.session.flush()
        subscription = subscriptions.create(Action.REQUEST, list_id=mailing_list.id,
                                            subscriber_id=person.id, source="form")
        db.session.commit()
        return subscription.id


def test_a_confirmation_does_not_overwrite_a_bounce_that_came_after_it_was_read(app) -> None:
    subscription_id = _waiting(app)
    with app.app_context():
        subscription = db.session.get(Subscription, subscription_id)
        assert subscription.status == SubscriptionStatus.UNCONFIRMED
        with db.engine.begin() as conn:  # the bounce report, on a connection of its own
            assert bounces.address_bounced(conn, subscriber_id=subscription.subscriber_id)
        assert not subscriptions.change(subscription, Action.CONFIRM)
        assert subscription.status == SubscriptionStatus.BOUNCED
        db.session.commit()


def test_a_status_changes_only_as_the_table_allows(app) -> None:
    subscription_id = _waiting(app)
    with app.app_context():
        subscription = db.session.get(Subscription, subscription_id)
        stamp = subscription.changed_at
        assert subscriptions.change(subscription, Action.CONFIRM, source="form")
        assert (subscription.status, subscription.confirmation_due_at) == (
            SubscriptionStatus.SUBSCRIBED, None)
        assert subscription.changed_at >= stamp
        assert not subscriptions.change(subscription, Action.IMPORT_CONFIRMED)
        assert subscriptions.change(subscription, Action.UNSUBSCRIBE)
        assert not subscriptions.change(subscription, Action.BOUNCE)
        assert subscriptions.change(subscription, Action.COMPLAIN)
        assert subscriptions.remove(Action.PURGE, Subscription.id == subscription_id) == 0
        assert subscriptions.remove(Action.DELETE, Subscription.id == subscription_id) == 1
        db.session.commit()
        assert db.session.get(Subscription, subscription_id) is None


@pytest.mark.parametrize("use, action", [
    (lambda action: subscriptions.create(action, list_id=1, subscriber_id=1), Action.UNSUBSCRIBE),
    (lambda action: subscriptions.transition(action, Subscription.id == 1), Action.REQUEST),
    (lambda action: subscriptions.transition(action, Subscription.id == 1), Action.ERASE),
    (lambda action: subscriptions.remove(action, Subscription.id == 1), Action.CONFIRM),
])
def test_an_action_is_only_used_as_the_table_says(app, use, action) -> None:
    with app.app_context(), pytest.raises(ValueError):
        use(action)
