"""``/admin``: the coordinators' pages, one blueprint whose routes its modules add.

Importing the package imports every module with routes, so that the blueprint
is whole wherever it is registered: a module left out here is a missing page.
"""

from objectwar.admin import (  # noqa: F401 (their routes join bp)
    audit,
    coordinators,
    lists,
    mailouts,
    petition_editor,
    petitions,
)
from objectwar.admin.views import bp

__all__ = ["bp"]
