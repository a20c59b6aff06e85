"""The outbox: every notification (pending, queued, sent, failed, cancelled), the rendered mail, and a
Retry button for the failed ones; plus "dispatch now" for the demo and for impatient admins."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from forms.admin import filter_value
from forms.notifications import KIND_LABELS, STATUS_LABELS, ButtonForm, OutboxFilterForm
from innovation_cycle import clock, transaction
from innovation_cycle.authz import ensure, requires
from innovation_cycle.extensions import db
from innovation_cycle.models import Notification
from innovation_cycle.params import page_number
from innovation_cycle.services import audit, delivery, notifications
from innovation_cycle.views.admin import bp


@bp.get("/courriels")
@requires("outbox.view")
def outbox():
    filters = OutboxFilterForm(formdata=request.args)
    valid = filters.validate() if request.args else True
    query = notifications.outbox_query(recipient=filter_value(filters.recipient),
                                       status=filter_value(filters.status), kind=filter_value(filters.kind))
    page = db.paginate(query, page=page_number(),
                       per_page=current_app.config["PAGE_SIZE"], error_out=False)
    return render_template("admin/outbox/list.html", filters=filters, page=page, counts=delivery.counts_by_status(),
                           status_labels=STATUS_LABELS, kind_labels=KIND_LABELS, button=ButtonForm(),
                           queue_mode=delivery.uses_queue()), (200 if valid else 422)


@bp.get("/courriels/<int:message_id>")
@requires("outbox.view")
def outbox_message(message_id: int):
    message = db.session.get(Notification, message_id)
    if message is None:
        abort(404)
    ensure("outbox.view", message)
    return render_template("admin/outbox/detail.html", message=notifications.preview(message),
                           status_labels=STATUS_LABELS, kind_labels=KIND_LABELS, button=ButtonForm())


@bp.post("/courriels/<int:message_id>/renvoyer")
@requires("outbox.retry")
def outbox_retry(message_id: int):
    message = db.session.get(Notification, message_id)
    if message is None:
        abort(404)
    ensure("outbox.retry", message)
    if not ButtonForm().validate_on_submit():
        abort(400)
    before = {"status": message.status, "attempts": message.attempts, "last_error": message.last_error}
    try:
        delivery.retry(message)
    except delivery.NotRetryable:
        transaction.rollback()
        flash(_("Seul un courriel en échec peut être renvoyé."), "warning")
        return redirect(url_for("admin.outbox_message", message_id=message_id))
    audit.record("notification.retry", message, before=before, after={"status": "queued", "attempts": 0})
    transaction.commit()
    flash(_("Le courriel est renvoyé à %(recipient)s.", recipient=message.recipient), "success")
    return redirect(url_for("admin.outbox_message", message_id=message_id))


@bp.post("/courriels/traiter")
@requires("outbox.dispatch")
def outbox_dispatch():
    if not ButtonForm().validate_on_submit():
        abort(400)
    report = notifications.dispatch_due(clock.now())
    audit.record("notification.dispatch", object_type="notifications",
                 after={"moves": len(report.moved), "handed_over": report.handed_over})
    transaction.commit()
    flash(_("Envoi lancé : %(count)s courriel(s) remis à l'envoi, %(moves)s changement(s) d'étape automatique(s).",
            count=report.handed_over, moves=len(report.moved)), "success")
    return redirect(url_for("admin.outbox"))
