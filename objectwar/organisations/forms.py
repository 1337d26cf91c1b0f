"""Organisation forms: fields and the CSRF token; services hold the rules."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, EmailField, SelectField, StringField, TextAreaField

from objectwar.validation import country_choices


class ProfileForm(FlaskForm):
    name = StringField(_l("Name of the organisation"))
    country = SelectField(_l("Country"), validate_choice=False)
    city = StringField(_l("City"))
    website = StringField(_l("Website (https://…)"))
    # The label stays plain words; how to format is the hint's (the field's description).
    description = TextAreaField(_l("Description"), description=_l(
        "A few sentences about your organisation's work. You can format them with Markdown."))

    def set_countries(self, locale: str) -> ProfileForm:
        self.country.choices = [("", "—"), *country_choices(locale)]
        return self


class ApplyForm(ProfileForm):
    contact_name = StringField(_l("Contact person"))
    contact_email = EmailField(_l("Contact email address"))
    reason = TextAreaField(_l("Why do you want to join the campaign?"))
    consent = BooleanField(_l("I agree that the campaign stores and processes these details to "
                              "handle our application and, if accepted, to show our public profile."))


class LogoForm(FlaskForm):
    logo = FileField(_l("Logo (PNG, JPEG or WebP, at most 2 MB)"))


class InviteForm(FlaskForm):
    email = EmailField(_l("Email address of your colleague"))


class RejectForm(FlaskForm):
    message = TextAreaField(_l("Message to the applicant"))
