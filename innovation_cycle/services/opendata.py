"""The cycle's open data (issue 8, item 6), published with the bilan and from the same records:

- the bilan as XLSX (the CSV is `results.table_rows`), written by the listings' export writer;
- the contracted commitments as DECP v2 JSON ("données essentielles de la commande publique", format of the
  arrêté du 22 décembre 2022, in force since 1 January 2024; JSON schema 2.0.3 of the Ministry of Economy);
- the cycle as an OCDS 1.1.5 release package, with the bids extension.

The schemas are shipped in innovation_cycle/opendata/schemas/ (SOURCES.md gives their origin, version and
licence); tests/test_opendata.py validates both outputs against them.

Who is named. A contract's holder is public: the buyer publishes the essential data of its contracts, the
holder's identifier included, for every contract of 40,000 EUR excl. VAT or more (code de la commande publique,
art. L2196-2 and R2196-1; arrêté du 22 décembre 2022, annex); below that amount a signed contract is still a
communicable administrative document whose holder and price are not covered by business secrecy (code des
relations entre le public et l'administration, art. L311-1 and L311-6). So the census's contracts are published
with their holder whatever the company chose about the results page. An answer to the AMI is not a contract: a
company that did not agree to be named in the results (`Application.named_in_results`) appears in the OCDS bids
only as an anonymous expression of interest (an opaque id, its date and status, no tenderer) and in the bids
statistics, never by name or SIRET; the same holds for the buyers of confidential needs (no name in planning).

What the census does not record and DECP requires (CCAG, price form and type, advance, offers received, social
and environmental considerations) is written with the values of a contract without them ("Pas de CCAG", "Pas
de considération sociale", one offer, no advance, a firm lump-sum price); the list is DECP_DEFAULTS below. A
contracted commitment that cannot be published as DECP (the buyer has no SIRET, or its procedure is "other",
which has no DECP equivalent) is left out of the file and listed by `decp_gaps`, so the admin can complete it.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from innovation_cycle import clock
from innovation_cycle.extensions import db
from innovation_cycle.models import (
    AmiCall,
    Application,
    Commitment,
    Company,
    Cycle,
    Need,
    Organization,
    OrganizationKind,
)
from innovation_cycle.services import listings, results
from innovation_cycle.services.commitments import CONTRACT_FIELDS
from innovation_cycle.services.cycles import windows_of

SCHEMAS = Path(__file__).resolve().parent.parent / "opendata" / "schemas"
DECP_SCHEMA = SCHEMAS / "decp-v2.0.3-marches.json"
OCDS_PACKAGE_SCHEMA = SCHEMAS / "ocds-1.1.5-release-package-schema.json"
OCDS_RELEASE_SCHEMA = SCHEMAS / "ocds-1.1.5-release-schema.json"
OCDS_BIDS_EXTENSION = SCHEMAS / "ocds-bids-extension-release-schema.json"
# The bids extension ("Bids and expressions of interest", compatible with OCDS 1.1), at the commit shipped.
OCDS_BIDS_EXTENSION_URL = ("https://raw.githubusercontent.com/open-contracting-extensions/ocds_bid_extension/"
                           "018e0a92aa0e0918ab0e4be138195f120e858c99/extension.json")
OCDS_VERSION = "1.1"
LICENCE_URL = "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"
SIRET_SCHEME = "FR-SIRET"

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class OpenDataFile:
    """One downloadable file of a published bilan: how the page lists it, and how the response names it."""

    key: str
    label: Any
    fmt: str
    mimetype: str

    def filename(self, year: int) -> str:
        return f"{self.key}-{year}.{self.fmt}"


FILES = {
    "bilan-csv": OpenDataFile("bilan", _l("Bilan du cycle"), "csv", "text/csv; charset=utf-8"),
    "bilan-xlsx": OpenDataFile("bilan", _l("Bilan du cycle"), "xlsx", XLSX),
    "decp": OpenDataFile("decp", _l("Marchés notifiés (DECP v2)"), "json", "application/json"),
    "ocds": OpenDataFile("ocds", _l("Cycle au format OCDS 1.1.5"), "json", "application/json"),
}


# --- the bilan as XLSX -------------------------------------------------------------------------------------


def _bilan_rows(cycle: Cycle) -> list[list[Any]]:
    return results.table_rows(results.convention_bilan(cycle.convention))


def bilan_export(cycle: Cycle, rows: list[list[Any]] | None = None) -> listings.Export:
    """The bilan's table (the CSV's rows, same figures) as the listings' export type."""
    rows = rows if rows is not None else _bilan_rows(cycle)
    header, body = rows[0], rows[1:]
    # The first column holds indicator codes; Decimal amounts and float shares stay numbers in the sheet.
    return listings.Export([str(h) for h in header], len(body), iter([[_blank(v) for v in row] for row in body]))


