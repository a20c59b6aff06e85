"""Forms of the cycle's administration: calendar, moves, committee."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, TextAreaField
from wtforms.fields import DateTimeLocalField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from innovation_cycle.clock import PARIS
from innovation_cycle.services.cycles import STATE_LABELS, Windows
from workflows.cycle import STAGES, TRIGGERS

DATETIME_FORMAT = "%Y-%m-%dT%H:%M"
_REQUIRED = _l("Ce champ est obligatoire.")
_BAD_DATE = _l("Date et heure invalides (format attendu : JJ/MM/AAAA HH:MM).")


class CalendarFields(FlaskForm):
    """One opening and one closing field per stage, in Paris wall-clock time."""

    auto_advance = BooleanField(_l("Passer automatiquement à l'étape suivante à la clôture de chaque période"))

    def windows(self) -> Windows:
        result: Windows = {}
        for stage in STAGES:
            opens, closes = self[f"{stage}_opens_at"].data, self[f"{stage}_closes_at"].data
            if opens and closes:
                result[stage] = (_aware(opens), _aware(closes))
        return result

    def fill(self, windows: Windows) -> None:
        for stage, (opens, closes) in windows.items():
            self[f"{stage}_opens_at"].data = opens.astimezone(PARIS).replace(tzinfo=None)
            self[f"{stage}_closes_at"].data = closes.astimezone(PARIS).replace(tzinfo=None)

    def stage_fields(self):
        return [(stage, STATE_LABELS[stage], self[f"{stage}_opens_at"], self[f"{stage}_closes_at"])
                for stage in STAGES]


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=PARIS)


for _stage in STAGES:
    setattr(CalendarFields, f"{_stage}_opens_at", DateTimeLocalField(
        _l("Ouverture"), format=DATETIME_FORMAT,
        validators=[InputRequired(message=_REQUIRED)], render_kw={"step": 60}))
    setattr(CalendarFields, f"{_stage}_closes_at", DateTimeLocalField(
        _l("Clôture"), format=DATETIME_FORMAT,
        validators=[InputRequired(message=_REQUIRED)], render_kw={"step": 60}))


class CalendarForm(CalendarFields):
    reason = TextAreaField(_l("Raison de la modification (facultatif)"), validators=[Optional(), Length(max=2000)])


class NewCycleForm(CalendarFields):
    convention_id = SelectField(_l("Convention"), coerce=int, validators=[InputRequired(message=_REQUIRED)])
    year = IntegerField(_l("Année du cycle"), validators=[
        InputRequired(message=_l("Indiquez l'année du cycle (par exemple 2017).")),
        NumberRange(min=2000, max=2100, message=_l("L'année doit être comprise entre 2000 et 2100."))])


class MoveForm(FlaskForm):
    trigger = HiddenField(validators=[InputRequired()])
    expected_state = HiddenField(validators=[InputRequired()])
    forced = BooleanField(_l("Forcer le changement (la période n'est pas terminée)"))
    reason = TextAreaField(_l("Raison"), validators=[Optional(), Length(max=2000, message=_l(
        "La raison ne doit pas dépasser 2 000 caractères."))])

    def validate_trigger(self, field) -> None:
        from wtforms.validators import ValidationError

        if field.data not in TRIGGERS:
            raise ValidationError(_l("Changement d'étape inconnu."))


class CommitteeForm(FlaskForm):
    user_id = SelectField(_l("Membre du comité de pilotage"), coerce=int,
                          validators=[InputRequired(message=_REQUIRED)])


class RemoveForm(FlaskForm):
    """An empty form: a POST button with its CSRF token."""
