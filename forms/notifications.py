"""Forms of the notifications area: one's preferences, the AMI mailing list, the admin's outbox filters."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, RadioField, SelectField, StringField
from wtforms.validators import Email, InputRequired, Length, Optional

from forms import SingleLine, options
from innovation_cycle.models.notifications import KINDS, STATUSES

DIGEST_LABELS = {
    "immediate": _l("Au fil de l'eau : un courriel par annonce"),
    "daily": _l("Un récapitulatif par jour (vers 8 h)"),
}
STATUS_LABELS = {
    "pending": _l("En attente"),
    "queued": _l("Dans la file d'envoi"),
    "sending": _l("Envoi en cours"),
    "sent": _l("Envoyé"),
    "failed": _l("En échec"),
    "cancelled": _l("Annulé"),
}
KIND_LABELS = {
    "account": _l("Compte"),
    "event": _l("Événement sur un dossier"),
    "reminder": _l("Rappel d'échéance"),
    "announcement": _l("Annonce"),
    "digest": _l("Récapitulatif quotidien"),
    "alert": _l("Alerte aux administrateurs"),
}


class PreferencesForm(FlaskForm):
    announcements = BooleanField(_l("Recevoir les annonces (ouverture de l'AMI, publication des résultats)"))
    digest = RadioField(_l("Comment recevoir les annonces"), choices=options(list(DIGEST_LABELS.items())),
                        validators=[InputRequired(message=_l("Choisissez comment recevoir les annonces."))])


class SubscribeForm(FlaskForm):
    email = EmailField(_l("Adresse électronique"), validators=[
        InputRequired(message=_l("Indiquez votre adresse électronique.")),
        Length(max=254, message=_l("L'adresse ne doit pas dépasser 254 caractères.")),
        Email(message=_l("Adresse électronique invalide (exemple : prenom.nom@exemple.fr)."))])


class ButtonForm(FlaskForm):
    """An empty form: a POST button with its CSRF token."""


class OutboxFilterForm(FlaskForm):
    class Meta:
        csrf = False

    recipient = StringField(_l("Destinataire"), validators=[SingleLine(), Optional(), Length(max=254)])
    status = SelectField(_l("État"), choices=options([("", _l("Tous"))] + [(s, STATUS_LABELS[s]) for s in STATUSES]),
                         validators=[Optional()])
    kind = SelectField(_l("Type"), choices=options([("", _l("Tous"))] + [(k, KIND_LABELS[k]) for k in KINDS]),
                       validators=[Optional()])
