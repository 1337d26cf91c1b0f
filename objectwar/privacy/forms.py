"""The data request form: fields and the CSRF token; the service checks the values."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, RadioField
from wtforms.fields.choices import SelectChoice


class DataRequestForm(FlaskForm):
    email = EmailField(_l("Your email address"))
    action = RadioField(_l("What should we do?"), validate_choice=False, choices=[
        SelectChoice("export", _l("Send me a copy of my data")),
        SelectChoice("erase", _l("Erase my data")),
    ])
