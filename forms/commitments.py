"""Forms of the census (issue 8): a commitment, its moves, the contract's essential data, UGAP's clients, the
census's phases. Choices that come from the database are filled by the view; the rules live in
services.commitments (the amounts are parsed there, the French way)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from forms import SingleLine, options
from forms.admin import FrenchDateField, FrenchDateTimeField, FrenchIntegerField
from innovation_cycle.models.commitments import PROCEDURES
from innovation_cycle.services.procedures import LABELS as PROCEDURE_LABELS

_REQUIRED = _l("Ce champ est obligatoire.")


def procedure_choices(blank: str) -> list[tuple[str, str]]:
    return [("", blank)] + [(p, str(PROCEDURE_LABELS[p])) for p in PROCEDURES]


class CommitmentForm(FlaskForm):
    application_id = SelectField(_l("Solution retenue"), coerce=int, validators=[InputRequired(message=_REQUIRED)])
    need_id = SelectField(_l("Besoin auquel elle répond"), coerce=int, validators=[Optional()])
    channel = SelectField(_l("Canal d'achat"), validators=[InputRequired(message=_REQUIRED)])
    buyer_organization_id = SelectField(_l("Organisation acheteuse"), coerce=int,
                                        validators=[InputRequired(message=_REQUIRED)])
    amount = StringField(_l("Montant estimé (€ HT)"), validators=[SingleLine(), Optional(), Length(max=40)],
                         description=_l("Par exemple « 12 500,50 »."))
    quantity = FrenchIntegerField(_l("Quantité"), validators=[Optional()])
    expected_on = FrenchDateField(_l("Date prévue de l'achat"), validators=[Optional()])
    procedure = SelectField(_l("Procédure choisie"), choices=options(procedure_choices(str(_l("— À décider —")))),
                            validators=[Optional()])
    procedure_note = TextAreaField(_l("Pourquoi une autre procédure que celle conseillée"),
                                   validators=[Optional(), Length(max=2000)])
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=5000)])
    version = HiddenField()


class MoveForm(FlaskForm):
    trigger = HiddenField(validators=[InputRequired()])
    expected_state = HiddenField(validators=[InputRequired()])
    reason = TextAreaField(_l("Motif de l'abandon"), validators=[Optional(), Length(max=2000)])


class ContractForm(FlaskForm):
    expected_state = HiddenField(validators=[InputRequired()])
    contract_identifier = StringField(_l("Identifiant du marché"),
                                      validators=[SingleLine(), Optional(), Length(max=64)])
    contract_notified_on = FrenchDateField(_l("Date de notification"), validators=[Optional()])
    contract_amount = StringField(_l("Montant du marché (€ HT)"), validators=[SingleLine(), Optional(), Length(max=40)])
    contract_duration_months = FrenchIntegerField(_l("Durée (mois)"), validators=[Optional()])
    contract_cpv = StringField(_l("Code CPV"), validators=[SingleLine(), Optional(), Length(max=12)])
    contract_place = StringField(_l("Lieu d'exécution"), validators=[SingleLine(), Optional(), Length(max=120)])
    contract_procedure = SelectField(_l("Procédure"), choices=options(procedure_choices("—")), validators=[Optional()])
    holder_siret = StringField(_l("SIRET du titulaire"), validators=[SingleLine(), Optional(), Length(max=20)])


class ClientForm(FlaskForm):
    name = StringField(_l("Nom de l'organisation cliente"), validators=[SingleLine(), Optional(), Length(max=200)])
    siret = StringField(_l("SIRET"), validators=[SingleLine(), Optional(), Length(max=20)])
    department = StringField(_l("Département"), validators=[SingleLine(), Optional(), Length(max=3)])


class PhasesForm(FlaskForm):
    ugap_phase_opens_at = FrenchDateTimeField(_l("Début de la phase UGAP"),
                                              validators=[InputRequired(message=_REQUIRED)])
    follow_up_delay_days = FrenchIntegerField(_l("Relance du recenseur, en jours après la date prévue"),
                                              validators=[InputRequired(message=_REQUIRED)])


class ButtonForm(FlaskForm):
    """A POST button with its CSRF token."""
