"""The bilan's figures as the pages show them: one `Figure` per indicator, drawn twice from the same numbers —
as a data table (the source of truth, what screen readers and pages without JavaScript get) and as a bar chart
of the State's chart component, DSFR Chart (decoration, with a text alternative that points to the table).

Building both from one object is what keeps them equal: the chart's `x`, `y` and `name` attributes are the
table's row labels, charted columns and column headers, never a second computation. Figures whose every value
is zero or missing have no chart (an empty axis says nothing the table does not).

Pure presentation of `results.CycleBilan`s: no query here (the bilan's budget is asserted in tests/test_results).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal

from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from innovation_cycle import formatting
from innovation_cycle.services import commitments as commitment_service
from innovation_cycle.services.results import OBJECTIVE, SIZE_LABELS, CycleBilan
from workflows.commitment import LEVELS

Number = int | float | None

FUNNEL_LABELS = {
    "needs_submitted": _l("Besoins soumis"), "needs_accepted": _l("Besoins acceptés"),
    "answers_submitted": _l("Réponses déposées"), "answers_eligible": _l("Réponses éligibles"),
    "answers_selected": _l("Solutions retenues"), "commitments": _l("Engagements recensés"),
    "contracted": _l("Marchés notifiés"),
}
CHANNELS = ("pfra_internal", "pfra_regional", "ugap_national")
SIZES = ("micro", "pme", "eti", "ge", None)


@dataclass
class Series:
    """A column of the table; a dataset of the chart when `charted`."""

    name: str
    values: list[Number]
    shown: list[str]
    charted: bool = True


@dataclass
class Figure:
    id: str
    title: str
    caption: str
    header: str
    categories: list[str]
    series: list[Series]
    unit: str = ""
    horizontal: bool = False
    footer: list[tuple[str, list[str]]] = field(default_factory=list)  # table-only rows (totals, sources)
    chart: bool = True  # False where the chart would only draw a reference (the 2 % with no denominator)

    @property
    def charted(self) -> list[Series]:
        return [s for s in self.series if s.charted]

    @property
    def has_chart(self) -> bool:
        return self.chart and bool(self.categories) and any(v for s in self.charted for v in s.values)

    @property
    def rows(self) -> list[tuple[str, list[str]]]:
        return [(label, [s.shown[i] for s in self.series]) for i, label in enumerate(self.categories)]

    @property
    def chart_attributes(self) -> dict[str, str]:
        """The bar-chart element's attributes (JSON strings, as DSFR Chart reads them)."""
        attributes = {
            "x": _json([self.categories]),
            "y": _json([s.values for s in self.charted]),
            "name": _json([s.name for s in self.charted]),
            "selected-palette": "categorical",
        }
        if self.unit:
            attributes["unit-tooltip"] = self.unit
        if self.horizontal:
            attributes["horizontal"] = "true"
        return attributes

    @property
    def alternative(self) -> str:
        """The chart's text alternative: what it shows, and where its data are."""
        return _("Graphique en barres : %(caption)s. Les données sont dans le tableau qui suit.", caption=self.caption)


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _euros(value: Decimal | None) -> str:
    return formatting.euros(value, empty="—")


def _percent(value: float | None, digits: int = 2) -> str:
    return format_decimal(value, format="#,##0." + "0" * digits) + "\u00a0%" if value is not None else "—"


def _count(value: int | None) -> str:
    return format_decimal(value, format="#,##0") if value is not None else "—"


def _days(value: float | None) -> str:
    return _("%(days)s jours", days=_count(round(value))) if value is not None else "—"


