"""Forms of the selection stage's ranking, meetings, decisions and release."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from forms import SingleLine, options
from forms.admin import FrenchDateTimeField, MultiCheckboxField

_REQUIRED = _l("Ce champ est obligatoire.")


class RankingFilterForm(FlaskForm):
    """GET filters of the ranking (no CSRF: it changes nothing)."""

    class Meta:
        csrf = False

    theme = SelectField(_l("Thème des besoins visés"), choices=[], default="")
    need = SelectField(_l("Besoin visé"), choices=[], default="")
    size = SelectField(_l("Taille de l'entreprise"), choices=[], default="")
    department = SelectField(_l("Département de l'entreprise"), choices=[], default="")
    status = SelectField(_l("État"), choices=[], default="")
    normalized = BooleanField(_l("Normaliser par évaluateur (scores z)"))


class MeetingForm(FlaskForm):
    title = StringField(_l("Intitulé de la séance"),
                        validators=[SingleLine(), InputRequired(message=_REQUIRED), Length(max=200)],
                        default=_l("Séance du comité de pilotage"))
    # JJ/MM/AAAA HH:MM in a text input: Chromium's datetime-local widget speaks the browser's language.
    scheduled_at = FrenchDateTimeField(_l("Date et heure (heure de Paris)"), validators=[
        InputRequired(message=_l("Indiquez la date et l'heure de la séance."))])
    location = StringField(_l("Lieu"), validators=[SingleLine(), Optional(), Length(max=255)])


class AttendanceForm(FlaskForm):
    present = MultiCheckboxField(_l("Membres du comité présents"), choices=[], coerce=int)


class DecisionForm(FlaskForm):
    outcome = RadioField(_l("Décision"), choices=options([
        ("selected", _l("Retenue")), ("waiting_list", _l("Liste d'attente")), ("not_selected", _l("Non retenue"))]),
        validators=[InputRequired(message=_l("Choisissez la décision."))])
    needs = MultiCheckboxField(_l("Retenue pour les besoins"), choices=[], coerce=int)
    rationale = TextAreaField(_l("Motivation (obligatoire)"),
                              validators=[InputRequired(message=_l("La motivation de la décision est obligatoire.")),
                                          Length(max=5000)])
    message = TextAreaField(_l("Message à l'entreprise (facultatif)"), validators=[Optional(), Length(max=5000)])
    version = StringField(validators=[SingleLine(), Optional()])


class ReleaseForm(FlaskForm):
    confirm = BooleanField(_l("Je confirme la communication des décisions, en une fois, aux entreprises et aux "
                              "acheteurs"), validators=[InputRequired(message=_l("Cochez la confirmation."))])
