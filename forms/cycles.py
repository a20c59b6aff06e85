"""Forms of the cycle's administration: calendar, moves, committee."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from forms import SingleLine
from forms.admin import FrenchDateTimeField
from innovation_cycle.clock import PARIS
from innovation_cycle.services.cycles import STATE_LABELS, Windows
from workflows.cycle import STAGES, TRIGGERS

_REQUIRED = _l("Ce champ est obligatoire.")
_BAD_DATE = _l("Date et heure invalides (format attendu : JJ/MM/AAAA HH:MM).")


MAX_REMINDER_OFFSET = 90


def parse_offsets(text: str | None) -> str:
    """"14, 7, 1" -> "14,7,1" (distinct whole days, largest first); raises ValueError with a French message."""
    values = [v.strip() for v in (text or "").replace(";", ",").split(",") if v.strip()]
    if any(not (v.isascii() and v.isdigit()) or len(v) > 4 for v in values):
        raise ValueError(_l("Indiquez des nombres entiers de jours séparés par des virgules, par exemple 14, 7, 1."))
    days = sorted({int(v) for v in values}, reverse=True)
    if any(d < 1 or d > MAX_REMINDER_OFFSET for d in days):
        raise ValueError(_l("Chaque rappel doit tomber entre 1 et %(max)s jours avant la clôture.",
                            max=MAX_REMINDER_OFFSET))
    if len(days) > 5:
        raise ValueError(_l("Cinq rappels au plus par étape."))
    return ",".join(str(d) for d in days)


class CalendarFields(FlaskForm):
    """One opening and one closing field per stage, in Paris wall-clock time."""

    auto_advance = BooleanField(_l("Passer automatiquement à l'étape suivante à la clôture de chaque période"))
    reminder_offsets = StringField(
        _l("Rappels avant chaque clôture (en jours)"), default="14, 7, 1",
        description=_l("Nombres de jours séparés par des virgules, par exemple 14, 7, 1 ; laissez vide pour "
                       "n'envoyer aucun rappel. Un rappel qui tombe un samedi, un dimanche ou un jour férié part "
                       "le jour ouvré précédent, à 9 h."),
        validators=[SingleLine(), Optional(), Length(max=64)])

    def validate_reminder_offsets(self, field) -> None:
        from wtforms.validators import ValidationError

        try:
            parse_offsets(field.data)
        except ValueError as exc:
            raise ValidationError(str(exc.args[0])) from None

    def offsets(self) -> str:
        return parse_offsets(self.reminder_offsets.data)

    def fill_offsets(self, stored: str) -> None:
        self.reminder_offsets.data = ", ".join(v for v in stored.split(",") if v)

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
    setattr(CalendarFields, f"{_stage}_opens_at", FrenchDateTimeField(
        _l("Ouverture"), description=_l("JJ/MM/AAAA HH:MM"),
        validators=[InputRequired(message=_REQUIRED)], render_kw={"step": 60}))
    setattr(CalendarFields, f"{_stage}_closes_at", FrenchDateTimeField(
        _l("Clôture"), description=_l("JJ/MM/AAAA HH:MM"),
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