def _amount(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def _share(value: float | None) -> float | None:
    """A share as a chart's percentage, to the hundredth."""
    return round(value * 100, 2) if value is not None else None


def _per_cycle(bilans: list[CycleBilan], values, shown) -> list[Series]:
    return [Series(str(b.year), [values(b)], [shown(values(b))]) for b in bilans]


def figures(bilans: list[CycleBilan], current: CycleBilan) -> dict[str, Figure]:
    """Every figure of the results page: the convention's cycles side by side, then the current cycle's detail."""
    years = [str(b.year) for b in bilans]
    channel_label = commitment_service.channel_label
    result = {}

    result["funnel"] = Figure(
        "funnel", _("Du besoin au marché"), _("Entonnoir, par cycle de la convention"), _("Étape"),
        [str(label) for label in FUNNEL_LABELS.values()],
        [Series(year, [b.funnel[key] for key in FUNNEL_LABELS], [_count(b.funnel[key]) for key in FUNNEL_LABELS])
         for year, b in zip(years, bilans, strict=True)], horizontal=True)

    levels = [*LEVELS, "abandoned"]
    result["levels"] = Figure(
        "levels", _("Engagements par niveau"), _("Engagements recensés par niveau, par cycle de la convention"),
        _("Niveau"), [commitment_service.status_label(level) for level in levels],
        [Series(year, [b.by_level[level] for level in levels], [_count(b.by_level[level]) for level in levels])
         for year, b in zip(years, bilans, strict=True)], horizontal=True)

    result["convention"] = Figure(
        "convention", _("La convention, cycle par cycle"),
        _("Montants engagés et notifiés (€ HT) et part des PME, par cycle de la convention"), _("Cycle"), years,
        [Series(_("Engagé (€ HT)"), [_amount(b.committed_total) for b in bilans],
                [_euros(b.committed_total) for b in bilans]),
         Series(_("Notifié (€ HT)"), [_amount(b.contracted_total) for b in bilans],
                [_euros(b.contracted_total) for b in bilans]),
         Series(_("Part des micro-entreprises et PME dans l'engagé"), [_share(b.sme_share) for b in bilans],
                [_percent(_share(b.sme_share), 1) for b in bilans], charted=False)],
        unit="€")

    result["amounts"] = Figure(
        "amounts", _("Montants par canal"),
        _("Montants engagés et notifiés (€ HT) par canal, cycle %(year)s", year=current.year), _("Canal"),
        [channel_label(c) for c in CHANNELS],
        [Series(_("Engagé"), [_amount(current.committed_by_channel.get(c, Decimal(0))) for c in CHANNELS],
                [_euros(current.committed_by_channel.get(c, Decimal(0))) for c in CHANNELS]),
         Series(_("Notifié"), [_amount(current.contracted_by_channel.get(c, Decimal(0))) for c in CHANNELS],
                [_euros(current.contracted_by_channel.get(c, Decimal(0))) for c in CHANNELS])],
        unit="€", horizontal=True,
        footer=[(_("Total"), [_euros(current.committed_total), _euros(current.contracted_total)])])

    sizes = [s for s in SIZES if s in current.by_size]
    size_rows = [current.by_size[s] for s in sizes]
    result["sizes"] = Figure(
        "sizes", _("Taille des entreprises"),
        _("Engagements par catégorie d'entreprise (décret n° 2008-1354), cycle %(year)s", year=current.year),
        _("Catégorie"), [SIZE_LABELS[s] for s in sizes],
        [Series(_("Engagements"), [r["count"] for r in size_rows], [_count(r["count"]) for r in size_rows],
                charted=False),
         Series(_("Engagé (€ HT)"), [_amount(r["committed"]) for r in size_rows],
                [_euros(r["committed"]) for r in size_rows]),
         Series(_("Notifié (€ HT)"), [_amount(r["contracted"]) for r in size_rows],
                [_euros(r["contracted"]) for r in size_rows])],
        unit="€", horizontal=True)

    departments = sorted(current.by_department.items(), key=lambda item: (-item[1], item[0] or "~"))
    result["departments"] = Figure(
        "departments", _("Par département"),
        _("Engagements par département de l'entreprise, cycle %(year)s", year=current.year), _("Département"),
        [department or "—" for department, _n in departments],
        [Series(_("Engagements"), [n for _d, n in departments], [_count(n) for _d, n in departments])],
        horizontal=True)

    themes = sorted(current.by_theme.items(), key=lambda item: (-item[1], item[0]))
    result["themes"] = Figure(
        "themes", _("Par thème"), _("Engagements par thème du besoin, cycle %(year)s", year=current.year),
        _("Thème"), [theme for theme, _n in themes],
        [Series(_("Engagements"), [n for _t, n in themes], [_count(n) for _t, n in themes])], horizontal=True)

    def lead(b: CycleBilan) -> list[float | None]:
        return [round(d, 1) if d is not None else None for d in (b.lead_days_to_commitment, b.lead_days_to_contract)]

    result["lead_times"] = Figure(
        "lead-times", _("Délais"), _("Délais médians en jours, par cycle de la convention"), _("Délai médian"),
        [_("Du besoin soumis au premier engagement"), _("Du besoin soumis au marché notifié")],
        [Series(year, lead(b), [_days(d) for d in lead(b)]) for year, b in zip(years, bilans, strict=True)],
        unit=_("jours"), horizontal=True)

    objective = round(float(OBJECTIVE) * 100, 2)
    result["objective"] = Figure(
        "objective-figure", _("Objectif national de 2 %"),
        _("Part des achats innovants dans les achats de la PFRA, par cycle de la convention (%)"), _("Cycle"),
        years,
        [Series(_("Auprès de PME"), [_share(b.objective_share()) for b in bilans],
                [_percent(_share(b.objective_share())) for b in bilans]),
         Series(_("Auprès de PME et d'ETI"), [_share(b.objective_share(True)) for b in bilans],
                [_percent(_share(b.objective_share(True))) for b in bilans]),
         Series(_("Objectif national"), [objective] * len(bilans), [_percent(objective)] * len(bilans)),
         Series(_("Achats de la PFRA de l'année"), [_amount(b.baseline.amount) if b.baseline else None
                                                     for b in bilans],
                [_euros(b.baseline.amount) if b.baseline else _("non renseigné") for b in bilans], charted=False),
         Series(_("Source"), [None] * len(bilans), [b.baseline.source if b.baseline else "—" for b in bilans],
                charted=False)],
        unit="%", chart=any(b.baseline is not None for b in bilans))
    return result
