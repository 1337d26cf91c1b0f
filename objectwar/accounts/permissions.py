"""Who may do what: one function per action, and the decorators built on them.

Views and API handlers alike ask these functions; nothing else decides access.
Members act on their own organisation only (and only while it is a member),
coordinators on all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask_login import current_user

from objectwar.accounts.models import Role, User
from objectwar.errors import Forbidden, NotFound
from objectwar.extensions import login_manager
from objectwar.organisations.models import Organisation, OrganisationStatus


def _is_user(user: Any) -> bool:
    return isinstance(user, User) and user.is_authenticated and user.active


def is_coordinator(user: Any) -> bool:
    return _is_user(user) and user.role == Role.COORDINATOR


def is_member(user: Any) -> bool:
    """A member user of an organisation that is a member of the campaign (not suspended)."""
    return (_is_user(user) and user.role == Role.MEMBER and user.organisation is not None
            and user.organisation.status == OrganisationStatus.MEMBER)


def can_manage_organisations(user: Any) -> bool:
    """Decide on applications, suspend and reinstate."""
    return is_coordinator(user)


def can_edit_organisation(user: Any, organisation: Organisation) -> bool:
    """Edit the profile and logo."""
    if is_coordinator(user):
        return True
    return is_member(user) and user.organisation_id == organisation.id


def can_manage_colleagues(user: Any, organisation: Organisation) -> bool:
    """Invite and remove the organisation's users."""
    return can_edit_organisation(user, organisation)


def can_see_credited_signatures(user: Any, organisation: Organisation) -> bool:
    return can_edit_organisation(user, organisation)


def require(allowed: bool, *, hide: bool = False) -> None:
    """:raise Forbidden: not ``allowed`` (:raise NotFound: instead, with ``hide``)."""
    if not allowed:
        raise NotFound() if hide else Forbidden()


def _guard(check: Callable[[Any], bool]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()  # to the login page, with ?next=
            if not check(current_user):
                raise Forbidden()
            return view(*args, **kwargs)

        return guarded

    return decorator


#: The view needs a logged-in member of a member organisation; strangers go to the login page.
member_required = _guard(is_member)
#: The view needs a logged-in coordinator; strangers go to the login page.
coordinator_required = _guard(is_coordinator)
#: Any logged-in user.
user_required = _guard(_is_user)
