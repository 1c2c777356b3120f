"""Who is asking: the logged-in Airflow user and the names of their roles.

The app is mounted inside Airflow's API server but inherits none of its security, so every
route depends on :func:`current_user`. It asks Airflow's own :func:`get_user` (the ``Bearer``
header, else the ``_token`` cookie the UI sets, which reaches the tab's same-origin iframe) and
answers 401 when there is no valid token. Like the navigation entry, the tab is for users the
auth manager lets see plugins (FAB: ``can_read`` on ``Plugins``); others get 403. The user's
roles are the names of the auth manager's roles: ``user.roles`` under the FAB auth manager,
``user.role`` under the simple one.

Forms are protected against cross-site requests by :mod:`atmo_provider.plugin.csrf`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.core_api.security import get_user
from fastapi import Depends, HTTPException, Request, status

from atmo_provider.plugin.deps import plugin_settings
from atmo_provider.records.permissions import maintainer_role_name

__all__ = ["CurrentUser", "airflow_user", "current_user", "role_names", "tab_access"]


def role_names(user: Any) -> frozenset[str]:
    """Return the names of the Airflow roles of ``user``.

    :param user: a user of Airflow's auth manager (FAB users have ``roles``, simple auth
        manager users a single ``role``).
    """
    names: set[str] = set()
    for role in getattr(user, "roles", None) or ():
        name = getattr(role, "name", role)
        if name:
            names.add(str(name))
    single = getattr(user, "role", None)
    if isinstance(single, str) and single:
        names.add(single)
    return frozenset(names)


@dataclass(frozen=True)
class CurrentUser:
    """The logged-in user as the tab sees it.

    :param username: the Airflow username; object permissions are granted to it.
    :param roles: the names of the user's Airflow roles.
    :param email: the user's email, when the auth manager knows it.
    :param display_name: what the page header shows.
    :param is_maintainer: member of the Spark job maintainers role.
    """

    username: str
    roles: frozenset[str]
    email: str = ""
    display_name: str = ""
    is_maintainer: bool = False

    @classmethod
    def from_airflow_user(cls, user: Any, maintainer_role: str) -> CurrentUser:
        """Build the current user from an auth manager's user.

        :param user: what Airflow's ``get_user`` returned.
        :param maintainer_role: the name of the Spark job maintainers role.
        """
        username = str(user.get_name())
        roles = role_names(user)
        full_name = ""
        if hasattr(user, "get_full_name"):
            full_name = (user.get_full_name() or "").strip()
        return cls(
            username=username,
            roles=roles,
            email=str(getattr(user, "email", "") or ""),
            display_name=full_name or username,
            is_maintainer=maintainer_role in roles,
        )


async def airflow_user(user: Annotated[BaseUser, Depends(get_user)]) -> BaseUser:
    """Return the user of Airflow's token; 401 without one, 403 for an invalid one."""
    return user


def tab_access(user: Annotated[BaseUser, Depends(airflow_user)]) -> None:
    """Refuse (403) users the auth manager does not let see plugins, as the UI hides the tab."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView

    if get_auth_manager().is_authorized_view(access_view=AccessView.PLUGINS, user=user):
        return
    raise HTTPException(
        status_code=status.HTTP_403_FORBIDDEN,
        detail=(
            "Your Airflow roles do not include the ATMO tab: it needs read access to plugins "
            "(can_read on Plugins). Ask an Airflow admin to add it to one of your roles."
        ),
    )


def current_user(
    request: Request,
    user: Annotated[BaseUser, Depends(airflow_user)],
    _access: Annotated[None, Depends(tab_access)],
) -> CurrentUser:
    """Return the logged-in user with role names and maintainer membership resolved."""
    settings = plugin_settings(request)
    return CurrentUser.from_airflow_user(user, maintainer_role_name(settings))
