"""Writing the audit trail, in the same transaction as the change it records."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from flask_login import current_user

from innovation_cycle import clock
from innovation_cycle.extensions import db
from innovation_cycle.models import AuditEvent, User

SYSTEM_LABEL = "système"


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple | set | frozenset):
        return sorted(_jsonable(v) for v in value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def snapshot(obj: Any, fields: list[str]) -> dict[str, Any]:
    return {f: _jsonable(getattr(obj, f)) for f in fields}


def record(
    action: str,
    obj: Any = None,
    *,
    object_type: str | None = None,
    object_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
    actor: User | None | bool = True,
) -> AuditEvent:
    """Add an audit row. `actor=True` (the default) means the logged-in user; `None` means the system."""
    if actor is True:
        actor = current_user if getattr(current_user, "is_authenticated", False) else None
    if obj is not None:
        if getattr(obj, "id", None) is None:
            db.session.flush()
        object_type = object_type or type(obj).__tablename__
        object_id = object_id if object_id is not None else obj.id
    event = AuditEvent(
        at=clock.now(),
        actor_id=actor.id if actor else None,
        actor_label=actor.email if actor else SYSTEM_LABEL,
        action=action,
        object_type=object_type or "",
        object_id=object_id,
        before=_jsonable(before) if before is not None else None,
        after=_jsonable(after) if after is not None else None,
        reason=reason or None,
    )
    db.session.add(event)
    return event
