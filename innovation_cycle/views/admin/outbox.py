"""The mail outbox, read only: what the application sent or tried to send, to whom, and how."""

from __future__ import annotations

from flask import abort, current_app, render_template, request

from forms.admin import OutboxFilterForm, filter_value
from innovation_cycle.authz import ensure, requires
from innovation_cycle.extensions import db
from innovation_cycle.models import OutboxMessage
from innovation_cycle.services import directory
from innovation_cycle.views.admin import bp


@bp.get("/courriels")
@requires("outbox.view")
def outbox():
    filters = OutboxFilterForm(formdata=request.args)
    valid = filters.validate() if request.args else True
    query = directory.outbox_query(recipient=filter_value(filters.recipient), status=filter_value(filters.status))
    page = db.paginate(query, page=request.args.get("page", 1, type=int),
                       per_page=current_app.config["PAGE_SIZE"], error_out=False)
    return render_template("admin/outbox/list.html", filters=filters, page=page), (200 if valid else 422)


@bp.get("/courriels/<int:message_id>")
@requires("outbox.view")
def outbox_message(message_id: int):
    message = db.session.get(OutboxMessage, message_id)
    if message is None:
        abort(404)
    ensure("outbox.view", message)
    return render_template("admin/outbox/detail.html", message=message)