def _blank(value: Any) -> Any:
    return None if value == "" else value


def bilan_xlsx(cycle: Cycle, rows: list[list[Any]] | None = None) -> bytes:
    return listings.to_xlsx(bilan_export(cycle, rows), f"Bilan {cycle.year}")


def bilan_csv(cycle: Cycle, rows: list[list[Any]] | None = None) -> bytes:
    """UTF-8, comma-separated, decimal points: the open-data CSV (not the listings' French-Excel one)."""
    import csv

    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows if rows is not None else _bilan_rows(cycle))
    return buffer.getvalue().encode("utf-8")


# --- DECP v2 -----------------------------------------------------------------------------------------------

# The census's procedures, as DECP's `procedure` list names them. A partenariat d'innovation is awarded through
# the negotiated procedure (CCP art. R2172-20); it is a "Marché", not a "Marché de partenariat" (which is the
# CCP's public-private partnership). A purchase through UGAP is UGAP's contract with the supplier, which UGAP
# awarded without publicity or competition for innovative purchases (CCP art. R2122-9-1).
DECP_PROCEDURES = {
    "innovative_no_competition": "Marché passé sans publicité ni mise en concurrence préalable",
    "ugap": "Marché passé sans publicité ni mise en concurrence préalable",
    "innovation_partnership": "Procédure avec négociation",
    "adapted": "Procédure adaptée",
}
# "formal" is not there: the census records "a formal procedure" without saying which of DECP's four it was,
# so such a contract is a gap for the admin to complete rather than a guess.

DECP_DEFAULTS: dict[str, Any] = {
    "nature": "Marché",
    "techniques": {"technique": ["Sans objet"]},
    "modalitesExecution": {"modaliteExecution": ["Sans objet"]},
    "marcheInnovant": True,  # every commitment follows a solution selected as innovative by the committee
    "ccag": "Pas de CCAG",
    "offresRecues": 1,
    "attributionAvance": False,
    "typeGroupementOperateurs": "Pas de groupement",
    "typesPrix": {"typePrix": ["Définitif ferme"]},
    "formePrix": "Forfaitaire",
    "sousTraitanceDeclaree": False,
    "considerationsSociales": {"considerationSociale": ["Pas de considération sociale"]},
    "considerationsEnvironnementales": {"considerationEnvironnementale": ["Pas de considération environnementale"]},
}


def _contracted(cycle: Cycle) -> list[Commitment]:
    return list(db.session.scalars(
        select(Commitment).where(Commitment.cycle_id == cycle.id, Commitment.status == "contracted",
                                 Commitment.confirmed_at.is_not(None))
        .options(joinedload(Commitment.buyer), joinedload(Commitment.ugap), joinedload(Commitment.application),
                 joinedload(Commitment.company).joinedload(Company.organization), joinedload(Commitment.need))
        .order_by(Commitment.contract_notified_on, Commitment.id)))


def decp_buyer(commitment: Commitment) -> Organization:
    """Who the contract binds: UGAP in the UGAP channel (it buys for its client), the buyer otherwise."""
    return commitment.ugap if commitment.channel == "ugap_national" and commitment.ugap else commitment.buyer


def decp_gaps(cycle: Cycle) -> list[tuple[Commitment, str]]:
    """Contracted commitments the DECP file leaves out, and why (the admin completes them)."""
    gaps = []
    for commitment in _contracted(cycle):
        reason = _decp_gap(commitment)
        if reason:
            gaps.append((commitment, reason))
    return gaps


@dataclass(frozen=True)
class DecpGap:
    """A contracted commitment left out of the DECP file, as the bilan page lists it (no ORM object: the list
    is kept between requests, see services/results_cache.py)."""

    commitment_id: int
    solution_name: str
    buyer_name: str
    reason: str


def decp_gap_rows(cycle: Cycle) -> list[DecpGap]:
    return [DecpGap(c.id, c.application.solution_name, c.buyer.name, reason) for c, reason in decp_gaps(cycle)]


def _decp_gap(commitment: Commitment) -> str | None:
    if not (decp_buyer(commitment).siret or "").isdigit():
        return "buyer_siret"
    if any(getattr(commitment, f) in (None, "") for f in CONTRACT_FIELDS):
        return "incomplete"  # recorded before the contract's essential data were required
    if commitment.contract_procedure not in DECP_PROCEDURES:
        return "procedure"
    return None


