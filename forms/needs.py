"""Forms of the needs area: the buyer's need, its submission, the PFRA's qualification, the cycle's themes.

Choices that come from the database (the cycle's themes, the needs a duplicate may be merged into) are
filled by the view; rules that need the database (themes of the right cycle, the collection's window) live
in services.needs.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Email, InputRequired, Length, Optional, Regexp, ValidationError

from forms import SingleLine, options
from forms.admin import FrenchDateField
from innovation_cycle import clock
from innovation_cycle.params import parse_id
from innovation_cycle.services.needs import (
    CATEGORY_LABELS,
    FIELD_LABELS,
    HORIZON_LABELS,
    parse_cpv_codes,
)
from workflows.need import QUALIFIER_TRIGGERS, STATES

_REQUIRED = _l("Ce champ est obligatoire.")
_EXPIRED = _l("Ce formulaire a expiré : rechargez la page avant de recommencer.")
TEXT_MAX = 10_000
MAX_VALUE = Decimal("999999999999.99")
TOKEN_PATTERN = r"^[0-9a-f]{32}$"


def _text(name: str, hint: Any = None, required: bool = False, max_length: int = TEXT_MAX) -> TextAreaField:
    validators: list[Any] = [InputRequired(message=_REQUIRED)] if required else [Optional()]
    validators.append(Length(max=max_length, message=_l("%(max)d caractères au plus.", max=max_length)))
    return TextAreaField(FIELD_LABELS[name], validators=validators, description=hint, render_kw={"rows": 5})


class EuroAmountField(StringField):
    """An amount in euros as the French type it: « 150 000 », « 12 500,50 », « 80 000 € » (a text input)."""

    def __init__(self, *args: Any, **kwargs: Any):
        render_kw = {"inputmode": "decimal", **(kwargs.pop("render_kw", None) or {})}
        super().__init__(*args, render_kw=render_kw, **kwargs)

    def process_formdata(self, valuelist: list[str]) -> None:
        self.raw = valuelist[0] if valuelist else ""
        text = re.sub(r"[\s\u00a0\u202f€]", "", self.raw or "").replace("EUR", "").replace("HT", "")
        if not text:
            self.data = None
            return
        if re.fullmatch(r"\d{1,3}(\.\d{3})+(,\d{1,2})?", text):  # « 1.500.000,00 »
            text = text.replace(".", "")
        text = text.replace(",", ".")
        if not re.fullmatch(r"-?\d+(\.\d+)?", text):  # no exponent, no « NaN »: a sum of money
            self.data = None
            raise ValueError(str(_l("Indiquez un montant en euros, par exemple 150 000 ou 12 500,50.")))
        try:
            self.data = Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern already ruled it out
            self.data = None
            raise ValueError(str(_l("Indiquez un montant en euros, par exemple 150 000 ou 12 500,50."))) from None

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        if self.data is None:
            return ""
        whole, _, cents = f"{self.data:.2f}".partition(".")
        grouped = f"{int(whole):,}".replace(",", " ")
        return grouped if cents == "00" else f"{grouped},{cents}"

    def pre_validate(self, form: Any) -> None:
        if self.data is None:
            return
        if self.data < 0:
            raise ValidationError(_l("Le montant ne peut pas être négatif."))
        if self.data > MAX_VALUE:
            raise ValidationError(_l("Ce montant est trop élevé."))
        if self.data != self.data.quantize(Decimal("0.01")):
            raise ValidationError(_l("Indiquez au plus deux chiffres après la virgule."))


class CpvCodesField(StringField):
    """CPV codes typed in one field; the list is kept in `data`, the errors are the parser's."""

    def process_formdata(self, valuelist: list[str]) -> None:
        self.typed = valuelist[0] if valuelist else ""
        self.data, self.parse_errors = parse_cpv_codes(self.typed)

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return ", ".join(self.data or [])

    def pre_validate(self, form: Any) -> None:
        errors = getattr(self, "parse_errors", [])
        if errors:
            self.errors.extend(errors[1:])
            raise ValidationError(errors[0])


