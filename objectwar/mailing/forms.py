"""Mailing forms: fields and the CSRF token; services hold the rules."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, EmailField, HiddenField, StringField, TextAreaField


class SubscribeForm(FlaskForm):
    name = StringField(_l("Your name (optional)"))
    email = EmailField(_l("Your email address"))
    locale = HiddenField()
    consent = BooleanField(_l("I agree that the campaign keeps my address to send me this list's "
                              "emails; I can unsubscribe with one click in every email."))


class ListForm(FlaskForm):
    slug = StringField(_l("Short name (in addresses: lower-case letters, digits, hyphens)"))
    name = StringField(_l("Name"))
    description = TextAreaField(_l("Description"))
    public = BooleanField(_l("Public: visitors may subscribe with the form on the website"))


class ImportUploadForm(FlaskForm):
    file = FileField(_l("CSV file (UTF-8, first line: email, name, locale, country; at most 5 MB)"))


class ImportConfirmForm(FlaskForm):
    upload = HiddenField()
    consent = BooleanField(_l("I confirm that every person in this file consented to receive "
                              "this list's emails."))
