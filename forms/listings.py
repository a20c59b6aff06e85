"""Filters of the needs and answers listings: GET forms (no CSRF: they change nothing). The view fills the
choices that come from the database (cycles, themes, needs, departments) before validating."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import Length, Optional

from forms import options

_TOO_LONG = _l("%(max)d caractères au plus.")
_ORDERS = [("desc", _l("Décroissant")), ("asc", _l("Croissant"))]


class _ListingFilters(FlaskForm):
    class Meta:
        csrf = False

    cycle = SelectField(_l("Cycle"), choices=[], default="")
    q = StringField(_l("Rechercher"), validators=[Optional(), Length(max=200, message=_TOO_LONG)])
    theme = SelectField(_l("Thème"), choices=[], default="")
    kind = SelectField(_l("Catégorie d'acheteur"), choices=[], default="")
    department = SelectField(_l("Département"), choices=[], default="")
    status = SelectField(_l("État"), choices=[], default="")
    sort = SelectField(_l("Trier par"), choices=[], default="depot")
    order = SelectField(_l("Ordre"), choices=options(_ORDERS), default="desc")


class NeedFilterForm(_ListingFilters):
    pass


class ApplicationFilterForm(_ListingFilters):
    need = SelectField(_l("Besoin visé"), choices=[], default="")
    size = SelectField(_l("Taille de l'entreprise"), choices=[], default="")
    trl = SelectField(_l("Maturité (TRL)"), choices=[], default="")