class NeedForm(FlaskForm):
    # One-time token of this form: a double submission creates one need.
    form_token = HiddenField(validators=[InputRequired(message=_EXPIRED), Regexp(TOKEN_PATTERN, message=_EXPIRED)])

    title = StringField(FIELD_LABELS["title"], validators=[SingleLine(),
        InputRequired(message=_l("Donnez un intitulé au besoin.")),
        Length(max=200, message=_l("L'intitulé ne doit pas dépasser 200 caractères."))],
        description=_l("Une phrase qui dit le problème, pas la solution : « Réduire le temps d'attente à "
                       "l'accueil des usagers », plutôt que « Acheter une borne »."))
    problem = _text("problem", _l("Le besoin fonctionnel, pas un produit : ce qui ne va pas aujourd'hui, pour qui, "
                                  "et ce que cela coûte."), required=True)
    context = _text("context", _l("L'organisation, les usagers, l'existant et ce qui a déjà été essayé."))
    expected_outcomes = _text("expected_outcomes", _l("Ce qui sera mesurable une fois le problème résolu."))
    constraint_data_protection = _text("constraint_data_protection",
                                       _l("Données personnelles traitées, exigences du RGPD."))
    constraint_security = _text("constraint_security", _l("Homologation, niveau de sécurité attendu."))
    constraint_hosting = _text("constraint_hosting", _l("Hébergement en France ou dans l'Union européenne, "
                                                        "qualification SecNumCloud, hébergement sur site…"))
    constraint_accessibility = _text("constraint_accessibility",
                                     _l("Conformité au RGAA, publics en situation de handicap."))
    constraint_interoperability = _text("constraint_interoperability",
                                        _l("Logiciels et formats existants avec lesquels la solution doit "
                                           "fonctionner."))
    environmental_social = _text("environmental_social",
                                 _l("Sobriété, réemploi, insertion, clauses sociales et environnementales."))
    estimated_value = EuroAmountField(FIELD_LABELS["estimated_value"], validators=[Optional()],
                                      description=_l("Une estimation suffit, par exemple 80 000."))
    procurement_category = SelectField(FIELD_LABELS["procurement_category"],
                                       choices=options([("", _l("— Choisir —")), *CATEGORY_LABELS.items()]),
                                       validators=[Optional()])
    cpv_codes = CpvCodesField(FIELD_LABELS["cpv_codes"], description=_l(
        "Facultatif. 8 chiffres, suivis le cas échéant du chiffre de contrôle, séparés par des virgules : "
        "72000000-5, 48000000-8."))
    purchase_horizon = SelectField(FIELD_LABELS["purchase_horizon"],
                                   choices=options([("", _l("— Choisir —")), *HORIZON_LABELS.items()]),
                                   validators=[Optional()])
    expected_consultation_on = FrenchDateField(FIELD_LABELS["expected_consultation_on"], validators=[Optional()],
                                               description=_l("La date à laquelle vous pensez consulter les "
                                                              "entreprises."))
    theme_ids = SelectMultipleField(FIELD_LABELS["theme_ids"], coerce=int, validators=[Optional()])
    scope = _text("scope", _l("Nombre de sites, d'utilisateurs, quantités estimées."))
    open_to_experimentation = BooleanField(FIELD_LABELS["open_to_experimentation"])
    non_technological_welcome = BooleanField(FIELD_LABELS["non_technological_welcome"], default=True)
    confidential = BooleanField(FIELD_LABELS["confidential"])
    contact_name = StringField(FIELD_LABELS["contact_name"], validators=[SingleLine(),
        Optional(), Length(max=200, message=_l("200 caractères au plus."))])
    contact_email = EmailField(FIELD_LABELS["contact_email"], validators=[
        Optional(), Length(max=254, message=_l("254 caractères au plus.")),
        Email(message=_l("Adresse électronique invalide (exemple : prenom.nom@exemple.fr)."),
              check_deliverability=False)])
    contact_phone = StringField(FIELD_LABELS["contact_phone"], validators=[SingleLine(),
        Optional(), Regexp(r"^\+?[0-9 .()-]{6,31}$",
                           message=_l("Numéro de téléphone invalide (exemple : 03 20 00 00 00)."))])

    # PDF and office documents, checked by their content when saved (services.uploads).
    attachments = MultipleFileField(_l("Pièces jointes"))

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if not self.form_token.data:
            self.form_token.data = secrets.token_hex(16)

    def set_themes(self, themes: list[Any]) -> None:
        self.theme_ids.choices = options([(t.id, t.name) for t in themes])

    def validate_expected_consultation_on(self, field: Any) -> None:
        if field.data is None:
            return
        today = clock.to_paris(clock.now()).date()
        if field.data < today:
            raise ValidationError(_l("La date de consultation ne peut pas être passée."))
        if field.data > today + timedelta(days=366 * 5):
            raise ValidationError(_l("La date de consultation doit être dans les cinq ans."))

    def data_for_service(self, with_themes: bool = True) -> dict[str, Any]:
        data = {name: self[name].data for name in FIELD_LABELS if name != "theme_ids"}
        data["procurement_category"] = data["procurement_category"] or None
        data["purchase_horizon"] = data["purchase_horizon"] or None
        if with_themes:
            data["theme_ids"] = list(self.theme_ids.data or [])
        return data

    def fill_from(self, need: Any) -> None:
        for name in FIELD_LABELS:
            if name == "theme_ids":
                self.theme_ids.data = [t.id for t in need.themes]
            elif name in ("procurement_category", "purchase_horizon"):
                self[name].data = getattr(need, name) or ""
            else:
                self[name].data = getattr(need, name)