def _place(commitment: Commitment) -> dict[str, str]:
    """DECP's place of execution: a postal or department code typed by the recorder, else the buyer's
    department, else France."""
    text = (commitment.contract_place or "").strip().upper()
    if re.fullmatch(r"\d{5}", text):
        return {"code": text, "typeCode": "Code postal"}
    if re.fullmatch(r"\d{2}|2A|2B|97\d", text):
        return {"code": text, "typeCode": "Code département"}
    department = commitment.buyer.department
    if department:
        return {"code": department, "typeCode": "Code département"}
    return {"code": "FR", "typeCode": "Code pays"}


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _published_on(cycle: Cycle) -> date:
    report = results.report_of(cycle)
    at = report.published_at if report and report.published_at else clock.now()
    return clock.to_paris(at).date()


def decp_marche(commitment: Commitment, published_on: date) -> dict[str, Any]:
    """One contracted commitment as a DECP v2 `marche` object."""
    objet = f"Achat innovant : {commitment.application.solution_name}"
    if commitment.need is not None:
        objet += f" ({commitment.need.title})"
    return {
        "id": commitment.contract_identifier,
        "acheteur": {"id": decp_buyer(commitment).siret},
        **DECP_DEFAULTS,
        "objet": objet[:1000],
        "codeCPV": commitment.contract_cpv,
        "procedure": DECP_PROCEDURES[commitment.contract_procedure],
        "lieuExecution": _place(commitment),
        "dureeMois": commitment.contract_duration_months,
        "dateNotification": commitment.contract_notified_on.isoformat(),
        "datePublicationDonnees": published_on.isoformat(),
        "montant": _number(commitment.contract_amount),
        "titulaires": [{"titulaire": {"typeIdentifiant": "SIRET", "id": commitment.holder_siret}}],
    }


def decp(cycle: Cycle) -> dict[str, Any]:
    """The cycle's contracted commitments as a DECP v2 document (`{"marches": {"marche": [...]}}`)."""
    published_on = _published_on(cycle)
    return {"marches": {"marche": [decp_marche(c, published_on) for c in _contracted(cycle) if not _decp_gap(c)]}}


# --- OCDS 1.1.5 --------------------------------------------------------------------------------------------

# The census's procedures as OCDS's closed `method` codelist (procurementMethodDetails keeps the French name).
# "formal" may be open (appel d'offres ouvert) or selective (restreint, négociation, dialogue): left null.
OCDS_METHODS = {"innovative_no_competition": "direct", "ugap": "direct", "innovation_partnership": "selective",
                "formal": None, "adapted": None, "other": None}
BID_STATUS = {"submitted": "pending", "eligible": "valid", "selected": "valid", "not_selected": "valid",
              "ineligible": "disqualified"}


def ocid_prefix() -> str:
    """The publisher's OCID prefix (OCDS_OCID_PREFIX), registered with the Open Contracting Partnership."""
    return current_app.config["OCDS_OCID_PREFIX"]


def _iso(value: datetime | None) -> str | None:
    return clock.to_paris(value).isoformat() if value else None


def _day_start(value: date) -> str:
    return clock.to_paris(datetime(value.year, value.month, value.day, tzinfo=clock.PARIS)).isoformat()


def _add_months(start: date, months: int) -> date:
    """The same day `months` later (the month's last day when it has fewer days): a contract's end."""
    import calendar

    month = start.month - 1 + months
    year, month = start.year + month // 12, month % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def _party(org: Organization, *roles: str) -> dict[str, Any]:
    party: dict[str, Any] = {"id": _party_id(org), "name": org.name, "roles": list(roles)}
    if org.siret:
        party["identifier"] = {"scheme": SIRET_SCHEME, "id": org.siret, "legalName": org.name}
    if org.department:
        party["address"] = {"region": org.department, "countryName": "France"}
    return party


def _party_id(org: Organization) -> str:
    return f"{SIRET_SCHEME}-{org.siret}" if org.siret else f"org-{org.id}"


def _ref(org: Organization) -> dict[str, str]:
    return {"id": _party_id(org), "name": org.name}


def _amount(value: Decimal | None) -> dict[str, Any] | None:
    return {"amount": _number(value), "currency": "EUR"} if value is not None else None


def _procuring_entity(cycle: Cycle) -> Organization | None:
    return next((o for o in results.founding_partners(cycle) if o.kind == OrganizationKind.PFRA), None)


def ami_ocid(cycle: Cycle) -> str:
    return f"{ocid_prefix()}-ami-{cycle.year}-{cycle.id}"


