"""Forms of the selection stage's reviewing (issue 7): grid, settings, assignments, conflicts, reviews,
buyers' interest."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from forms import SingleLine, options
from forms.admin import FrenchDateTimeField
from forms.companies import FrenchDecimalField
from innovation_cycle.clock import PARIS

_REQUIRED = _l("Ce champ est obligatoire.")


class FrenchFloatField(FrenchDecimalField):
    """A weight or a threshold typed the French way (« 1,5 ») in a text input, handed on as a float. WTForms'
    FloatField is a number input, where Chromium drops the comma of « 1,5 » (and says « Not a valid float
    value » in English when it cannot read it)."""

    def process_formdata(self, valuelist: list[str]) -> None:
        super().process_formdata(valuelist)
        if self.data is not None:
            self.data = float(self.data)

    def _value(self) -> str:
        if self.raw_data or self.data is None:
            return super()._value()
        return format(Decimal(str(self.data)).normalize(), "f").replace(".", ",")


class ButtonForm(FlaskForm):
    """A button: the CSRF token only."""


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Raison de la modification"), validators=[Optional(), Length(max=2000)],
                           description=_l("Obligatoire une fois la première évaluation soumise."))


class SettingsForm(FlaskForm):
    reviewers_per_answer = IntegerField(_l("Évaluateurs par réponse"), default=3, validators=[
        InputRequired(_REQUIRED), NumberRange(1, 20, _l("Entre 1 et 20."))])
    reviews_close_at = FrenchDateTimeField(
        _l("Clôture des évaluations"), validators=[Optional()],
        description=_l("JJ/MM/AAAA HH:MM, heure de Paris, dans la période de sélection ; vide : la fin de la "
                       "période de sélection."))
    disagreement_threshold = FrenchFloatField(
        _l("Seuil de désaccord"), default=1.5, validators=[InputRequired(_REQUIRED), NumberRange(min=0)],
        description=_l("Écart (note la plus haute moins la plus basse) à partir duquel une réponse est signalée "
                       "pour discussion."))

    def close_at(self) -> datetime | None:
        value = self.reviews_close_at.data
        return value.replace(tzinfo=PARIS) if value else None


class CriterionForm(ReasonForm):
    label = StringField(_l("Intitulé"), validators=[SingleLine(), InputRequired(_REQUIRED), Length(max=200)])
    help_text = TextAreaField(_l("Aide pour les évaluateurs"), validators=[Optional(), Length(max=2000)])
    weight = FrenchFloatField(_l("Poids"), default=1.0, validators=[InputRequired(_REQUIRED)],
                              description=_l("Par exemple 2 ou 1,5."))
    scale_min = IntegerField(_l("Note minimale"), default=0, validators=[InputRequired(_REQUIRED)])
    scale_max = IntegerField(_l("Note maximale"), default=4, validators=[InputRequired(_REQUIRED)])
    level_labels = TextAreaField(_l("Libellés des niveaux"), description=_l(
        "Un par ligne, du plus bas au plus haut."), validators=[InputRequired(_REQUIRED)])

    def data_for_service(self) -> dict[str, Any]:
        return {"label": self.label.data, "help_text": self.help_text.data, "weight": self.weight.data,
                "scale_min": self.scale_min.data, "scale_max": self.scale_max.data,
                "level_labels": [v.strip() for v in (self.level_labels.data or "").splitlines() if v.strip()]}


class MoveCriterionForm(ReasonForm):
    direction = HiddenField(validators=[InputRequired()])


class AddReviewerForm(FlaskForm):
    user_id = SelectField(_l("Membre du comité"), coerce=int, validators=[InputRequired(_REQUIRED)])


class ConflictForm(FlaskForm):
    company_id = SelectField(_l("Entreprise"), coerce=int, validators=[InputRequired(_REQUIRED)])
    reason = TextAreaField(_l("Raison"), validators=[InputRequired(_l("Indiquez la raison du conflit d'intérêts.")),
                                                     Length(max=2000)])


def review_form(criteria: list, recommendations: dict, formdata: Any = None, **kw: Any) -> FlaskForm:
    """A review form with one score (among the criterion's worded levels) and one comment per criterion."""

    class ReviewForm(FlaskForm):
        version = HiddenField()
        recommendation = RadioField(_l("Recommandation"), choices=options(list(recommendations.items())),
                                    validators=[Optional()], validate_choice=False)
        committee_comment = TextAreaField(_l("Commentaire pour le comité"), validators=[Optional(), Length(max=5000)])
        company_comment = TextAreaField(
            _l("Commentaire pouvant être transmis à l'entreprise"), validators=[Optional(), Length(max=5000)],
            description=_l("Sans signature : l'entreprise ne voit jamais qui l'a évaluée ni ses notes."))

    for c in criteria:
        levels = c.level_labels or []
        choices = [(str(v), f"{v} — {levels[v - c.scale_min]}" if v - c.scale_min < len(levels) else str(v))
                   for v in range(c.scale_min, c.scale_max + 1)]
        setattr(ReviewForm, f"score_{c.id}", RadioField(c.label, choices=options(choices), validators=[Optional()],
                                                        description=c.help_text or "", validate_choice=False))
        setattr(ReviewForm, f"comment_{c.id}", TextAreaField(_l("Commentaire"),
                                                            validators=[Optional(), Length(max=5000)]))
    form = ReviewForm(formdata=formdata, **kw) if formdata is not None else ReviewForm(**kw)
    form.criteria = criteria
    return form


def review_data(form: FlaskForm) -> dict[str, Any]:
    scores = {}
    for c in form.criteria:
        raw = form[f"score_{c.id}"].data
        value = int(raw) if raw not in (None, "", "None") and str(raw).lstrip("-").isdigit() else None
        scores[c.id] = (value, form[f"comment_{c.id}"].data)
    return {"scores": scores, "recommendation": form.recommendation.data or None,
            "committee_comment": form.committee_comment.data, "company_comment": form.company_comment.data}


class InterestForm(FlaskForm):
    need_id = HiddenField(validators=[InputRequired()])
    # The version of the organization's interest the form showed (0: none yet): a stale form is refused.
    version = HiddenField()
    level = SelectField(_l("Intérêt de votre organisation"), validators=[InputRequired(_REQUIRED)])
    comment = TextAreaField(_l("Commentaire"), validators=[Optional(), Length(max=2000)])
