"""Forms of the companies area: registering the company, asking to join one, deciding on a request.

The rules that need the database (a SIRET already registered, the department list) live in
services.companies; these forms clean what was typed and say, in French, what cannot be read.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DecimalField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import URL, InputRequired, Length, NumberRange, Optional, Regexp, ValidationError
from wtforms.widgets import TextInput

from forms import SingleLine, options
from forms.admin import FrenchDateField, FrenchIntegerField
from innovation_cycle.services import companies
from innovation_cycle.services.companies import SIZE_LABELS, CompanyData

_REQUIRED = _l("Ce champ est obligatoire.")
_MAX_AMOUNT = Decimal("99999999999999")  # fits Numeric(16, 2)


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _website(value: Any) -> Any:
    """People type "www.exemple.fr"; the address is https://www.exemple.fr."""
    value = _strip(value)
    if value and "://" not in value:
        return "https://" + value
    return value


class FrenchDecimalField(DecimalField):
    """Reads numbers as the French write them: "1 250 000,50" (spaces, non-breaking spaces, a comma).

    A text input, never type="number": Chromium's number input drops the comma of "12,5" and sends 125."""

    widget = TextInput()

    def __init__(self, *args: Any, places: int = 2, **kwargs: Any):
        render_kw = {"inputmode": "decimal", "autocomplete": "off", **(kwargs.pop("render_kw", None) or {})}
        super().__init__(*args, places=places, render_kw=render_kw, **kwargs)
        self.max_places = places

    def process_formdata(self, valuelist: list[str]) -> None:
        if not valuelist or not valuelist[0].strip():
            self.data = None
            return
        raw = valuelist[0]
        for space in (" ", "\u00a0", "\u202f", "'"):
            raw = raw.replace(space, "")
        raw = raw.replace(",", ".")
        try:
            value = Decimal(raw)
        except InvalidOperation:
            self.data = None
            raise ValueError(str(_l("Indiquez un nombre (par exemple 1 250 000 ou 12,5)."))) from None
        if not value.is_finite():
            self.data = None
            raise ValueError(str(_l("Indiquez un nombre (par exemple 1 250 000 ou 12,5).")))
        if -value.as_tuple().exponent > self.max_places:
            self.data = None
            raise ValueError(str(_l("%(num)d décimale(s) au plus.", num=self.max_places)))
        self.data = value

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        if self.data is None:
            return ""
        return format(Decimal(self.data).normalize(), "f").replace(".", ",")


def _siret_valid(_form: Any, field: Any) -> None:
    if field.data and (message := companies.siret_error(field.data)):
        raise ValidationError(message)


def _naf_valid(_form: Any, field: Any) -> None:
    try:
        field.data = companies.normalise_naf(field.data)
    except ValueError:
        raise ValidationError(_l("Le code NAF (APE) s'écrit deux chiffres, un point, deux chiffres et une "
                                 "lettre, par exemple 62.01Z.")) from None


def _department_known(_form: Any, field: Any) -> None:
    if field.data and field.data not in companies.DEPARTMENTS:
        raise ValidationError(_l("Département inconnu : indiquez un code comme 59, 2A ou 974."))


_SIZE_CHOICES = [("", _l("— Choisissez —"))] + [(k, v) for k, v in SIZE_LABELS.items()]


def _amount(label: Any, description: Any) -> FrenchDecimalField:
    return FrenchDecimalField(label, description=description, validators=[
        InputRequired(message=_REQUIRED),
        NumberRange(min=0, max=_MAX_AMOUNT, message=_l("Indiquez un montant positif, en euros."))])


