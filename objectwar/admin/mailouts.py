"""``/admin/mailouts``: coordinators compose, preview, test, send and watch mail-outs.

Routes on the ``admin`` blueprint; every rule lives in ``objectwar.mailing``.
"""

from __future__ import annotations

from datetime import UTC

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_babel import format_number, format_percent
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from objectwar import tasks
from objectwar.accounts import permissions
from objectwar.admin.views import bp
from objectwar.errors import Conflict, ValidationError
from objectwar.forms import ConfirmForm, show_errors
from objectwar.i18n import current_locale
from objectwar.mailing import bounces, list_admin
from objectwar.mailing.forms import MailoutForm, ScheduleForm, SendTestForm
from objectwar.mailing.models import Mailout, MailoutStatus
from objectwar.mailouts import compose, editing, queries, sweep
from objectwar.mailouts import status as mailout_status

ID = "<int(max=2147483647):mailout_id>"

MAILOUT_STATUS_LABELS = {
    MailoutStatus.DRAFT: _l("draft"),
    MailoutStatus.SCHEDULED: _l("scheduled"),
    MailoutStatus.SENDING: _l("sending"),
    MailoutStatus.PAUSED: _l("paused"),
    MailoutStatus.SENT: _l("sent"),
    MailoutStatus.CANCELLED: _l("cancelled"),
}


# Why a mail-out can no longer be cancelled, said on its page.
FINISHED = {
    MailoutStatus.SENT: _l("The mail-out had already been sent to everyone: there was nothing left to cancel."),
    MailoutStatus.CANCELLED: _l("The mail-out had already been cancelled."),
}


@bp.context_processor
def mailout_status_labels():
    return {"mailout_status_labels": MAILOUT_STATUS_LABELS}


def _back(mailout_id: int):
    return redirect(url_for("admin.mailout", mailout_id=mailout_id))


def _compose_form() -> MailoutForm:
    choices = [(item["slug"], item["name"]) for item in list_admin.lists_with_counts()]
    return MailoutForm().set_choices(choices, current_locale(), compose.reply_to_choices())


def _require(mailout: Mailout, action: str) -> None:
    """:raise Conflict: the mail-out's status does not allow ``action`` (a confirmation page asked for)."""
    if action not in mailout_status.allowed_actions(mailout):
        raise Conflict(errors={"status": [_("A mail-out that is %(status)s cannot be changed like this.",
                                            status=str(mailout.status))]})


def _confirm(mailout: Mailout, action: str, form: ConfirmForm, count: int | None = None):
    """The confirmation page of ``send`` or ``cancel``; :raise Conflict: the status does not allow it."""
    _require(mailout, action)
    return render_template("admin/mailout_confirm.html", mailout=mailout, action=action, form=form,
                           count=count, subject=compose.text_for(mailout, mailout.default_locale).subject)


