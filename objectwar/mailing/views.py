"""Public pages of mailing lists: the unsubscribe link of every mail-out."""

from flask import Blueprint, render_template, request

from objectwar.extensions import csrf
from objectwar.mailing import lists

bp = Blueprint("mailing", __name__)


@bp.get("/unsubscribe/<token>")
def unsubscribe(token: str):
    """A page with one button: a GET changes nothing (mail scanners follow links)."""
    subscription = lists.subscription_for_token(token)
    return render_template("mailing/unsubscribe.html", token=token,
                           list_name=subscription.mailing_list.name)


@bp.post("/unsubscribe/<token>")
@csrf.exempt  # RFC 8058 one-click POSTs carry no cookie; the signed token is the proof
def unsubscribe_confirm(token: str):
    """Unsubscribe: the page's button, or a mail client's one-click POST (answered 200)."""
    mailing_list = lists.unsubscribe(token)
    if request.form.get("List-Unsubscribe") == "One-Click":
        return "Unsubscribed.\n", 200, {"Content-Type": "text/plain; charset=utf-8"}
    return render_template("mailing/unsubscribed.html", list_name=mailing_list.name)
