"""Filters of the needs and answers listings: GET forms (no CSRF: they change nothing). The view fills the
choices that come from the database (cycles, themes, needs, departments) before validating."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import Length, Optional, Regexp

from forms import SingleLine, options

_TOO_LONG = _l("%(max)d caractères au plus.")
_ORDERS = [("desc", _l("Décroissant")), ("asc", _l("Croissant"))]


class _ListingFilters(FlaskForm):
    class Meta:
        csrf = False

    cycle = SelectField(_l("Cycle"), choices=[], default="")
    q = StringField(_l("Rechercher"), validators=[SingleLine(), Optional(), Length(max=200, message=_TOO_LONG)])
    theme = SelectField(_l("Thème"), choices=[], default="")
    kind = SelectField(_l("Catégorie d'acheteur"), choices=[], default="")
    department = SelectField(_l("Département"), choices=[], default="")
    status = SelectField(_l("État"), choices=[], default="")
    sort = SelectField(_l("Trier par"), choices=[], default="depot")
    order = SelectField(_l("Ordre"), choices=options(_ORDERS), default="desc")


class NeedFilterForm(_ListingFilters):
    pass


class ApplicationFilterForm(_ListingFilters):
    # The need's number, not a list of every accepted need (a thousand options in each page at national scale).
    need = StringField(_l("Besoin visé (n°)"), validators=[SingleLine(), Optional(), Regexp(
        r"^\s*\d{1,9}\s*$",
        message=_l("Indiquez le numéro du besoin (en chiffres), tel qu'il figure dans le suivi des besoins."))])
    size = SelectField(_l("Taille de l'entreprise"), choices=[], default="")
    trl = SelectField(_l("Maturité (TRL)"), choices=[], default="")