def ocds(cycle: Cycle, uri: str) -> dict[str, Any]:
    """The cycle as an OCDS 1.1.5 release package: one release for the AMI (the accepted needs as planning,
    the AMI as the tender, the answers as bids) and one per contracted commitment (its buyer, the award and the
    contract), each contract related to the AMI that sourced it."""
    report = results.report_of(cycle)
    published_at = _iso(report.published_at if report and report.published_at else clock.now())
    releases = [_ami_release(cycle, published_at)]
    releases += [_contract_release(cycle, c, published_at) for c in _contracted(cycle)]
    return {
        "uri": uri,
        "version": OCDS_VERSION,
        "extensions": [OCDS_BIDS_EXTENSION_URL],
        "publishedDate": published_at,
        "publisher": {"name": current_app.config["OCDS_PUBLISHER_NAME"]},
        "license": LICENCE_URL,
        "releases": releases,
    }


def _ami_release(cycle: Cycle, published_at: str) -> dict[str, Any]:
    ami = db.session.scalar(select(AmiCall).where(AmiCall.cycle_id == cycle.id))
    pfra = _procuring_entity(cycle)
    parties: dict[str, dict[str, Any]] = {}

    def add(org: Organization, role: str) -> None:
        party = parties.setdefault(_party_id(org), _party(org))
        if role not in party["roles"]:
            party["roles"].append(role)

    needs = list(db.session.scalars(
        select(Need).where(Need.cycle_id == cycle.id, Need.status == "accepted")
        .options(joinedload(Need.organization)).order_by(Need.id)))
    milestones = []
    for need in needs:
        milestone: dict[str, Any] = {"id": f"besoin-{need.id}", "title": need.title, "type": "preProcurement",
                                     "status": "met", "dateMet": _iso(need.submitted_at)}
        if not need.confidential:  # the buyer's name hidden in the AMI stays hidden here
            milestone["description"] = f"Besoin exprimé par {need.organization.name}"
            add(need.organization, "interestedParty")
        milestones.append(milestone)
    estimated = sum((n.estimated_value for n in needs if n.estimated_value is not None), Decimal(0))

    answers = list(db.session.scalars(
        select(Application).where(Application.cycle_id == cycle.id, Application.status.in_(BID_STATUS))
        .options(joinedload(Application.company).joinedload(Company.organization)).order_by(Application.id)))
    details, tenderers = [], []
    for number, answer in enumerate(answers, start=1):
        bid: dict[str, Any] = {"id": f"manifestation-{number}", "submissionType": "expressionOfInterest",
                               "date": _iso(answer.submitted_at), "status": BID_STATUS[answer.status]}
        if answer.named_in_results:  # only the companies that agreed are named (module docstring)
            org = answer.company.organization
            add(org, "tenderer")
            bid["tenderers"] = [_ref(org)]
            if _ref(org) not in tenderers:
                tenderers.append(_ref(org))
        details.append(bid)
    statistics = [
        {"id": "1", "measure": "bids", "value": len(answers)},
        {"id": "2", "measure": "validBids", "value": sum(1 for a in answers if BID_STATUS[a.status] == "valid")},
        {"id": "3", "measure": "disqualifiedBids",
         "value": sum(1 for a in answers if a.status == "ineligible")},
        {"id": "4", "measure": "smeBids", "value": sum(
            1 for a in answers if a.company.computed_size in results.SME_SIZES)},
        {"id": "5", "measure": "selectedBids", "value": sum(1 for a in answers if a.status == "selected"),
         "notes": "Solutions retenues par le comité (une sélection n'est pas une attribution)."},
        {"id": "6", "measure": "anonymousBids", "value": sum(1 for a in answers if not a.named_in_results),
         "notes": "Manifestations d'intérêt d'entreprises n'ayant pas accepté d'être nommées."},
    ]

    tender: dict[str, Any] = {
        "id": f"ami-{cycle.year}",
        "title": ami.title if ami else f"Appel à manifestation d'intérêt {cycle.year}",
        "status": "complete",
        "procurementMethod": "open",
        "procurementMethodDetails": "Appel à manifestation d'intérêt (sourçage, art. R2111-1 du code de la "
                                    "commande publique) : ce n'est pas une procédure de passation.",
        "numberOfTenderers": len(answers),
        "tenderers": tenderers,
    }
    window = windows_of(cycle).get("ami_sourcing")
    if window is not None:
        tender["tenderPeriod"] = {"startDate": _iso(window[0]), "endDate": _iso(window[1])}
    if ami is not None and ami.introduction:
        tender["description"] = ami.introduction
    release: dict[str, Any] = {
        "ocid": ami_ocid(cycle),
        "id": f"{ami_ocid(cycle)}-{published_at[:10]}",
        "date": published_at,
        "tag": ["planning", "tender"],
        "initiationType": "tender",
        "language": "fr",
        "planning": {
            "rationale": f"Recueil des besoins du cycle {cycle.year} de la convention {cycle.convention.name} : "
                         f"{len(needs)} besoins acceptés.",
            "budget": {"description": "Somme des montants estimés des besoins acceptés",
                       "amount": _amount(estimated)},
            "milestones": milestones,
        },
        "tender": tender,
        "bids": {"statistics": statistics, "details": details},
    }
    if pfra is not None:
        add(pfra, "buyer")
        add(pfra, "procuringEntity")
        release["buyer"] = _ref(pfra)
        tender["procuringEntity"] = _ref(pfra)
    release["parties"] = list(parties.values())
    return release