class CompanyForm(FlaskForm):
    siret = StringField(_l("SIRET du siège"), filters=[_strip],
                        description=_l("14 chiffres, sur l'extrait Kbis ou l'annuaire des entreprises."),
                        validators=[SingleLine(),
                                    InputRequired(message=_l("Indiquez le SIRET de l'établissement (14 chiffres).")),
                                    Length(max=30, message=_l("Le SIRET comporte exactement 14 chiffres.")),
                                    _siret_valid])
    name = StringField(_l("Raison sociale"), filters=[_strip], validators=[SingleLine(),
        InputRequired(message=_l("Indiquez la raison sociale de l'entreprise.")),
        Length(max=200, message=_l("200 caractères au plus."))])
    address = TextAreaField(_l("Adresse du siège"), filters=[_strip],
                            description=_l("Numéro, voie, complément."),
                            validators=[InputRequired(message=_l("Indiquez l'adresse du siège.")),
                                        Length(max=500, message=_l("500 caractères au plus."))])
    postal_code = StringField(_l("Code postal"), filters=[_strip], validators=[SingleLine(),
        InputRequired(message=_l("Indiquez le code postal du siège.")),
        Regexp(r"^\d{5}$", message=_l("Le code postal comporte 5 chiffres."))])
    city = StringField(_l("Commune"), filters=[_strip], validators=[SingleLine(),
        InputRequired(message=_l("Indiquez la commune du siège.")),
        Length(max=120, message=_l("120 caractères au plus."))])
    department = StringField(_l("Département"), filters=[lambda v: (v or "").strip().upper() or None],
                             description=_l("Déduit du code postal s'il est laissé vide (59, 2A, 974…)."),
                             validators=[SingleLine(), Optional(), Length(max=3, message=_l(
                                 "Un code de département a 2 ou 3 caractères.")), _department_known])
    website = StringField(_l("Site internet"), filters=[_website], validators=[SingleLine(),
        Optional(), Length(max=255, message=_l("255 caractères au plus.")),
        URL(require_tld=True, message=_l("Adresse de site invalide (exemple : https://www.exemple.fr)."))])
    naf_code = StringField(_l("Code NAF (APE)"), filters=[_strip],
                           description=_l("Format NN.NNL, par exemple 62.01Z."),
                           validators=[SingleLine(),
                                       InputRequired(message=_l("Indiquez le code NAF (APE) de l'activité.")),
                                       _naf_valid])
    created_on = FrenchDateField(_l("Date de création"), validators=[
        InputRequired(message=_l("Indiquez la date de création de l'entreprise."))])
    fiscal_year = FrenchIntegerField(
        _l("Dernier exercice clos (année)"),
        description=_l("Les chiffres ci-dessous sont ceux de cet exercice. Si aucun exercice n'est encore clos, "
                       "indiquez l'année en cours et vos estimations."),
        validators=[InputRequired(message=_l("Indiquez l'année du dernier exercice clos.")),
                    NumberRange(min=1900, max=2999, message=_l("Indiquez une année sur 4 chiffres."))])
    headcount = FrenchDecimalField(
        _l("Effectif (équivalents temps plein)"), places=1,
        description=_l("Effectif moyen annuel en équivalents temps plein, par exemple 12,5."),
        validators=[InputRequired(message=_l("Indiquez l'effectif en équivalents temps plein.")),
                    NumberRange(min=0, max=Decimal("999999999"), message=_l("Indiquez un effectif positif."))])
    turnover = _amount(_l("Chiffre d'affaires (euros)"), _l("Chiffre d'affaires annuel hors taxes, en euros."))
    balance_sheet = _amount(_l("Total du bilan (euros)"), _l("Total de bilan de l'exercice, en euros."))
    declared_size = SelectField(
        _l("Catégorie d'entreprise déclarée"), choices=options(_SIZE_CHOICES),
        description=_l("Au sens du décret n° 2008-1354 ; la catégorie calculée d'après vos chiffres est "
                       "affichée à côté."),
        validators=[InputRequired(message=_l("Choisissez la catégorie de votre entreprise."))])
    young_innovative_company = BooleanField(_l("L'entreprise a le statut de jeune entreprise innovante (JEI)"))

    def data_for_service(self) -> CompanyData:
        return CompanyData(
            siret=self.siret.data, name=self.name.data, address=self.address.data,
            postal_code=self.postal_code.data, city=self.city.data, department=self.department.data,
            website=self.website.data or None, naf_code=self.naf_code.data, created_on=self.created_on.data,
            fiscal_year=self.fiscal_year.data, headcount=self.headcount.data, turnover=self.turnover.data,
            balance_sheet=self.balance_sheet.data, declared_size=self.declared_size.data or None,
            young_innovative_company=bool(self.young_innovative_company.data))

    def fill_from(self, company: Any) -> None:
        org = company.organization
        self.siret.data, self.name.data, self.department.data = org.siret, org.name, org.department
        for name in ("address", "postal_code", "city", "website", "naf_code", "created_on", "fiscal_year",
                     "headcount", "turnover", "balance_sheet", "declared_size", "young_innovative_company"):
            self[name].data = getattr(company, name)


class JoinForm(FlaskForm):
    siret = HiddenField(validators=[InputRequired(message=_l("Indiquez le SIRET de l'entreprise à rejoindre."))])


class DecisionForm(FlaskForm):
    decision = SelectField(choices=options([("approve", _l("Accepter")), ("refuse", _l("Refuser"))]),
                           validators=[InputRequired(message=_l("Choisissez d'accepter ou de refuser."))])


class ButtonForm(FlaskForm):
    """An empty form: a POST button with its CSRF token."""
