"""``/admin/lists``: coordinators' pages for mailing lists (attached to the ``admin`` blueprint).

Views check the role, bind the form, call one service of
:mod:`objectwar.mailing.list_admin` or :mod:`objectwar.mailing.subscribers` (which audit every
change) and render.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from objectwar.accounts import permissions
from objectwar.admin.views import bp
from objectwar.errors import ValidationError
from objectwar.forms import ConfirmForm, show_errors
from objectwar.http import csv_download
from objectwar.mailing import list_admin, list_texts, subscribers, subscriptions
from objectwar.mailing.forms import ImportConfirmForm, ImportUploadForm, ListForm


@bp.context_processor
def subscription_labels():
    return {"subscription_labels": subscriptions.SUBSCRIPTION_LABELS}


@bp.route("/lists", methods=["GET", "POST"])
@permissions.coordinator_required
def lists_index():
    """Every list with its subscriber count, and the form to create one."""
    form = ListForm()
    if form.validate_on_submit():
        try:
            created = list_admin.create_list(current_user.id, request.form)
        except ValidationError as error:
            show_errors(form, error)
            return render_template("admin/lists.html", lists=list_admin.lists_with_counts(), form=form), 422
        flash(_("The list is created."))
        return redirect(url_for("admin.list_detail", slug=created.slug))
    return render_template("admin/lists.html", lists=list_admin.lists_with_counts(), form=form)


def _detail(mailing_list, form: ListForm, status: int = 200, errors: dict | None = None):
    search = request.args.get("q", "").strip()
    page = subscribers.subscribers(mailing_list.slug, page=request.args.get("page", 1, type=int),
                              search=search)
    return render_template("admin/list.html", mailing_list=mailing_list, form=form, page=page,
                           search=search, action_form=ConfirmForm(), errors=errors or {},
                           translations=list_texts.form_values(
                               mailing_list, request.form if errors else None)), status


@bp.route("/lists/<slug>", methods=["GET", "POST"])
@permissions.coordinator_required
def list_detail(slug: str):
    """The list's settings and its subscribers (paginated, searchable by address)."""
    mailing_list = list_admin.get_list(slug)
    form = ListForm(obj=mailing_list)
    if form.validate_on_submit():
        try:
            list_admin.update_list(current_user.id, slug, request.form)
        except ValidationError as error:
            show_errors(form, ValidationError(errors={  # the other languages' at their fields
                name: messages for name, messages in error.errors.items()
                if not name.startswith(("name_", "description_"))}))
            return _detail(mailing_list, form, 422, error.errors)
        flash(_("The list is saved."))
        return redirect(url_for("admin.list_detail", slug=slug))
    return _detail(mailing_list, form)


@bp.post("/lists/<slug>/subscriptions/<int(max=2147483647):subscription_id>/unsubscribe")
@permissions.coordinator_required
def list_unsubscribe(slug: str, subscription_id: int):
    subscribers.unsubscribe_one(current_user.id, slug, subscription_id)
    flash(_("The person is unsubscribed; an import will not add them again."))
    return redirect(url_for("admin.list_detail", slug=slug))


@bp.route("/lists/<slug>/subscriptions/<int(max=2147483647):subscription_id>/delete",
          methods=["GET", "POST"])
@permissions.coordinator_required
def list_delete_subscription(slug: str, subscription_id: int):
    """The confirmation page (GET) and the deletion (POST)."""
    subscription = subscribers.get_subscription(slug, subscription_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        subscribers.delete_one(current_user.id, slug, subscription_id)
        flash(_("The subscription is deleted."))
        return redirect(url_for("admin.list_detail", slug=slug))
    return render_template("admin/list_delete.html", subscription=subscription, form=form,
                           mailing_list=subscription.mailing_list)


@bp.get("/lists/<slug>/export.csv")
@permissions.coordinator_required
def list_export(slug: str):
    """The whole list as CSV, streamed (and written to the audit log)."""
    return csv_download(subscribers.export_csv(slug, actor_id=current_user.id), f"{slug}.csv")


@bp.route("/lists/<slug>/import", methods=["GET", "POST"])
@permissions.coordinator_required
def list_import(slug: str):
    """Upload a CSV: the answer is a preview with the column mapping and the consent box."""
    mailing_list = list_admin.get_list(slug)
    form = ImportUploadForm()
    if form.validate_on_submit():
        file = request.files.get("file")
        try:
            upload, ref = subscribers.store_upload(current_user.id, slug, file.read() if file else b"",
                                              file.filename if file else "")
        except ValidationError as error:
            show_errors(form, error)
        else:
            return render_template("admin/list_import_preview.html", mailing_list=mailing_list,
                                   upload=upload, form=ImportConfirmForm(upload=ref))
        return render_template("admin/list_import.html", mailing_list=mailing_list, form=form), 422
    return render_template("admin/list_import.html", mailing_list=mailing_list, form=form)


@bp.post("/lists/<slug>/import/confirm")
@permissions.coordinator_required
def list_import_confirm(slug: str):
    """Import the previewed file once the coordinator has ticked the consent box."""
    mailing_list = list_admin.get_list(slug)
    form = ImportConfirmForm()  # the CSRF token is checked for every POST (CSRFProtect)
    try:
        summary = subscribers.import_upload(current_user.id, slug, form.upload.data or "",
                                       consent=bool(form.consent.data))
    except ValidationError as error:
        show_errors(form, error)
        upload = None if "file" in error.errors else subscribers.read_upload(
            current_user.id, slug, form.upload.data)[0]
        return render_template("admin/list_import_preview.html", mailing_list=mailing_list,
                               upload=upload, form=form), 422
    return render_template("admin/list_import_result.html", mailing_list=mailing_list,
                           summary=summary)