def _figures(mailout: Mailout, progress: dict) -> dict[str, str]:
    """The progress as the page shows it, in the coordinator's language (page and JSON alike)."""
    left = progress["estimated_seconds_left"]
    return {
        "status": str(MAILOUT_STATUS_LABELS[mailout.status]),
        "sent": f"{format_number(progress['sent'])} / {format_number(progress['recipients'])}",
        "failed": format_number(progress["failed"]),
        "pending": format_number(progress["pending"]),
        "bounced": f"{format_number(progress['bounced'])} ({format_percent(progress['bounce_rate'], '#,##0.##%')})",
        "complained": (f"{format_number(progress['complained'])} "
                       f"({format_percent(progress['complaint_rate'], '#,##0.##%')})"),
        "skipped": format_number(progress["skipped"]) if progress["skipped"] else "",
        "estimated": _("about %(minutes)d min", minutes=(left + 59) // 60) if left is not None else "",
    }


def _detail(mailout: Mailout, *, schedule_form: ScheduleForm | None = None,
            test_form: SendTestForm | None = None, status: int = 200):
    """The mail-out page: status, progress, audience, preview in the chosen locale, actions."""
    locales = [text.locale for text in mailout.texts]
    locale = request.args.get("locale") if request.args.get("locale") in locales else mailout.default_locale
    test_form = test_form or SendTestForm(locale=locale)
    test_form.locale.choices = [(loc, loc) for loc in locales]
    progress = mailout_status.progress(mailout)
    return render_template(
        "admin/mailout.html", mailout=mailout, progress=progress, figures=_figures(mailout, progress),
        audience=None if mailout.started_at else queries.count_recipients(mailout),
        preview=compose.preview(mailout, locale), locales=locales,
        actions=mailout_status.allowed_actions(mailout), form=ConfirmForm(),
        schedule_form=schedule_form or ScheduleForm(), test_form=test_form,
        live=mailout.status == MailoutStatus.SENDING, pause_limits=bounces.pause_limits(),
        sender=compose.sender_text(mailout), reply_to=compose.reply_to(mailout),
    ), status


@bp.get("/mailouts")
@permissions.coordinator_required
def mailouts_index():
    found = queries.recent_mailouts()
    rows = [(m, compose.text_for(m, m.default_locale).subject, mailout_status.progress(m)) for m in found]
    return render_template("admin/mailouts.html", rows=rows)


@bp.route("/mailouts/new", methods=["GET", "POST"])
@permissions.coordinator_required
def mailout_new():
    """Compose a mail-out: saved as a draft, nothing is sent."""
    form = _compose_form()
    if form.validate_on_submit():
        try:
            created = editing.create_mailout(form.data_for_service(),
                                              created_by=current_user._get_current_object())
        except ValidationError as error:
            show_errors(form, form.field_errors(error))
            return render_template("admin/mailout_new.html", form=form), 422
        flash(_("The mail-out is saved as a draft. Check the preview, then send it."))
        return _back(created.id)
    return render_template("admin/mailout_new.html", form=form), 422 if form.is_submitted() else 200


@bp.get(f"/mailouts/{ID}")
@permissions.coordinator_required
def mailout(mailout_id: int):
    return _detail(queries.get_mailout(mailout_id))


@bp.get(f"/mailouts/{ID}/progress.json")
@permissions.coordinator_required
def mailout_progress(mailout_id: int):
    """The page's progress figures, for its script (``static/mailout-progress.js``)."""
    found = queries.get_mailout(mailout_id)
    progress = mailout_status.progress(found)
    return jsonify({**progress, "display": _figures(found, progress)})


@bp.route(f"/mailouts/{ID}/edit", methods=["GET", "POST"])
@permissions.coordinator_required
def mailout_edit(mailout_id: int):
    """Change a mail-out's list, texts, audience and pace until sending starts."""
    found = queries.get_mailout(mailout_id)
    _require(found, "edit")
    stored = editing.form_data(found)
    form = _compose_form().fill(stored)
    if form.validate_on_submit():
        try:
            editing.update_mailout(mailout_id, form.data_for_service(stored), actor_id=current_user.id)
        except ValidationError as error:
            show_errors(form, form.field_errors(error))
            return render_template("admin/mailout_new.html", form=form, mailout=found), 422
        flash(_("The changes are saved. Check the preview."))
        return _back(mailout_id)
    return render_template("admin/mailout_new.html", form=form, mailout=found), 422 if form.is_submitted() else 200


@bp.post(f"/mailouts/{ID}/duplicate")
@permissions.coordinator_required
def mailout_duplicate(mailout_id: int):
    """A new draft with this mail-out's texts, audience and pace, opened for editing."""
    copy = editing.duplicate(mailout_id, created_by=current_user._get_current_object())
    flash(_("This is a new draft, copied from the mail-out. Change it, then send it."))
    return redirect(url_for("admin.mailout_edit", mailout_id=copy.id))


@bp.route(f"/mailouts/{ID}/send", methods=["GET", "POST"])
@permissions.coordinator_required
def mailout_send(mailout_id: int):
    """"Send to N people?" (GET), then send (POST): deliveries created, batches queued."""
    found = queries.get_mailout(mailout_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        started = sweep.start_sending(mailout_id, actor_id=current_user.id)
        tasks.enqueue_mailout(started.id)
        flash(_("Sending has started."))
        return _back(mailout_id)
    return _confirm(found, "send", form, count=queries.count_recipients(found))


@bp.route(f"/mailouts/{ID}/cancel", methods=["GET", "POST"])
@permissions.coordinator_required
def mailout_cancel(mailout_id: int):
    """"Cancel for good?" (GET), then cancel (POST)."""
    found = queries.get_mailout(mailout_id)
    form = ConfirmForm()
    if form.validate_on_submit() and found.status not in FINISHED:
        try:
            mailout_status.cancel(mailout_id, actor_id=current_user.id)
        except Conflict:  # it finished between the check and the cancel
            found = queries.get_mailout(mailout_id)
        else:
            flash(_("The mail-out is cancelled; nobody else gets it."))
            return _back(mailout_id)
    if found.status in FINISHED:  # the mail-out finished while the coordinator looked
        flash(str(FINISHED[found.status]))
        return _back(mailout_id)
    return _confirm(found, "cancel", form)


@bp.post(f"/mailouts/{ID}/pause")
@permissions.coordinator_required
def mailout_pause(mailout_id: int):
    mailout_status.pause(mailout_id, actor_id=current_user.id)
    flash(_("The mail-out is paused."))
    return _back(mailout_id)


@bp.post(f"/mailouts/{ID}/resume")
@permissions.coordinator_required
def mailout_resume(mailout_id: int):
    """Continue with the pending deliveries only (as the API's send does)."""
    _require(queries.get_mailout(mailout_id), "resume")
    started = sweep.start_sending(mailout_id, actor_id=current_user.id)
    tasks.enqueue_mailout(started.id)
    flash(_("Sending continues."))
    return _back(mailout_id)


@bp.post(f"/mailouts/{ID}/schedule")
@permissions.coordinator_required
def mailout_schedule(mailout_id: int):
    """Send at a time given in UTC; a time in the past is a field error."""
    found = queries.get_mailout(mailout_id)
    form = ScheduleForm()
    if not form.validate_on_submit():
        return _detail(found, schedule_form=form, status=422)
    try:
        editing.schedule(mailout_id, form.scheduled_at.data.replace(tzinfo=UTC), actor_id=current_user.id)
    except ValidationError as error:
        show_errors(form, error)
        return _detail(found, schedule_form=form, status=422)
    flash(_("The mail-out is scheduled."))
    return _back(mailout_id)


@bp.post(f"/mailouts/{ID}/test")
@permissions.coordinator_required
def mailout_test(mailout_id: int):
    """Send the chosen locale's message to the coordinator's own address (an outbox notice)."""
    found = queries.get_mailout(mailout_id)
    form = SendTestForm()
    try:
        notice = compose.request_test(mailout_id, form.locale.data or "", actor=current_user)
    except ValidationError as error:
        show_errors(form, error)
        return _detail(found, test_form=form, status=422)
    tasks.enqueue_notices([notice])
    flash(_("A test message is on its way to %(email)s.", email=current_user.email))
    return _back(mailout_id)
