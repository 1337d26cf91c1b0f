"""Mailing forms (lists, subscribing, mail-outs): fields and the CSRF token; services hold the rules."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    EmailField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired

from objectwar.errors import ValidationError
from objectwar.i18n import LANGUAGE_NAMES
from objectwar.validation import country_choices

TRANSLATION_LOCALES = ("de", "ru", "uk", "be")


def _language_choices() -> list[tuple[str, str]]:
    return list(LANGUAGE_NAMES.items())


class MailoutForm(FlaskForm):
    """Compose a mail-out; :meth:`data_for_service` gives the JSON API's fields."""

    list = SelectField(_l("List"), validate_choice=False)
    locale = SelectField(_l("Language of this text"), validate_choice=False, default="en")
    subject = StringField(_l("Subject"))
    body_markdown = TextAreaField(_l("Message (Markdown)"))
    subject_de = StringField(_l("Subject in %(language)s", language="Deutsch"))
    body_de = TextAreaField(_l("Message in %(language)s", language="Deutsch"))
    subject_ru = StringField(_l("Subject in %(language)s", language="Русский"))
    body_ru = TextAreaField(_l("Message in %(language)s", language="Русский"))
    subject_uk = StringField(_l("Subject in %(language)s", language="Українська"))
    body_uk = TextAreaField(_l("Message in %(language)s", language="Українська"))
    subject_be = StringField(_l("Subject in %(language)s", language="Беларуская"))
    body_be = TextAreaField(_l("Message in %(language)s", language="Беларуская"))
    countries = SelectMultipleField(_l("Countries (none chosen: every country)"), validate_choice=False)
    locales = SelectMultipleField(_l("Languages (none chosen: every language)"), validate_choice=False)
    rate_per_minute = IntegerField(_l("Messages per minute at most"))
    from_name = StringField(_l("Sender's name"))
    reply_to = SelectField(_l("Replies go to"), validate_choice=False, default="")

    def set_choices(self, lists: list[tuple[str, str]], locale: str,
                    reply_to: dict[str, str] | None = None) -> MailoutForm:
        self.list.choices = [("", "—"), *lists]
        self.reply_to.choices = [("", _l("The sender's address (no Reply-To)")),
                                 *((address, entry) for address, entry in (reply_to or {}).items())]
        self.locale.choices = _language_choices()
        self.locales.choices = _language_choices()
        self.countries.choices = list(country_choices(locale))
        if self.rate_per_minute.data is None and not self.is_submitted():
            self.rate_per_minute.data = current_app.config["MAILOUT_RATE_PER_MINUTE"]
        return self

    def translation_fields(self) -> list[tuple[Any, Any]]:
        return [(self[f"subject_{loc}"], self[f"body_{loc}"]) for loc in TRANSLATION_LOCALES]

    def data_for_service(self, stored: dict[str, Any] | None = None) -> dict[str, Any]:
        """The fields of ``POST /api/v1/mailouts``; a translation left empty is no translation.

        ``stored``: the edited mail-out's fields (:meth:`fill`); its translations this form
        has no fields for (made with the API) are kept.
        """
        translations = {loc: text for loc, text in ((stored or {}).get("translations") or {}).items()
                        if loc not in TRANSLATION_LOCALES and loc != self.locale.data}
        for loc in TRANSLATION_LOCALES:
            subject, body = self[f"subject_{loc}"].data, self[f"body_{loc}"].data
            if (subject or "").strip() or (body or "").strip():
                translations[loc] = {"subject": subject, "body_markdown": body}
        return {
            "list": self.list.data, "locale": self.locale.data, "subject": self.subject.data,
            "body_markdown": self.body_markdown.data, "translations": translations,
            "audience": {"country": self.countries.data or [], "locale": self.locales.data or []},
            "rate_per_minute": self.rate_per_minute.data,
            "from_name": self.from_name.data, "reply_to": self.reply_to.data,
        }

    def fill(self, data: dict[str, Any]) -> MailoutForm:
        """Show a stored mail-out (the fields of :meth:`data_for_service`) on a form not yet sent."""
        if self.is_submitted():
            return self
        self.list.data, self.locale.data = data["list"], data["locale"]
        self.subject.data, self.body_markdown.data = data["subject"], data["body_markdown"]
        for loc in TRANSLATION_LOCALES:
            text = data["translations"].get(loc) or {}
            self[f"subject_{loc}"].data = text.get("subject", "")
            self[f"body_{loc}"].data = text.get("body_markdown", "")
        self.countries.data = data["audience"]["country"]
        self.locales.data = data["audience"]["locale"]
        self.rate_per_minute.data = data["rate_per_minute"]
        self.from_name.data, self.reply_to.data = data["from_name"], data["reply_to"]
        return self

    @staticmethod
    def field_errors(error: ValidationError) -> ValidationError:
        """The service's field names (``translations.de.subject``) as this form's (``subject_de``)."""
        renamed: dict[str, list[str]] = {}
        for name, messages in error.errors.items():
            parts = name.split(".")
            if name == "audience.country":
                name = "countries"
            elif name == "audience.locale":
                name = "locales"
            elif parts[0] == "translations" and len(parts) > 1:
                kind = "body" if parts[-1] == "body_markdown" else "subject"
                name = f"{kind}_{parts[1]}"
            renamed.setdefault(name, []).extend(messages)
        return ValidationError(errors=renamed)


class ScheduleForm(FlaskForm):
    scheduled_at = DateTimeLocalField(_l("Send at (UTC)"), format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
                                      validators=[InputRequired(message=_l("This field is required."))])


class SendTestForm(FlaskForm):
    locale = SelectField(_l("Language"), validate_choice=False)



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
