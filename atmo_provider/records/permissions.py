"""Object permissions of users and roles, and the checks the ATMO pages make with them.

A permission (view, add, change, delete) is held by an Airflow user (by username) or by an
Airflow role (by name) on one object, or on every object of a model when granted on the model
class itself. A user holds it when a row names the user or one of the user's roles.

The checks are framework-neutral: :func:`get_object_or_none` and the
:class:`ObjectPermissionCheck` callables made by :func:`permission_required` and its
``view_``/``add_``/``change_``/``delete_`` variants return the object or ``None``, and a web
layer answers ``None`` with 404, so that nobody learns whether an object they may not see
exists. Wrapping a check into a FastAPI dependency is the web layer's business.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, and_, delete, exists, false, or_, select
from sqlalchemy.orm import Session

from atmo_provider.errors import AtmoConfigurationError
from atmo_provider.records.mixins import utcnow
from atmo_provider.records.models import PERMISSIONS, ObjectPermission

if TYPE_CHECKING:
    from atmo_provider.settings import AtmoSettings

__all__ = [
    "DEFAULT_MAINTAINER_ROLE",
    "ObjectPermissionCheck",
    "PermissionMigrator",
    "add_permission_required",
    "change_permission_required",
    "delete_permission_required",
    "get_object_or_none",
    "grant",
    "has_permission",
    "maintainer_role_name",
    "object_type",
    "permission_required",
    "revoke",
    "revoke_all",
    "view_permission_required",
    "viewable_ids",
]

log = logging.getLogger(__name__)

#: The role whose members may view every Spark job, when the settings name none.
DEFAULT_MAINTAINER_ROLE = "Spark job maintainers"


def maintainer_role_name(settings: AtmoSettings | None = None) -> str:
    """Return the name of the Airflow role that may view every Spark job.

    :param settings: the provider's settings (``[atmo] maintainer_role``); read when not given.
    """
    if settings is None:
        from atmo_provider.settings import get_settings

        settings = get_settings()
    return getattr(settings, "maintainer_role", "") or DEFAULT_MAINTAINER_ROLE


def object_type(obj: Any) -> str:
    """Return the ``object_type`` of a record or a model class: its table name.

    :param obj: a record, or a model class.
    """
    model = obj if isinstance(obj, type) else type(obj)
    try:
        return model.__tablename__
    except AttributeError:
        raise TypeError(f"{model.__name__} is not a record model") from None


def _object_ref(obj: Any) -> tuple[str, int | None]:
    kind = object_type(obj)
    if isinstance(obj, type):
        return kind, None
    if obj.id is None:
        raise ValueError(f"{obj!r} has no id yet; flush it before granting permissions on it")
    return kind, obj.id


def _check_perm(perm: str) -> None:
    if perm not in PERMISSIONS:
        raise ValueError(f"unknown permission {perm!r}; permissions: {', '.join(PERMISSIONS)}")


def _principal(user: str | None, role: str | None) -> tuple[str | None, str | None]:
    if bool(user) == bool(role):
        raise ValueError(f"give exactly one of user and role, got user={user!r}, role={role!r}")
    return user or None, role or None


def _holder(user: str | None, roles: Iterable[str]):
    roles = [role for role in roles if role]
    clauses = []
    if user:
        clauses.append(ObjectPermission.username == user)
    if roles:
        clauses.append(ObjectPermission.role.in_(roles))
    return or_(*clauses) if clauses else false()


def _insert_ignoring_duplicates(session: Session, values: dict[str, Any]) -> bool:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise AtmoConfigurationError(
            f"the records database must be SQLite or PostgreSQL, not {dialect}"
        )

    # The unique grant index turns a duplicate into "nothing inserted", even under races.
    statement = (
        insert(ObjectPermission)
        .values(**values)
        .on_conflict_do_nothing()
        .returning(ObjectPermission.id)
    )
    return session.execute(statement).scalar() is not None


def grant(
    session: Session, perm: str, obj: Any, *, user: str | None = None, role: str | None = None
) -> bool:
    """Give ``user`` or ``role`` the permission ``perm`` on ``obj``; return whether it is new.

    :param session: an open session; the change joins its transaction.
    :param perm: view, add, change or delete.
    :param obj: a flushed record, or a model class for every object of that model.
    :param user: the Airflow username, when granting to a user.
    :param role: the Airflow role name, when granting to a role.
    """
    _check_perm(perm)
    user, role = _principal(user, role)
    kind, object_id = _object_ref(obj)
    return _grant(session, perm, kind, object_id, user, role)


def _grant(
    session: Session,
    perm: str,
    kind: str,
    object_id: int | None,
    user: str | None,
    role: str | None,
) -> bool:
    values = {
        "object_type": kind,
        "object_id": object_id,
        "permission": perm,
        "username": user,
        "role": role,
        "created_at": utcnow(),
    }

    created = _insert_ignoring_duplicates(session, values)
    if created:
        log.info(
            "Granted %s on %s %s to %s",
            perm,
            kind,
            object_id if object_id is not None else "(all)",
            f"user {user}" if user else f"role {role}",
        )
    return created


def revoke(
    session: Session, perm: str, obj: Any, *, user: str | None = None, role: str | None = None
) -> bool:
    """Take ``perm`` on ``obj`` from ``user`` or ``role``; return whether it was held.

    :param session: an open session; the change joins its transaction.
    :param perm: view, add, change or delete.
    :param obj: a record, or a model class for a grant on every object of that model.
    :param user: the Airflow username, when revoking from a user.
    :param role: the Airflow role name, when revoking from a role.
    """
    _check_perm(perm)
    user, role = _principal(user, role)
    kind, object_id = _object_ref(obj)
    criteria = [
        ObjectPermission.object_type == kind,
        ObjectPermission.permission == perm,
        ObjectPermission.object_id.is_(None)
        if object_id is None
        else ObjectPermission.object_id == object_id,
        ObjectPermission.username == user if user else ObjectPermission.role == role,
    ]

    removed = session.execute(delete(ObjectPermission).where(*criteria)).rowcount
    if removed:
        log.info(
            "Revoked %s on %s %s from %s",
            perm,
            kind,
            object_id if object_id is not None else "(all)",
            f"user {user}" if user else f"role {role}",
        )
    return bool(removed)


def revoke_all(session: Session, obj: Any) -> int:
    """Delete every permission anybody holds on the record ``obj``; return how many.

    :param session: an open session; the change joins its transaction.
    :param obj: a flushed record.
    """
    kind, object_id = _object_ref(obj)
    if object_id is None:
        raise ValueError("revoke_all takes a record, not a model class")

    statement = delete(ObjectPermission).where(
        ObjectPermission.object_type == kind, ObjectPermission.object_id == object_id
    )
    removed = session.execute(statement).rowcount
    log.info("Removed %d permissions on %s %s", removed, kind, object_id)
    return removed


def has_permission(
    session: Session, user: str | None, roles: Iterable[str], perm: str, obj: Any
) -> bool:
    """Tell whether ``user`` or one of ``roles`` holds ``perm`` on ``obj``.

    A grant on the model class counts for every object of the model.

    :param session: an open session.
    :param user: the Airflow username; ``None`` to ask about the roles only.
    :param roles: the names of the user's Airflow roles; empty to ask about the user only.
    :param perm: view, add, change or delete.
    :param obj: a flushed record, or a model class (then only model-wide grants count).
    """
    _check_perm(perm)
    kind, object_id = _object_ref(obj)
    target = ObjectPermission.object_id.is_(None)
    if object_id is not None:
        target = or_(ObjectPermission.object_id == object_id, target)

    condition = exists().where(
        ObjectPermission.object_type == kind,
        ObjectPermission.permission == perm,
        target,
        _holder(user, roles),
    )
    return bool(session.scalar(select(condition)))


def viewable_ids(
    user: str | None, roles: Iterable[str], model: type, perm: str = "view"
) -> Select:
    """Return a SELECT of the ids of ``model`` objects ``user`` or ``roles`` may ``perm``.

    Use it as a subquery: ``select(Cluster).where(Cluster.id.in_(viewable_ids(...)))``.
    For "only what I own", as the dashboard's cluster list does, pass no roles.

    :param user: the Airflow username; ``None`` for the roles only.
    :param roles: the names of the user's Airflow roles.
    :param model: the record model, e.g. ``Cluster``.
    :param perm: the permission, view by default.
    """
    _check_perm(perm)
    roles = list(roles)
    kind = object_type(model)
    holder = _holder(user, roles)
    direct = select(ObjectPermission.object_id).where(
        ObjectPermission.object_type == kind,
        ObjectPermission.permission == perm,
        ObjectPermission.object_id.is_not(None),
        holder,
    )
    model_wide = exists().where(
        ObjectPermission.object_type == kind,
        ObjectPermission.permission == perm,
        ObjectPermission.object_id.is_(None),
        holder,
    )
    return select(model.id).where(or_(model.id.in_(direct), model_wide))


def get_object_or_none(
    session: Session,
    model: type,
    perm: str,
    user: str | None,
    roles: Iterable[str],
    **lookup: Any,
) -> Any | None:
    """Return the ``model`` object matching ``lookup`` if ``user`` may ``perm`` it, else None.

    ``None`` means "missing or forbidden", on purpose: answer it with 404 either way.
    More than one match raises :class:`sqlalchemy.exc.MultipleResultsFound`.

    :param session: an open session.
    :param model: the record model, e.g. ``Cluster``.
    :param perm: view, add, change or delete.
    :param user: the Airflow username.
    :param roles: the names of the user's Airflow roles.
    :param lookup: column filters, e.g. ``id=12``.
    """
    _check_perm(perm)
    if not lookup:
        raise ValueError("give at least one lookup, e.g. id=12")

    obj = session.scalars(select(model).filter_by(**lookup)).one_or_none()
    if obj is None:
        return None
    if not has_permission(session, user, roles, perm, obj):
        log.info("User %s may not %s %s %s", user, perm, object_type(model), obj.id)
        return None
    return obj


@dataclass(frozen=True)
class ObjectPermissionCheck:
    """A reusable check: find a ``model`` object and return it if the user holds ``perm``.

    Calling it with ``(session, user, roles, **kwargs)`` runs :func:`get_object_or_none` with
    the fixed ``lookup`` plus ``kwargs`` (e.g. the path parameters of a request).

    :param perm: view, add, change or delete.
    :param model: the record model.
    :param lookup: filters every call applies.
    """

    perm: str
    model: type
    lookup: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_perm(self.perm)

    def __call__(
        self, session: Session, user: str | None, roles: Iterable[str], **kwargs: Any
    ) -> Any | None:
        """Return the object, or None when it is missing or ``user`` lacks the permission."""
        return get_object_or_none(
            session, self.model, self.perm, user, roles, **{**self.lookup, **kwargs}
        )


def permission_required(perm: str, model: type, **lookup: Any) -> ObjectPermissionCheck:
    """Return a check that finds a ``model`` object and requires ``perm`` on it.

    :param perm: view, add, change or delete.
    :param model: the record model.
    :param lookup: filters every call applies, besides those given at call time.
    """
    return ObjectPermissionCheck(perm, model, dict(lookup))


def view_permission_required(model: type, **lookup: Any) -> ObjectPermissionCheck:
    """Return a check requiring view permission on a ``model`` object; see permission_required."""
    return permission_required("view", model, **lookup)


def add_permission_required(model: type, **lookup: Any) -> ObjectPermissionCheck:
    """Return a check requiring add permission on a ``model`` object; see permission_required.

    Whether a user may create new objects at all is a model-wide question:
    ``has_permission(session, user, roles, "add", Model)``.
    """
    return permission_required("add", model, **lookup)


def change_permission_required(model: type, **lookup: Any) -> ObjectPermissionCheck:
    """Return a check requiring change permission on a ``model`` object."""
    return permission_required("change", model, **lookup)


def delete_permission_required(model: type, **lookup: Any) -> ObjectPermissionCheck:
    """Return a check requiring delete permission on a ``model`` object."""
    return permission_required("delete", model, **lookup)


class PermissionMigrator:
    """Grant or take a permission on every existing ``model`` object, e.g. in a migration.

    ``user_field`` names the attribute holding the username to grant to (``created_by``);
    ``group`` names a role to grant to. Give one or both. In an Alembic migration, use
    ``Session(bind=op.get_bind())``.

    :param model: the record model.
    :param perm: view, add, change or delete.
    :param user_field: the attribute of ``model`` holding a username.
    :param group: an Airflow role name.
    """

    def __init__(
        self, model: type, perm: str, user_field: str | None = None, group: str | None = None
    ) -> None:
        _check_perm(perm)
        if not user_field and not group:
            raise ValueError("give user_field, group, or both")
        if user_field and not hasattr(model, user_field):
            raise ValueError(f"{model.__name__} has no attribute {user_field!r}")
        self.model = model
        self.perm = perm
        self.user_field = user_field
        self.group = group

    def assign(self, session: Session) -> int:
        """Grant the permission on every existing object; return how many grants are new.

        :param session: an open session; the changes join its transaction.
        """
        columns = [self.model.id]
        if self.user_field:
            columns.append(getattr(self.model, self.user_field))

        kind = object_type(self.model)
        granted = 0
        for row in session.execute(select(*columns).order_by(self.model.id)).all():
            if self.user_field and row[1]:
                granted += _grant(session, self.perm, kind, row[0], row[1], None)
            if self.group:
                granted += _grant(session, self.perm, kind, row[0], None, self.group)

        log.info("Granted %s on %s objects %d times", self.perm, kind, granted)
        return granted

    def remove(self, session: Session) -> int:
        """Take the permission back from every existing object; return how many went.

        :param session: an open session; the changes join its transaction.
        """
        kind = object_type(self.model)
        holders = []
        if self.user_field:
            owner = getattr(self.model, self.user_field)
            holders.append(
                exists().where(
                    self.model.id == ObjectPermission.object_id,
                    owner == ObjectPermission.username,
                )
            )
        if self.group:
            holders.append(
                and_(
                    ObjectPermission.role == self.group,
                    ObjectPermission.object_id.in_(select(self.model.id)),
                )
            )

        statement = delete(ObjectPermission).where(
            ObjectPermission.object_type == kind,
            ObjectPermission.permission == self.perm,
            or_(*holders),
        )
        removed = session.execute(statement).rowcount
        log.info("Removed %d %s permissions on %s objects", removed, self.perm, kind)
        return removed