def _contract_release(cycle: Cycle, commitment: Commitment, published_at: str) -> dict[str, Any]:
    buyer = decp_buyer(commitment)
    supplier = commitment.company.organization
    ocid = f"{ocid_prefix()}-marche-{commitment.id}"
    parties = [_party(buyer, "buyer"), _party(supplier, "supplier")]
    if commitment.channel == "ugap_national" and commitment.buyer.id != buyer.id:
        parties.append(_party(commitment.buyer, "interestedParty"))  # UGAP's client
    value = _amount(commitment.contract_amount)
    notified = commitment.contract_notified_on
    procedure = commitment.contract_procedure or commitment.procedure
    from innovation_cycle.services.procedures import LABELS as PROCEDURE_LABELS

    award: dict[str, Any] = {"id": f"attribution-{commitment.id}", "status": "active",
                             "title": commitment.application.solution_name, "suppliers": [_ref(supplier)]}
    contract: dict[str, Any] = {"id": f"marche-{commitment.id}", "awardID": award["id"], "status": "active",
                                "title": commitment.application.solution_name}
    if value:
        award["value"] = value
        contract["value"] = value
    if notified:
        award["date"] = _day_start(notified)
        contract["dateSigned"] = _day_start(notified)
        period: dict[str, Any] = {"startDate": _day_start(notified)}
        if commitment.contract_duration_months:
            end = _add_months(notified, commitment.contract_duration_months)
            period["endDate"] = _day_start(end)
            period["durationInDays"] = (end - notified).days
        contract["period"] = period
    if commitment.contract_identifier:
        contract["description"] = f"Identifiant du marché : {commitment.contract_identifier}"
    tender: dict[str, Any] = {"id": f"procedure-{commitment.id}", "status": "complete",
                              "procurementMethod": OCDS_METHODS.get(procedure)}
    if procedure in PROCEDURE_LABELS:
        tender["procurementMethodDetails"] = str(PROCEDURE_LABELS[procedure])
    if commitment.contract_cpv:
        tender["items"] = [{"id": "1", "description": commitment.application.solution_name,
                            "classification": {"scheme": "CPV", "id": commitment.contract_cpv[:8]}}]
    return {
        "ocid": ocid,
        "id": f"{ocid}-{published_at[:10]}",
        "date": published_at,
        "tag": ["award", "contract"],
        "initiationType": "tender",
        "language": "fr",
        "parties": parties,
        "buyer": _ref(buyer),
        "tender": tender,
        "awards": [award],
        "contracts": [contract],
        "relatedProcesses": [{"id": "1", "relationship": ["planning"], "title": "Appel à manifestation d'intérêt",
                              "scheme": "ocid", "identifier": ami_ocid(cycle)}],
    }


def to_json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")


def render(cycle: Cycle, key: str, ocds_uri: str = "", rows: list[list[Any]] | None = None) -> bytes:
    """The bytes of one open-data file of the cycle (keys of FILES); `ocds_uri`: where the package is served;
    `rows`: the bilan's table when the caller has it already."""
    if key == "bilan-csv":
        return bilan_csv(cycle, rows)
    if key == "bilan-xlsx":
        return bilan_xlsx(cycle, rows)
    if key == "decp":
        return to_json(decp(cycle))
    return to_json(ocds(cycle, ocds_uri or f"urn:ocds:{ami_ocid(cycle)}"))


def sizes(cycle: Cycle, ocds_uri: str = "", bilans: list[results.CycleBilan] | None = None) -> dict[str, int]:
    """Each file's size in bytes, for the download links (the files are small: a cycle's bilan and its
    contracts); the bilan is computed once for both of its formats, or not at all when the page has it."""
    rows = results.table_rows(bilans) if bilans is not None else _bilan_rows(cycle)
    return {key: len(render(cycle, key, ocds_uri, rows)) for key in FILES}
