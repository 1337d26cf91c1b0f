"""JSON API v1 under ``/api/v1``: ``bp`` (``views.py``) with the routes ``mailing.py`` adds;
signing is a blueprint of its own (``signing.py``).

Importing the package imports every module with routes of ``bp``, so that the
blueprint is whole wherever it is registered.
"""

from objectwar.api import mailing  # noqa: F401 (its routes join bp)
from objectwar.api.views import bp

__all__ = ["bp"]
