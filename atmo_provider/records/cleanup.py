"""Removal of permissions whose object is gone.

Records deleted with ``obj.delete(session)`` take their permissions with them; this sweeps up
after everything else (rows deleted by hand, by a cascade, or by an older version).
"""

from __future__ import annotations

import logging

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from atmo_provider.records.models import Base, ObjectPermission

__all__ = ["cleanup_permissions", "permission_models"]

log = logging.getLogger(__name__)


def permission_models() -> dict[str, type]:
    """Return the record models by ``object_type`` (table name) that permissions can name."""
    return {
        mapper.class_.__tablename__: mapper.class_
        for mapper in Base.registry.mappers
        if mapper.class_ is not ObjectPermission
    }


def cleanup_permissions(session: Session) -> dict[str, int]:
    """Delete the permissions on objects that no longer exist; return how many, per kind.

    Model-wide grants (no object id) stay, and so do permissions on kinds of object this
    version does not know, which are logged. Running it again deletes nothing more.

    :param session: an open session; the deletions join its transaction.
    """
    models = permission_models()
    removed: dict[str, int] = {}
    for kind, model in sorted(models.items()):
        orphaned = ~exists().where(model.id == ObjectPermission.object_id)
        statement = delete(ObjectPermission).where(
            ObjectPermission.object_type == kind,
            ObjectPermission.object_id.is_not(None),
            orphaned,
        )
        removed[kind] = session.execute(statement).rowcount
        log.info("Removed %d permissions on deleted %s", removed[kind], kind)

    unknown = session.scalars(
        select(ObjectPermission.object_type)
        .where(ObjectPermission.object_type.not_in(list(models)))
        .distinct()
    ).all()
    for kind in unknown:
        log.warning("Kept the permissions on %s: no record model of that name", kind)
    return removed
