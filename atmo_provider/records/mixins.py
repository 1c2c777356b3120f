"""Declarative mixins of the records: who created an object, when it changed, where it lives.

* :class:`CreatedByMixin` stores the creator's Airflow username and email, gives the creator
  view, change and delete permissions in :meth:`~CreatedByMixin.save`, and registers the model
  so that :func:`created_objects` answers "what did this user create" by plural name
  (``created_objects(session, "alice", "clusters")``; :mod:`atmo_provider.records.models`
  also offers ``created_clusters(session, "alice")`` and friends).
* :class:`EditedAtMixin` keeps ``created_at`` and ``modified_at`` in UTC, timezone-aware on
  every backend.
* :class:`URLActionMixin` builds paths such as ``/atmo/clusters/12/extend`` from a route
  table, without any web framework.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from sqlalchemy import DateTime, Select, String, select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    from atmo_provider.settings import AtmoSettings

__all__ = [
    "CreatedByMixin",
    "EditedAtMixin",
    "URLActionMixin",
    "UTCDateTime",
    "created_kinds",
    "created_objects",
    "register_created",
    "utcnow",
]


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware.

    PostgreSQL stores ``TIMESTAMP WITH TIME ZONE``; SQLite has no time zones, so the value is
    stored as naive UTC and given its UTC zone back on reading. Naive values are refused:
    their zone is unknown.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert ``value`` to UTC before it is stored."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"timestamps must be timezone-aware, got the naive {value.isoformat()}; "
                "use datetime.now(timezone.utc) or attach a tzinfo"
            )

        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return the stored value as an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


# plural name -> function(username) returning the SELECT of what that user created.
_created_queries: dict[str, Callable[[str], Select]] = {}


def register_created(plural: str, query: Callable[[str], Select]) -> None:
    """Make ``created_objects(session, username, plural)`` run ``query(username)``.

    :param plural: the name after ``created_``, e.g. ``spark_job_runs``.
    :param query: returns the SELECT of one user's objects, newest first.
    """
    _created_queries[plural] = query


def created_kinds() -> list[str]:
    """Return the plural names :func:`created_objects` knows, sorted."""
    return sorted(_created_queries)


def created_objects(session: Session, username: str, plural: str) -> list[Any]:
    """Return the objects ``username`` created of the kind ``plural``, newest first.

    :param session: an open session.
    :param username: the Airflow username of the creator.
    :param plural: a name from :func:`created_kinds`, e.g. ``clusters``.
    """
    try:
        query = _created_queries[plural]
    except KeyError:
        raise ValueError(
            f"unknown kind of object {plural!r}; known kinds: {', '.join(created_kinds())}"
        ) from None
    return list(session.scalars(query(username)))


def _default_plural(cls: type) -> str:
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()
    return f"{snake}s"


class CreatedByMixin:
    """Who created an object, and the permissions that come with it.

    Save new objects with :meth:`save` so that the creator's permissions are granted in the
    same transaction, and delete them with :meth:`delete` so that the permissions go too.
    """

    #: The permissions the creator gets on the object when it is first saved.
    creator_permissions: ClassVar[tuple[str, ...]] = ("view", "change", "delete")

    #: The name after ``created_`` for this model, e.g. ``clusters``; derived from the class
    #: name (``SparkJob`` -> ``spark_jobs``) when empty.
    created_plural: ClassVar[str] = ""

    created_by: Mapped[str] = mapped_column(String(256), index=True)
    created_by_email: Mapped[str] = mapped_column(String(256), default="")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__tablename__" not in cls.__dict__:
            return

        plural = cls.__dict__.get("created_plural") or _default_plural(cls)
        cls.created_plural = plural
        register_created(plural, cls.select_created_by)

    @classmethod
    def select_created_by(cls, username: str) -> Select:
        """Return the SELECT of the objects ``username`` created, newest first.

        :param username: the Airflow username of the creator.
        """
        query = select(cls).where(cls.created_by == username)
        if hasattr(cls, "created_at"):
            query = query.order_by(cls.created_at.desc())
        return query.order_by(cls.id.desc())

    def assign_permission(self, session: Session, user: str, perm: str) -> bool:
        """Give ``user`` the permission ``perm`` (view, change, delete, add) on this object.

        Return whether the permission is new.

        :param session: an open session; the object must have been flushed.
        :param user: the Airflow username.
        :param perm: the permission name.
        """
        from atmo_provider.records.permissions import grant

        return grant(session, perm, self, user=user)

    def save(self, session: Session, *, settings: AtmoSettings | None = None) -> Any:
        """Add the object to the session and flush it; a new object's creator gets its perms.

        Returns the object. Everything happens in the session's transaction.

        :param session: an open session.
        :param settings: settings that :meth:`after_create` may need (e.g. a role name).
        """
        from sqlalchemy import inspect

        is_new = inspect(self).transient or inspect(self).pending
        session.add(self)
        session.flush()
        if not is_new:
            return self

        for perm in self.creator_permissions:
            self.assign_permission(session, self.created_by, perm)
        self.after_create(session, settings)
        return self

    def after_create(self, session: Session, settings: AtmoSettings | None) -> None:
        """Run after a new object's first flush, in the same transaction; nothing by default.

        :param session: the session that saved the object.
        :param settings: the settings given to :meth:`save`.
        """

    def delete(self, session: Session) -> None:
        """Delete the object and every permission on it, in the session's transaction.

        :param session: an open session.
        """
        from atmo_provider.records.permissions import revoke_all

        revoke_all(session, self)
        session.delete(self)
        session.flush()


class EditedAtMixin:
    """When an object was created and last changed, in UTC.

    ``modified_at`` moves whenever an UPDATE of the row is flushed, never on reading.
    """

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class URLActionMixin:
    """Paths of the pages that act on an object, e.g. ``/atmo/clusters/12/extend``.

    The route name of an action is ``url_prefix + url_delimiter + action`` (``clusters-extend``);
    :attr:`url_routes` maps it to a path template whose placeholder is :attr:`url_kwarg_name`
    (``/clusters/{id}/extend``, which is also FastAPI's path syntax).
    """

    #: The list of actions to build URLs for, e.g. ``["detail", "extend", "terminate"]``.
    url_actions: ClassVar[list[str]] = []

    #: The delimiter between the prefix and the action in a route name.
    url_delimiter: ClassVar[str] = "-"

    #: The attribute of the object whose value goes into the path.
    url_field_name: ClassVar[str] = "id"

    #: The name of the placeholder in the path template.
    url_kwarg_name: ClassVar[str] = "id"

    #: The prefix of the route names, e.g. ``clusters``.
    url_prefix: ClassVar[str | None] = None

    #: The route table: route name -> path template.
    url_routes: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def url_route_name(cls, action: str) -> str:
        """Return the route name of ``action``, e.g. ``clusters-extend``.

        :param action: one of :attr:`url_actions`.
        """
        if action not in cls.url_actions:
            raise ValueError(
                f"{cls.__name__} has no URL action {action!r}; "
                f"actions: {', '.join(cls.url_actions) or 'none'}"
            )
        return f"{cls.url_prefix}{cls.url_delimiter}{action}"

    def url_for_action(self, action: str, base: str = "/atmo") -> str:
        """Return the path of ``action`` on this object below ``base``.

        :param action: one of :attr:`url_actions`.
        :param base: where the pages are mounted; ``""`` for a path relative to the app.
        """
        name = self.url_route_name(action)
        try:
            template = self.url_routes[name]
        except KeyError:
            raise ValueError(f"the route table has no route named {name!r}") from None

        value = quote(str(getattr(self, self.url_field_name)), safe="")
        return base.rstrip("/") + template.format(**{self.url_kwarg_name: value})

    def get_absolute_url(self, base: str = "/atmo") -> str:
        """Return the path of the object's detail page.

        :param base: where the pages are mounted.
        """
        return self.url_for_action("detail", base=base)
