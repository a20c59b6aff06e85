"""The secretariat's procurement reference data (issue 8): the threshold rows the procedure advice applies,
and the PFRA's purchases per year (the 2% objective's denominator).

Amounts are typed the French way in a text input ("100 000", "3 150 000,00 €") and read by the service, which
also says in French what is wrong with a kind, a period or a source, next to the field."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import Length, NumberRange, Optional

from forms import SingleLine, options
from forms.admin import FrenchDateField, FrenchIntegerField
from innovation_cycle.services.procedures import KIND_LABELS

_SOURCE_LENGTH = Length(max=2000, message=_l("2 000 caractères au plus."))


class ThresholdForm(FlaskForm):
    # The service refuses an unknown kind in French (WTForms' own message is English).
    kind = SelectField(_l("Règle"), choices=options([("", _l("Choisissez une règle")),
                                                     *((k, v) for k, v in KIND_LABELS.items())]),
                       validate_choice=False)
    amount = StringField(_l("Montant du seuil (€ HT)"), description=_l("Par exemple « 100 000 »."),
                         validators=[SingleLine(), Length(max=40, message=_l("40 caractères au plus."))],
                         render_kw={"inputmode": "decimal", "autocomplete": "off"})
    valid_from = FrenchDateField(_l("En vigueur à partir du"), validators=[Optional()])
    valid_to = FrenchDateField(_l("En vigueur jusqu'au (inclus)"), validators=[Optional()],
                               description=_l("Laissez vide tant que le seuil est en vigueur. Format attendu : "
                                              "JJ/MM/AAAA."))
    legal_source = TextAreaField(_l("Source juridique"), validators=[Optional(), _SOURCE_LENGTH],
                                 description=_l("Le texte qui fixe ce seuil et sa date (décret, règlement, "
                                                "article du code)."), render_kw={"rows": 3})

    def values(self) -> dict[str, Any]:
        return {"kind": self.kind.data or "", "amount": self.amount.data or "", "valid_from": self.valid_from.data,
                "valid_to": self.valid_to.data, "legal_source": self.legal_source.data or ""}


class BaselineForm(FlaskForm):
    year = FrenchIntegerField(_l("Année"), validators=[Optional(), NumberRange(
        min=0, max=9999, message=_l("Indiquez une année sur quatre chiffres."))], render_kw={"inputmode": "numeric"})
    amount = StringField(_l("Achats de la PFRA dans l'année (€ HT)"),
                         description=_l("Le dénominateur de l'objectif de 2 % d'achats innovants ; par exemple "
                                        "« 3 150 000 »."),
                         validators=[SingleLine(), Length(max=40, message=_l("40 caractères au plus."))],
                         render_kw={"inputmode": "decimal", "autocomplete": "off"})
    source = TextAreaField(_l("Source"), validators=[Optional(), _SOURCE_LENGTH],
                           description=_l("Le document d'où vient ce montant ; la page publique du bilan le cite."),
                           render_kw={"rows": 3})
