"""Forms of the secretariat's directory: conventions, members, organizations, users, filters and the clock.

Choices that come from the database (organizations, roles' labels) are filled by the view; the rules that
need the database (unique SIRET, duplicate membership, an admin's own account) live in services.directory.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.fields import DateTimeLocalField
from wtforms.validators import Email, InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import TextInput

from forms import SingleLine, options
from innovation_cycle.models import Tier
from innovation_cycle.params import MAX_ID
from innovation_cycle.services.directory import KIND_LABELS, TIER_LABELS

_REQUIRED = _l("Ce champ est obligatoire.")
_BAD_DATE = _l("Date invalide : utilisez le format JJ/MM/AAAA.")
_BAD_DATETIME = _l("Date et heure invalides (format attendu : JJ/MM/AAAA HH:MM).")
_BAD_NUMBER = _l("Indiquez un nombre entier.")


def _optional_int(value: Any) -> int | None:
    """Select fields whose first choice is "none" send an empty string."""
    if value in (None, "", "None"):
        return None
    return int(value)


class _FrenchParseError:
    """Mixin: a field that cannot read what was typed says so in French (and in our words)."""

    bad_value_message: Any = ""

    def process_formdata(self, valuelist: list[str]) -> None:
        try:
            super().process_formdata(valuelist)  # type: ignore[misc]
        except ValueError:
            self.data = None
            raise ValueError(str(self.bad_value_message)) from None


# Dates are typed the French way in a text input: a browser's date widget speaks the browser's language
# (« mm/dd/yyyy » in an English Chromium). ISO forms are still read, for scripts and older bookmarks.
FRENCH_DATE_FORMATS = ["%d/%m/%Y", "%Y-%m-%d"]
FRENCH_DATETIME_FORMATS = ["%d/%m/%Y %H:%M", "%d/%m/%Y %Hh%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]


class FrenchDateField(_FrenchParseError, DateField):
    """JJ/MM/AAAA in a text input, with the expected format as the default hint."""

    bad_value_message = _BAD_DATE
    widget = TextInput()

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("format", FRENCH_DATE_FORMATS)
        kwargs.setdefault("description", _l("Format attendu : JJ/MM/AAAA, par exemple 15/09/2017."))
        render_kw = {"inputmode": "numeric", "autocomplete": "off", **(kwargs.pop("render_kw", None) or {})}
        super().__init__(*args, render_kw=render_kw, **kwargs)


class FrenchDateTimeField(_FrenchParseError, DateTimeLocalField):
    """JJ/MM/AAAA HH:MM (Paris time) in a text input."""

    bad_value_message = _BAD_DATETIME
    widget = TextInput()

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs["format"] = FRENCH_DATETIME_FORMATS
        kwargs.setdefault("description", _l("Format attendu : JJ/MM/AAAA HH:MM, par exemple 03/04/2017 09:00."))
        render_kw = {"autocomplete": "off", **(kwargs.pop("render_kw", None) or {})}
        render_kw.pop("step", None)
        super().__init__(*args, render_kw=render_kw, **kwargs)


class FrenchIntegerField(_FrenchParseError, IntegerField):
    bad_value_message = _BAD_NUMBER


class MultiCheckboxField(SelectMultipleField):
    """Several choices shown as checkboxes (the forms macro renders SelectMultipleField so)."""

    def pre_validate(self, form: Any) -> None:
        known = {str(value) for value, *_ in self.choices}
        if any(str(value) not in known for value in self.data or []):
            raise ValidationError(_l("Choix inconnu."))


class ButtonForm(FlaskForm):
    """An empty form: a POST button with its CSRF token."""


# --- conventions ---------------------------------------------------------------------------------------


class ConventionForm(FlaskForm):
    name = StringField(_l("Nom de la convention"), validators=[SingleLine(),
        InputRequired(message=_REQUIRED), Length(max=200, message=_l("200 caractères au plus."))])
    region = StringField(_l("Région"), default="Hauts-de-France", validators=[SingleLine(),
        InputRequired(message=_REQUIRED), Length(max=100, message=_l("100 caractères au plus."))])
    signed_on = FrenchDateField(_l("Signée le"), validators=[InputRequired(message=_REQUIRED)])
    starts_on = FrenchDateField(_l("Début"), validators=[InputRequired(message=_REQUIRED)])
    ends_on = FrenchDateField(_l("Fin"), description=_l("Trois ans au plus après le début."),
                              validators=[InputRequired(message=_REQUIRED)])

    def values(self) -> dict[str, Any]:
        return {name: self[name].data for name in ("name", "region", "signed_on", "starts_on", "ends_on")}


_TIER_CHOICES = [(t.value, TIER_LABELS[t]) for t in Tier]


class MembershipAddForm(FlaskForm):
    organization_id = SelectField(_l("Organisation"), coerce=_optional_int,
                                  validators=[InputRequired(message=_l("Choisissez une organisation."))])
    tier = SelectField(_l("Rang"), choices=options(_TIER_CHOICES), default=Tier.ASSOCIATED_MEMBER.value,
                       validators=[InputRequired(message=_REQUIRED)])
    on_committee = BooleanField(_l("Membre du comité de pilotage"))


class MembershipEditForm(FlaskForm):
    tier = SelectField(_l("Rang"), choices=options(_TIER_CHOICES), validators=[InputRequired(message=_REQUIRED)])
    on_committee = BooleanField(_l("Membre du comité de pilotage"))


# --- organizations -------------------------------------------------------------------------------------


_KIND_CHOICES = [(k.value, label) for k, label in KIND_LABELS.items()]


class OrganizationForm(FlaskForm):
    name = StringField(_l("Nom"), validators=[SingleLine(),
        InputRequired(message=_REQUIRED), Length(max=200, message=_l("200 caractères au plus."))])
    kind = SelectField(_l("Type d'organisation"), choices=options(_KIND_CHOICES),
                       validators=[InputRequired(message=_REQUIRED)])
    siren = StringField(_l("SIREN"), description=_l("9 chiffres ; déduit du SIRET s'il est vide."),
                        validators=[SingleLine(),
                                    Optional(), Length(max=20, message=_l("Le SIREN comporte 9 chiffres."))])
    siret = StringField(_l("SIRET"), description=_l("14 chiffres, le SIRET de l'établissement."),
                        validators=[SingleLine(),
                                    Optional(), Length(max=30, message=_l("Le SIRET comporte 14 chiffres."))])
    department = StringField(_l("Département"), description=_l("Code du département, par exemple 59, 2A ou 974."),
                             validators=[SingleLine(), Optional(), Length(max=3, message=_l(
                                 "Un code de département a 2 ou 3 caractères."))])

    def values(self) -> dict[str, Any]:
        return {name: self[name].data for name in ("name", "kind", "siren", "siret", "department")}


class OrganizationFilterForm(FlaskForm):
    class Meta:
        csrf = False

    kind = SelectField(_l("Type"), choices=options([("", _l("Tous"))] + _KIND_CHOICES), validators=[Optional()])
    department = StringField(_l("Département"), validators=[SingleLine(), Optional(), Length(max=3)])
    q = StringField(_l("Nom, SIREN ou SIRET"), validators=[SingleLine(), Optional(), Length(max=200)])


# --- users ---------------------------------------------------------------------------------------------


def _name_field() -> StringField:
    return StringField(_l("Nom et prénom"), validators=[SingleLine(),
        InputRequired(message=_REQUIRED), Length(max=200, message=_l("200 caractères au plus."))])


def _organization_field() -> SelectField:
    return SelectField(_l("Organisation"), coerce=_optional_int, validators=[Optional()])


class InviteForm(FlaskForm):
    email = EmailField(_l("Adresse électronique"), validators=[
        InputRequired(message=_REQUIRED),
        Length(max=254, message=_l("254 caractères au plus.")),
        Email(message=_l("Adresse électronique invalide (exemple : prenom.nom@domaine.fr)."),
              check_deliverability=False)])
    name = _name_field()
    organization_id = _organization_field()
    roles = MultiCheckboxField(_l("Rôles"))


class UserEditForm(FlaskForm):
    name = _name_field()
    organization_id = _organization_field()
    roles = MultiCheckboxField(_l("Rôles"))
    active = BooleanField(_l("Compte actif"))


class UserFilterForm(FlaskForm):
    class Meta:
        csrf = False

    role = SelectField(_l("Rôle"), validators=[Optional()])
    organization_id = SelectField(_l("Organisation"), coerce=_optional_int, validators=[Optional()])
    active = SelectField(_l("État"), choices=options([("", _l("Tous")), ("1", _l("Actifs")), ("0", _l("Désactivés"))]),
                         validators=[Optional()])
    q = StringField(_l("Nom ou adresse électronique"), validators=[SingleLine(), Optional(), Length(max=200)])


# --- audit trail (the outbox's filters are in forms.notifications) ------------------------------------


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False

    action = SelectField(_l("Action"), validate_choice=False, validators=[Optional()])
    object_type = SelectField(_l("Type d'objet"), validate_choice=False, validators=[Optional()])
    object_id = FrenchIntegerField(_l("Identifiant de l'objet"), validators=[
        Optional(), NumberRange(min=1, max=MAX_ID, message=_l("Un identifiant est un nombre positif."))])
    actor = StringField(_l("Auteur (adresse électronique)"), validators=[SingleLine(), Optional(), Length(max=254)])
    since = FrenchDateField(_l("Du"), validators=[Optional()])
    until = FrenchDateField(_l("Au"), validators=[Optional()])

    def validate_until(self, field: Any) -> None:
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError(_l("La date de fin doit être postérieure à la date de début."))


# --- the demo clock ------------------------------------------------------------------------------------


class ClockAdvanceForm(FlaskForm):
    days = FrenchIntegerField(_l("Jours"), default=0, validators=[
        Optional(), NumberRange(min=0, max=3650, message=_l("Entre 0 et 3 650 jours."))])
    hours = FrenchIntegerField(_l("Heures"), default=0, validators=[
        Optional(), NumberRange(min=0, max=1000, message=_l("Entre 0 et 1 000 heures."))])


class ClockTargetForm(FlaskForm):
    target = FrenchDateTimeField(_l("Nouvelle date simulée (heure de Paris)"), format="%Y-%m-%dT%H:%M",
                                 validators=[InputRequired(message=_REQUIRED)], render_kw={"step": 60})


def filter_value(field: Any) -> Any:
    """A filter's value, or None when it is empty or was refused (the list then ignores it)."""
    return None if field.errors or field.data in ("", None) else field.data
