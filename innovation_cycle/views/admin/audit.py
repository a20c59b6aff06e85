"""The audit trail, read only: who did what, when, to which object, with the values before and after."""

from __future__ import annotations

import json
from typing import Any

from flask import current_app, render_template, request, url_for
from flask_babel import gettext as _

from forms import options
from forms.admin import AuditFilterForm, filter_value
from innovation_cycle.authz import requires
from innovation_cycle.extensions import db
from innovation_cycle.params import page_number
from innovation_cycle.services import audit_text, directory
from innovation_cycle.views.admin import bp

# Where an audited object can be opened, by its table name.
OBJECT_PAGES = {
    "conventions": ("admin.convention", "convention_id"),
    "organizations": ("admin.organization", "organization_id"),
    "users": ("admin.user_edit", "user_id"),
    "cycles": ("admin.cycle", "cycle_id"),
    "notifications": ("admin.outbox_message", "message_id"),
}


def compact_json(value: Any) -> str:
    """One line, keys sorted, accents kept; the template escapes it."""
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "), default=str)


def object_url(object_type: str, object_id: int | None) -> str | None:
    page = OBJECT_PAGES.get(object_type)
    if page is None or object_id is None or page[0] not in current_app.view_functions:
        return None
    return url_for(page[0], **{page[1]: object_id})


@bp.get("/journal")
@requires("audit.view")
def audit():
    actions, object_types = directory.audit_choices()
    filters = AuditFilterForm(formdata=request.args)
    filters.action.choices = options([("", _("Toutes"))] + [(a, a) for a in actions])
    filters.object_type.choices = options([("", _("Tous"))] + [(t, t) for t in object_types])
    valid = filters.validate() if request.args else True
    query = directory.audit_query(
        action=filter_value(filters.action), object_type=filter_value(filters.object_type),
        actor=filter_value(filters.actor), since=filter_value(filters.since),
        until=filter_value(filters.until), object_id=filter_value(filters.object_id))
    page = db.paginate(query, page=page_number(),
                       per_page=current_app.config["PAGE_SIZE"], error_out=False)
    return render_template("admin/audit/list.html", filters=filters, page=page, compact_json=compact_json,
                           object_url=object_url, audit_sentence=audit_text.sentence,
                           audit_object=audit_text.object_label), (200 if valid else 422)
