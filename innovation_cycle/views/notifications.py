"""One's notification preferences, the personal calendar feed, and the AMI mailing list."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user

from forms.notifications import ButtonForm, PreferencesForm, SubscribeForm
from innovation_cycle import transaction
from innovation_cycle.authz import requires
from innovation_cycle.extensions import db, limiter
from innovation_cycle.models import User
from innovation_cycle.services import notifications

bp = Blueprint("notifications", __name__)

UNPROCESSABLE = 422


def _me() -> User:
    return db.session.get(User, current_user.id)


@bp.route("/compte/notifications", methods=["GET", "POST"])
@requires("notifications.preferences")
def preferences():
    me = _me()
    form = PreferencesForm(data={"announcements": me.announcements_opt_in, "digest": me.digest}
                           if request.method == "GET" else None)
    if form.validate_on_submit():
        notifications.set_preferences(me, announcements=form.announcements.data, digest=form.digest.data)
        transaction.commit()
        flash(_("Vos préférences de notification sont enregistrées."), "success")
        return redirect(url_for("notifications.preferences"))
    token = notifications.ensure_calendar_token(me)
    if request.method == "GET":
        transaction.commit()  # a token created for an account made before the feed existed
    return render_template(
        "notifications/preferences.html", form=form, button=ButtonForm(),
        feed_url=notifications.external_url("notifications.calendar_feed", token=token),
    ), (UNPROCESSABLE if request.method == "POST" else 200)


@bp.post("/compte/notifications/nouveau-lien-calendrier")
@requires("notifications.preferences")
def calendar_reset():
    if not ButtonForm().validate_on_submit():
        abort(400)
    notifications.reset_calendar_token(_me())
    transaction.commit()
    flash(_("Nouvelle adresse d'agenda créée : l'ancienne ne fonctionne plus."), "success")
    return redirect(url_for("notifications.preferences"))


@bp.get("/calendrier/<token>.ics")
@requires("calendar.feed")
def calendar_feed(token: str):
    user = notifications.user_by_calendar_token(token)
    if user is None:
        abort(404)
    response = Response(notifications.calendar_feed(user), mimetype="text/calendar")
    response.headers["Content-Disposition"] = 'inline; filename="echeances.ics"'
    response.headers["Cache-Control"] = "private, max-age=900"
    return response


# --- the AMI mailing list ------------------------------------------------------------------------------


def _address_and_email() -> str:
    return f"{get_remote_address()}|{(request.form.get('email') or '').strip().lower()[:254]}"


@bp.route("/liste-ami", methods=["GET", "POST"])
@requires("mailing_list.subscribe")
# Issue 9: nobody mails strangers in bulk through this form (and the service sends one confirmation a day).
@limiter.limit("5 per hour", key_func=_address_and_email, methods=["POST"])
@limiter.limit("20 per hour", methods=["POST"])
def subscribe():
    form = SubscribeForm()
    if form.validate_on_submit():
        notifications.subscribe(form.email.data)
        transaction.commit()
        return render_template("notifications/subscribe_sent.html", email=form.email.data.strip())
    return render_template("notifications/subscribe.html", form=form), (
        UNPROCESSABLE if request.method == "POST" else 200)


def _subscriber_link(token: str, act, done_message: str, template: str):
    """The two links of a subscription mail: GET shows a button, POST acts (a mail scanner opening the link
    must not act on its own); an unknown token gets the invalid-link page."""
    subscriber = notifications.subscriber_by_token(token)
    if subscriber is None:
        return render_template("notifications/invalid_link.html"), 400
    form = ButtonForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        act(subscriber)
        transaction.commit()
        flash(done_message, "success")
        return redirect(url_for("public.home"))
    return render_template(template, subscriber=subscriber, form=form)


@bp.route("/liste-ami/confirmer/<token>", methods=["GET", "POST"])
@requires("mailing_list.subscribe")
def subscribe_confirm(token: str):
    return _subscriber_link(token, notifications.confirm_subscription,
                            _("Inscription confirmée : vous serez prévenu de l'ouverture de l'AMI."),
                            "notifications/subscribe_confirm.html")


@bp.route("/liste-ami/desinscription/<token>", methods=["GET", "POST"])
@requires("mailing_list.subscribe")
def unsubscribe(token: str):
    return _subscriber_link(token, notifications.unsubscribe,
                            _("Vous ne recevrez plus les annonces de l'AMI à cette adresse."),
                            "notifications/unsubscribe.html")
