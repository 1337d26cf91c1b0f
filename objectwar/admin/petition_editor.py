"""Writing petitions in the admin: create, edit side by side per locale, preview, open and close.

Attached to the ``admin`` blueprint. The form and its values live in
``petitions.editor``, the rules in ``petitions.authoring`` (shared with the API).
"""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user

from objectwar.accounts import permissions
from objectwar.admin.views import bp
from objectwar.errors import ValidationError
from objectwar.forms import ConfirmForm
from objectwar.petitions import authoring, editor, services, signing
from objectwar.petitions.models import Petition, PetitionStatus
from objectwar.petitions.petition_page import page_context


def _locale_arg(name: str, default: str) -> str:
    value = request.values.get(name, "")
    return value if value in current_app.config["LANGUAGES"] else default


@bp.route("/petitions/new", methods=["GET", "POST"])
@permissions.coordinator_required
def petition_new():
    """A new petition, written first in one language (``?locale=``, English unless chosen)."""
    return _editor(None, _locale_arg("locale", "en"))


@bp.route("/petitions/<slug>/edit", methods=["GET", "POST"])
@permissions.coordinator_required
def petition_edit(slug: str):
    """The petition in its default language beside one other (``?locale=``)."""
    petition = services.get_petition(slug)
    return _editor(petition, _locale_arg("locale", petition.default_locale))


def _editor(petition: Petition | None, column: str):
    default = petition.default_locale if petition else column
    locales = list(dict.fromkeys([default, column]))
    if request.method == "GET":
        return _form(petition, editor.from_petition(petition, default), locales)
    draft = editor.from_form(request.form, petition, locales)
    action = request.form.get("action", "save")
    if action == "add_demand":
        draft.demands.append(editor.DemandRow(None, {}))
        return _form(petition, draft, locales)
    if action == "edit":
        return _form(petition, draft, locales)
    data = editor.to_data(draft, locales)
    try:
        if action == "preview":
            authoring.clean(data, petition)
            return _preview(editor.preview(draft, petition), column, request.form)
        confirmed = request.form.getlist("confirm_current")
        if petition is None:
            petition = authoring.create_petition(data, actor_id=current_user.id)
            flash(_("The petition is saved as a draft. Nobody sees it until you open it."))
        else:
            authoring.update_petition(petition, data, actor_id=current_user.id,
                                      confirm_current=confirmed)
            flash(_("The petition is saved."))
    except ValidationError as error:
        return _form(petition, draft, locales, errors=error.errors), 422
    return redirect(url_for(".petition_edit", slug=petition.slug,
                            locale=column if column != petition.default_locale else None))


def _form(petition: Petition | None, draft: editor.Draft, locales: list[str], *,
          errors: dict[str, list[str]] | None = None):
    codes = current_app.config["LANGUAGES"]
    return render_template(
        "admin/petition_edit.html", petition=petition, draft=draft, locales=locales,
        page_title=_title(petition) if petition else _("New petition"),
        default=locales[0], column=locales[-1], codes=codes, errors=errors or {},
        translations=authoring.translations(petition, codes) if petition else {},
        transitions=_transitions(petition))


def _title(petition: Petition) -> str:
    text = petition.text_for(petition.default_locale)
    return text.title if text else petition.slug


def _transitions(petition: Petition | None) -> list[PetitionStatus]:
    return sorted(authoring.TRANSITIONS[petition.status]) if petition else []


def _preview(public, locale: str, form=None):
    """The public petition page for ``public`` in ``locale``, marked as a preview."""
    with force_locale(locale):
        return render_template(
            "admin/petition_preview.html", preview_form=form, preview_locale=locale,
            stamp=signing.form_stamp(),
            **page_context(public, locale, embed=False, values={}, errors={}))


@bp.get("/petitions/<slug>/preview")
@permissions.coordinator_required
def petition_preview(slug: str):
    """The saved petition as the public sees it (a draft as it will look once open)."""
    petition = services.get_petition(slug)
    draft = editor.from_petition(petition)
    return _preview(editor.preview(draft, petition), _locale_arg("locale", petition.default_locale))


@bp.route("/petitions/<slug>/status/<any(open, closed):target>", methods=["GET", "POST"])
@permissions.coordinator_required
def petition_status(slug: str, target: str):
    """Open, close or reopen a petition: a confirmation page (GET), then the change (POST)."""
    petition = services.get_petition(slug)
    target_status = PetitionStatus(target)
    if target_status not in authoring.TRANSITIONS[petition.status]:
        flash(_("A petition that is %(status)s cannot become %(target)s.",
                status=str(petition.status), target=target), "error")
        return redirect(url_for(".petition_edit", slug=slug))
    form = ConfirmForm()
    if form.validate_on_submit():
        authoring.change_status(petition.id, target_status, actor_id=current_user.id)
        flash(_("The petition is open: the public can sign it.") if target_status == PetitionStatus.OPEN
              else _("The petition is closed: nobody can sign it any more."))
        return redirect(url_for(".petition_edit", slug=slug))
    return render_template("admin/petition_status.html", petition=petition, target=target,
                           title=_title(petition), form=form)
