"""Forms of the answers area: the answer to the AMI, the withdrawal, the eligibility decision.

Saving a draft asks only for the solution's name; what a submitted answer must hold is checked by
services.applications (the same rule for the form's "save and submit" and for the submit button).
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, Field, HiddenField, MultipleFileField, SelectField, StringField, TextAreaField
from wtforms.utils import unset_value
from wtforms.validators import InputRequired, Length, Optional

from forms import LinkedError, SingleLine, options
from forms.admin import MultiCheckboxField
from innovation_cycle.params import parse_id, parse_int
from innovation_cycle.services.applications import (
    INNOVATION_KIND_LABELS,
    MARKET_STATUS_LABELS,
    TRL_LABELS,
    TRL_NOT_APPLICABLE,
    ApplicationData,
)

FIT_MAX = 1000
_UNSET = ("", _l("— À préciser —"))


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _text(label: Any, description: Any = None, max_length: int = 20000) -> TextAreaField:
    return TextAreaField(label, description=description, filters=[_strip], validators=[
        Optional(), Length(max=max_length, message=_l("%(max)d caractères au plus.", max=max_length))])


class TargetsField(Field):
    """The targeted needs: one checkbox per need, named like the field (its value is the need's id), and a
    text area `fit-<id>` next to each for the sentence on the fit. Fits typed for an unticked need are kept
    for the page, not saved."""

    def __init__(self, label: Any = None, validators: Any = None, **kwargs: Any):
        super().__init__(label, validators, **kwargs)
        self.fits: dict[int, str] = {}
        self.fit_errors: dict[int, list[str]] = {}

    def process(self, formdata: Any, data: Any = unset_value, extra_filters: Any = None) -> None:
        self.process_errors = []
        self.fit_errors = {}
        if formdata is None:
            self.data = list(data) if data is not unset_value and data is not None else []
            self.fits = dict(self.data)
            return
        self.raw_data = formdata.getlist(self.name)
        self.fits = {}
        for key in formdata:
            if key.startswith("fit-") and (need_id := parse_id(key[4:])) is not None:
                self.fits[need_id] = (formdata.get(key) or "").strip()
        selected: list[tuple[int, str]] = []
        for raw in self.raw_data:
            need_id = parse_id(raw)  # an id the database can hold, or an unknown choice
            if need_id is None:
                self.process_errors.append(_l("Choix de besoin inconnu."))
                continue
            if need_id not in dict(selected):
                selected.append((need_id, self.fits.get(need_id, "")))
        self.data = selected

    def post_validate(self, form: Any, validation_stopped: bool) -> None:
        for need_id, fit in self.data:
            if len(fit) > FIT_MAX:
                self.fit_errors.setdefault(need_id, []).append(str(_l("%(max)d caractères au plus.", max=FIT_MAX)))
        if self.fit_errors:
            self.errors = [*self.errors, str(_l("Une phrase sur l'adéquation dépasse %(max)d caractères.",
                                                max=FIT_MAX))]

    @property
    def selected_ids(self) -> set[int]:
        return {need_id for need_id, _fit in self.data}


_TRL_CHOICES = [_UNSET] + [(str(level), _l("TRL %(level)s — %(label)s", level=level, label=label))
                           for level, label in TRL_LABELS.items()] \
    + [(TRL_NOT_APPLICABLE, _l("Non applicable : innovation non technologique"))]


class ApplicationForm(FlaskForm):
    client_token = HiddenField()
    solution_name = StringField(_l("Nom de la solution"), filters=[_strip], validators=[SingleLine(),
        InputRequired(message=_l("Indiquez le nom de la solution.")),
        Length(max=200, message=_l("200 caractères au plus."))])
    summary = _text(_l("Résumé"), _l("En quelques phrases (600 caractères au plus). Ce résumé sera publié si la "
                                     "solution est retenue."), max_length=600)
    description = _text(_l("Description de la solution"), _l("Ce qu'elle fait, pour qui, comment elle se déploie."))
    innovation_kinds = MultiCheckboxField(
        _l("Nature de l'innovation"), choices=options(list(INNOVATION_KIND_LABELS.items())),
        description=_l("Au sens de l'article L2172-3 du Code de la commande publique ; plusieurs choix possibles."))
    novelty = _text(_l("Ce qui est nouveau"), _l("Ce que la solution apporte de nouveau ou de sensiblement "
                                                 "amélioré par rapport à ce qui existe."))
    evidence = _text(_l("Preuves du caractère innovant"), _l("Brevets, labels, prix, aides à l'innovation "
                                                             "(Bpifrance, i-Nov…), références clients."))
    trl = SelectField(_l("Maturité technologique (TRL)"), choices=options(_TRL_CHOICES), validators=[Optional()],
                      description=_l("Échelle de 1 (principes observés) à 9 (système éprouvé en conditions "
                                     "réelles). Pour une innovation non technologique, choisissez « Non "
                                     "applicable » et décrivez la maturité par le stade de commercialisation "
                                     "et les références."))
    market_status = SelectField(_l("Stade de commercialisation"),
                                choices=options([_UNSET] + list(MARKET_STATUS_LABELS.items())), validators=[Optional()])
    public_references = _text(_l("Références publiques"), _l("Acheteurs publics déjà équipés, expérimentations "
                                                             "menées avec des collectivités ou services de "
                                                             "l'État."))
    pricing_model = _text(_l("Modèle de prix"), _l("Licence, abonnement, achat, prix à l'usage…"))
    indicative_price = StringField(_l("Prix indicatif (euros HT)"), filters=[_strip],
                                   description=_l("Un ordre de grandeur, par exemple « 12 000 € HT par an »."),
                                   validators=[SingleLine(),
                                               Optional(), Length(max=200, message=_l("200 caractères au plus."))])
    team = _text(_l("Équipe"), _l("Les personnes qui porteront le projet et leurs compétences."))
    intellectual_property = _text(_l("Propriété intellectuelle et licence"),
                                  _l("Qui détient les droits ; la licence proposée à l'acheteur (libre ou non)."))
    hosting_security = _text(_l("Hébergement et sécurité des données"),
                             _l("Lieu d'hébergement, certifications (SecNumCloud, HDS, ISO 27001), RGPD."))
    accessibility = _text(_l("Accessibilité"), _l("Conformité au RGAA pour un service numérique, accessibilité "
                                                  "physique sinon."))
    impact = _text(_l("Impact environnemental et social"),
                   _l("Sobriété, réemploi, emploi local, insertion, inclusion…"))
    targets = TargetsField(_l("Besoins visés"))
    attachments = MultipleFileField(_l("Pièces jointes (PDF)"))
    sworn_statement = BooleanField(_l(
        "Je déclare sur l'honneur que les informations de cette réponse sont exactes et que je suis habilité(e) "
        "à représenter l'entreprise."))
    data_consent = BooleanField(_l(
        "J'accepte que cette réponse soit communiquée au secrétariat de l'ORCP, à la PFRA, à l'UGAP et aux "
        "membres du comité de pilotage pour son examen, et que son résumé soit publié si la solution est "
        "retenue."))

    def fill_from(self, application: Any) -> None:
        for name in ("solution_name", "summary", "description", "innovation_kinds", "novelty", "evidence",
                     "public_references", "pricing_model", "indicative_price", "team", "intellectual_property",
                     "hosting_security", "accessibility", "impact", "sworn_statement", "data_consent"):
            self[name].data = getattr(application, name)
        self.trl.data = TRL_NOT_APPLICABLE if application.trl_not_applicable else (
            str(application.trl) if application.trl else "")
        self.market_status.data = application.market_status or ""
        self.targets.data = [(t.need_id, t.fit) for t in application.targets]
        self.targets.fits = dict(self.targets.data)

    def data_for_service(self) -> ApplicationData:
        trl = self.trl.data or ""
        return ApplicationData(
            solution_name=self.solution_name.data or "",
            summary=self.summary.data, description=self.description.data,
            innovation_kinds=list(self.innovation_kinds.data or []), novelty=self.novelty.data,
            evidence=self.evidence.data,
            trl=parse_int(trl, minimum=1, maximum=9), trl_not_applicable=trl == TRL_NOT_APPLICABLE,
            market_status=self.market_status.data or None, public_references=self.public_references.data,
            pricing_model=self.pricing_model.data, indicative_price=self.indicative_price.data,
            team=self.team.data, intellectual_property=self.intellectual_property.data,
            hosting_security=self.hosting_security.data, accessibility=self.accessibility.data,
            impact=self.impact.data, targets=list(self.targets.data),
            sworn_statement=bool(self.sworn_statement.data), data_consent=bool(self.data_consent.data))

    def place_errors(self, errors: list[Any]) -> list[Any]:
        """Put the service's refusals next to their fields (fits under their need); return the others, and a
        (field id, label, message) entry per fit so that the error summary links each of them once."""
        loose: list[Any] = []
        for error in errors:
            name = error.field or ""
            if name.startswith("fit-") and (need_id := parse_id(name[4:])) is not None:
                self.targets.fit_errors.setdefault(need_id, []).append(error.message)
                loose.append(LinkedError(name, str(_l("Besoins visés")), error.message))
            elif name and name in self:
                self[name].errors = [*self[name].errors, error.message]
            else:
                loose.append(error.message)
        return loose


class WithdrawForm(FlaskForm):
    expected_state = HiddenField()
    reason = TextAreaField(_l("Motif du retrait (facultatif)"), filters=[_strip], validators=[
        Optional(), Length(max=2000, message=_l("2000 caractères au plus."))])


class ScreeningForm(FlaskForm):
    expected_state = HiddenField()
    decision = SelectField(_l("Décision"), choices=options([("", _l("— Choisissez —")), ("eligible", _l("Éligible")),
                                                    ("ineligible", _l("Non éligible"))]),
                           validators=[InputRequired(message=_l("Choisissez « Éligible » ou « Non éligible »."))])
    reason = TextAreaField(_l("Motif"), filters=[_strip],
                           description=_l("Communiqué à l'entreprise. Par exemple : « PME innovante, besoin visé "
                                          "publié » ou « Grande entreprise : hors du champ de l'AMI »."),
                           validators=[InputRequired(message=_l("Indiquez le motif de la décision.")),
                                       Length(max=2000, message=_l("2000 caractères au plus."))])


class ButtonForm(FlaskForm):
    """An empty form: a POST button with its CSRF token."""
