"""Forms of the AMI: the admin's text and rules document, and the public page's search and filters."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from forms import SingleLine, options

_REQUIRED = _l("Ce champ est obligatoire.")


def _strip(value: str | None) -> str | None:
    """Blank text counts as missing."""
    return value.strip() if isinstance(value, str) else value


_TEXT = {"filters": [_strip], "render_kw": {"rows": 8}}
_TOO_LONG = _l("%(max)d caractères au plus.")


class AmiForm(FlaskForm):
    title = StringField(_l("Titre de l'AMI"), validators=[SingleLine(),
                                                          DataRequired(_REQUIRED), Length(max=255, message=_TOO_LONG)],
                        filters=[_strip])
    introduction = TextAreaField(
        _l("Introduction"), validators=[DataRequired(_REQUIRED)], **_TEXT,
        description=_l("Le contexte et l'objet de l'appel, tels que les candidats les liront."))
    eligibility = TextAreaField(
        _l("Qui peut répondre"), validators=[DataRequired(_REQUIRED)], **_TEXT,
        description=_l("Les TPE-PME innovantes, et lesquelles des autres entreprises (ETI, start-up, groupements…)."))
    innovation_definition = TextAreaField(
        _l("Ce qui est considéré comme innovant"), validators=[DataRequired(_REQUIRED)], **_TEXT,
        description=_l("Innovation de produit, de procédé, de commercialisation ou d'organisation "
                       "(article L2172-3 du Code de la commande publique)."))
    calendar_text = TextAreaField(_l("Calendrier"), validators=[Optional()], **_TEXT,
                                  description=_l("Les dates d'ouverture et de clôture de l'étape sont affichées "
                                                 "d'après le calendrier du cycle ; ajoutez ici les suites."))
    evaluation_criteria = TextAreaField(_l("Critères d'évaluation présentés aux candidats"),
                                        validators=[DataRequired(_REQUIRED)], **_TEXT)
    legal_notice = TextAreaField(
        _l("Mention légale"), validators=[DataRequired(_REQUIRED)], **_TEXT,
        description=_l("Démarche de sourcing (article R2111-1) : être retenu ne vaut pas attribution d'un marché "
                       "et n'oblige personne à acheter."))
    reason = TextAreaField(_l("Raison de la modification"), validators=[Optional(), Length(max=2000,
                                                                                            message=_TOO_LONG)],
                           render_kw={"rows": 3},
                           description=_l("Obligatoire une fois l'AMI publié : elle est inscrite au journal."))


class RulesDocumentForm(FlaskForm):
    file = FileField(_l("Règlement de l'AMI (PDF)"))


class PublicNeedFilterForm(FlaskForm):
    """A GET search form: no CSRF token (it changes nothing), and bad values are simply ignored."""

    class Meta:
        csrf = False

    q = StringField(_l("Rechercher"), validators=[SingleLine(), Optional(), Length(max=200, message=_TOO_LONG)],
                    description=_l("Un mot du titre, du problème, du contexte ou le nom de l'acheteur."))
    theme = SelectField(_l("Thème"), choices=[], validate_choice=False)
    category = SelectField(_l("Catégorie d'achat"), choices=options([
        ("", _l("Toutes")), ("goods", _l("Fournitures")), ("services", _l("Services")), ("works", _l("Travaux"))]))
    experimentation = BooleanField(_l("Ouverts à une expérimentation"))
    non_technological = BooleanField(_l("Ouverts à une innovation non technologique"))