class MoveForm(FlaskForm):
    """A buyer's move (submit) from the state the page showed."""

    expected_state = HiddenField(validators=[InputRequired()])

    def validate_expected_state(self, field: Any) -> None:
        if field.data not in STATES:
            raise ValidationError(_l("État inconnu."))


class QualifyForm(FlaskForm):
    """The PFRA agent's (or admin's) decision on a submitted need."""

    expected_state = HiddenField(validators=[InputRequired()])
    comment = TextAreaField(_l("Commentaire pour l'acheteur"), validators=[
        Optional(), Length(max=5000, message=_l("5 000 caractères au plus."))], render_kw={"rows": 4})

    def validate_expected_state(self, field: Any) -> None:
        if field.data not in STATES:
            raise ValidationError(_l("État inconnu."))


class ReturnForm(QualifyForm):
    comment = TextAreaField(_l("Ce que l'acheteur doit modifier"), validators=[
        InputRequired(message=_l("Indiquez à l'acheteur ce qu'il doit modifier : ce commentaire lui est "
                                 "transmis.")),
        Length(max=5000, message=_l("5 000 caractères au plus."))], render_kw={"rows": 4})


class RejectForm(QualifyForm):
    comment = TextAreaField(_l("Raison du rejet"), validators=[
        InputRequired(message=_l("Indiquez la raison du rejet : elle est transmise à l'acheteur.")),
        Length(max=5000, message=_l("5 000 caractères au plus."))], render_kw={"rows": 4})


UNKNOWN_NEED = -1


def _need_id(value: Any) -> int:
    """The merge target's id; an id no database row can have (letters, "²", past 2^31) is UNKNOWN_NEED, which
    `validate_target_id` refuses in French (int() would raise on some, and overflow the query on others)."""
    if value in (None, ""):
        return 0
    parsed = parse_id(value)
    return UNKNOWN_NEED if parsed is None else parsed


class MergeForm(QualifyForm):
    target_id = SelectField(_l("Besoin qui absorbe celui-ci"), coerce=_need_id, validators=[
        InputRequired(message=_l("Choisissez le besoin qui absorbe celui-ci."))],
        validate_choice=False)  # the service says why a need cannot absorb this one
    comment = TextAreaField(_l("Commentaire pour l'acheteur (facultatif)"), validators=[
        Optional(), Length(max=5000, message=_l("5 000 caractères au plus."))], render_kw={"rows": 3})


    def validate_target_id(self, field: Any) -> None:
        if field.data == UNKNOWN_NEED:
            raise ValidationError(_l("Ce besoin n'existe pas : choisissez dans la liste le besoin qui absorbe "
                                     "celui-ci."))
        if not field.data:
            raise ValidationError(_l("Choisissez le besoin qui absorbe celui-ci."))


QUALIFY_FORMS: dict[str, type[QualifyForm]] = {
    "accept": QualifyForm, "return_for_changes": ReturnForm, "reject": RejectForm, "merge": MergeForm}
assert set(QUALIFY_FORMS) == set(QUALIFIER_TRIGGERS)


class ThemeForm(FlaskForm):
    name = StringField(_l("Nom du thème"), validators=[SingleLine(),
        InputRequired(message=_l("Indiquez le nom du thème.")),
        Length(max=120, message=_l("120 caractères au plus."))])


class DeleteForm(FlaskForm):
    """A confirmation button: carries only the CSRF token."""


class FilterForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField(_l("Rechercher"), validators=[SingleLine(), Optional(), Length(max=200)])
    status = SelectField(_l("État"), validators=[Optional()])
    cycle_id = SelectField(_l("Cycle"), validators=[Optional()])
