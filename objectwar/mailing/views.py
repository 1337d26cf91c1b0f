"""Public pages of mailing lists: the unsubscribe link of every mail-out, the subscribe form."""

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from objectwar import tasks
from objectwar.errors import ValidationError
from objectwar.extensions import csrf, limiter
from objectwar.forms import show_errors
from objectwar.http import small_body
from objectwar.i18n import current_locale
from objectwar.mail.message import confirmation_sender
from objectwar.mailing import list_texts
from objectwar.mailing import subscribe as subscribing
from objectwar.mailing import unsubscribe as unsubscribing
from objectwar.mailing.forms import SubscribeForm
from objectwar.mailouts import compose
from objectwar.ratelimit import client_key

bp = Blueprint("mailing", __name__)
# ``list_text(mailing_list)``: its name and description in the page's or email's language.
bp.add_app_template_global(list_texts.visible, "list_text")


@bp.get("/unsubscribe/<token>")
def unsubscribe(token: str):
    """A page with one button: a GET changes nothing (mail scanners follow links)."""
    sample = compose.sample_list(token)
    if sample is not None:  # the link of a coordinator's test: it only says so
        return render_template("mailing/unsubscribe_sample.html", list_name=sample.name)
    subscription = unsubscribing.subscription_for_token(token)
    return render_template("mailing/unsubscribe.html", token=token,
                           mailing_list=subscription.mailing_list)


@bp.post("/unsubscribe/<token>")
@small_body
@csrf.exempt  # RFC 8058 one-click POSTs carry no cookie; the signed token is the proof
def unsubscribe_confirm(token: str):
    """Unsubscribe: the page's button, or a mail client's one-click POST (answered 200)."""
    sample = compose.sample_list(token)
    if sample is not None:
        return render_template("mailing/unsubscribe_sample.html", list_name=sample.name)
    mailing_list = unsubscribing.unsubscribe(token)
    if request.form.get("List-Unsubscribe") == "One-Click":
        return "Unsubscribed.\n", 200, {"Content-Type": "text/plain; charset=utf-8"}
    return render_template("mailing/unsubscribed.html", mailing_list=mailing_list)


def _subscribe_limit() -> str:
    return current_app.config.get("SUBSCRIBE_RATE_LIMIT", "10 per hour")


@bp.route("/lists/<slug>/subscribe", methods=["GET", "POST"])
@small_body
@limiter.limit(_subscribe_limit, key_func=client_key, methods=["POST"], scope="subscribe")
def subscribe(slug: str):
    """The subscribe form of a public list; the same answer whether or not the address is known."""
    mailing_list = subscribing.public_list(slug)
    form = SubscribeForm()
    if form.validate_on_submit():
        try:
            subscription_id = subscribing.request_subscription(slug, request.form,
                                                               default_locale=current_locale())
        except ValidationError as error:
            show_errors(form, error)
            return render_template("mailing/subscribe.html", form=form,
                                   mailing_list=mailing_list), 422
        tasks.enqueue_subscription_confirmation(subscription_id)
        return redirect(url_for(".subscribed", slug=slug))
    form.locale.data = current_locale()
    return render_template("mailing/subscribe.html", form=form, mailing_list=mailing_list)


@bp.get("/lists/<slug>/subscribed")
def subscribed(slug: str):
    return render_template("mailing/subscribed.html", mailing_list=subscribing.public_list(slug),
                           subject=subscribing.subscribe_subject(),
                           sender_name=str(confirmation_sender()[0]))


@bp.route("/lists/<slug>/confirm/<token>", methods=["GET", "POST"])
def confirm_subscription(slug: str, token: str):
    """GET shows a button and changes nothing (mail scanners follow links); POST confirms."""
    if request.method == "POST":
        subscription = subscribing.confirm_subscription(slug, token)
        template = "mailing/subscription_confirmed.html"
    else:
        subscription = subscribing.subscription_for_confirmation(slug, token)
        template = "mailing/confirm_subscription.html"
    return render_template(template, subscription=subscription,
                           mailing_list=subscription.mailing_list, token=token)
