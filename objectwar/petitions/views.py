"""Public petition pages: the petition, signing, confirming, sharing, the widget."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import RequestEntityTooLarge

from objectwar import tasks
from objectwar.errors import GENERAL, NotFound, ValidationError, retry_after
from objectwar.extensions import csrf
from objectwar.http import embeddable, small_body
from objectwar.i18n import current_locale, form_page
from objectwar.mail import message as mailer
from objectwar.petitions import petition_page, previews, services, signing
from objectwar.ratelimit import sign_rate_limit

bp = Blueprint("petitions", __name__, url_prefix="/petitions")


@bp.get("/<slug>")
def detail(slug: str):
    return petition_page.show(services.get_public_petition(slug), embed=False)


@bp.get("/<slug>/embed")
@embeddable
def embed(slug: str):
    return petition_page.show(services.get_public_petition(slug), embed=True)


@bp.post("/<slug>/sign")
@small_body
@embeddable
# No CSRF token and so no session for the visitor: any site may already sign for
# anyone through the public, CORS-open API, and only the email's owner can
# confirm. The signed stamp, the honeypot and the rate limit keep bots out; and
# the widget in a third-party frame, which gets no cookie, works the same way.
@csrf.exempt
@sign_rate_limit
def sign(slug: str):
    embed = request.form.get("embed") == "1"
    form_page("petitions.embed" if embed else "petitions.detail", slug=slug,
              org=request.form.get("organisation") or None)
    check = signing.check_form(request.form.get("website"), request.form.get("stamp"))
    if check is not signing.FormCheck.SIGN:
        if check is signing.FormCheck.DROP:
            services.get_public_petition(slug)  # an unknown petition is still a 404
            return redirect(url_for(".signed", slug=slug, embed=int(embed) or None))
        return petition_page.show_again(slug, embed=embed, values=request.form,
                                        errors={"stamp": [signing.ask_again_message()]})
    try:
        outcome = signing.sign(slug, request.form, default_locale=current_locale(), from_form=True)
    except ValidationError as error:
        if GENERAL in error.errors:  # the petition is closed: nothing to correct in the form
            raise
        return petition_page.show_again(slug, embed=embed, values=request.form,
                                        errors=error.errors, status=422)
    tasks.enqueue_signature_confirmation(outcome.signature_id)
    return redirect(url_for(".signed", slug=slug, embed=int(embed) or None,
                            notice="provider" if outcome.notices else None))


@bp.get("/<slug>/signed")
@embeddable
def signed(slug: str):
    petition = services.get_public_petition(slug)
    notice = signing.risky_notice() if request.args.get("notice") == "provider" else None
    return render_template("petitions/signed.html", petition=petition,
                           text=petition.text_for(current_locale()), notice=notice,
                           embed=request.args.get("embed") == "1", ttl_days=signing.ttl_days(),
                           sender_name=signing.sender_name(), subject=signing.subject())


@bp.route("/<slug>/confirm/<token>", methods=["GET", "POST"])
def confirm(slug: str, token: str):
    if request.method == "POST":
        signature = signing.confirm(slug, token)
        template = "petitions/confirmed.html"
    else:
        signature = signing.signature_for_token(slug, token)  # reads only: scanners follow links
        template = "petitions/confirm.html"
    petition = signature.petition
    return render_template(template, petition=petition, signature=signature,
                           text=petition.text_for(current_locale()),
                           networks=petition_page.SHARE_NETWORKS, stamp=signing.form_stamp())


@bp.get("/<slug>/share.png")
def share_image(slug: str):
    """The share image named by the page's ``og:image`` (``?locale=``, else the visitor's)."""
    petition = services.get_public_petition(slug)
    asked = request.args.get("locale", "")
    locale = asked if asked in current_app.config["LANGUAGES"] else current_locale()
    with force_locale(locale):
        png = previews.share_png(petition, locale)
    response = Response(png, mimetype="image/png", headers={"Cache-Control": "public, max-age=3600"})
    if not asked:  # the language came from the visitor's cookie or browser
        response.vary.update(("Accept-Language", "Cookie"))
    response.add_etag()
    return response.make_conditional(request)


@bp.route("/<slug>/share/<network>", methods=["GET", "POST"])
@small_body
@csrf.exempt  # the form carries a signed stamp instead: petition pages set no cookie
def share(slug: str, network: str):
    # A server of the visitor's own choosing is followed only from a POST carrying
    # the stamp of a page we served in the last day: a crafted link cannot bounce
    # people through our domain. (The stamp is not tied to a visitor; the worst a
    # forged form can do is send someone to another server's /share with our text.)
    if network == "mastodon" and request.method != "POST":
        raise NotFound()
    form_page("petitions.detail", slug=slug)  # an error page's language links lead there
    if network == "mastodon" and not signing.stamp_is_ours(request.form.get("stamp")):
        raise CSRFError()
    petition = services.get_public_petition(slug)
    text = petition.text_for(current_locale())
    target = petition_page.share_url(
        network, mailer.external_url("petitions.detail", slug=petition.slug),
        text.title if text else petition.slug, instance=request.form.get("instance"),
    )
    if network == "mastodon":
        # Browsers hold a form's redirects to the page's ``form-action 'self'``, so the
        # form's answer is a page of ours that goes on to the server by a refresh.
        return render_template("petitions/share_leaving.html", petition=petition, target=target,
                               host=urlsplit(target).hostname), {"Cache-Control": "no-store"}
    return redirect(target, code=303)


@bp.errorhandler(429)
def too_many_signatures(error):
    try:
        embed = request.form.get("embed") == "1" or request.args.get("embed") == "1"
    except RequestEntityTooLarge:  # a body past the small-body limits is not read here
        embed = request.args.get("embed") == "1"
    return (render_template("petitions/rate_limited.html", embed=embed), 429,
            {"Retry-After": str(retry_after())})
