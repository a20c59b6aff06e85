"""Issue 8, item 6: the published bilan's open data. DECP v2 and OCDS 1.1.5 (with the bids extension) validate
against the official schemas shipped in innovation_cycle/opendata/schemas/; the files are downloadable from the
public results page once the bilan is published (404 before); the XLSX holds the CSV's figures; companies that
did not agree to be named are counted, not named, unless they hold a contract (public by law)."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal

import jsonschema
import pytest
from census_factories import SIRETS, census_world
from openpyxl import load_workbook
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4, DRAFT7

from innovation_cycle.clock import paris_datetime
from innovation_cycle.extensions import db
from innovation_cycle.models import Commitment, ResultsReport
from innovation_cycle.services import opendata

BUYER_SIRETS = {"state": "11000201100044", "region": "20004152000015", "ugap": "18006901100020",
                "client": "26330021800018", "pfra": "13000000000018"}


def _load(path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def merge_patch(target, patch):
    """RFC 7386 JSON Merge Patch: how an OCDS extension's release-schema.json extends the release schema."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def validate_decp(document: dict) -> None:
    schema = _load(opendata.DECP_SCHEMA)
    jsonschema.Draft7Validator(schema, registry=Registry().with_resource(
        schema["$id"], Resource.from_contents(schema, default_specification=DRAFT7)),
        format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER).validate(document)


def validate_ocds(document: dict) -> None:
    package = _load(opendata.OCDS_PACKAGE_SCHEMA)
    release = merge_patch(_load(opendata.OCDS_RELEASE_SCHEMA), _load(opendata.OCDS_BIDS_EXTENSION))
    registry = Registry().with_resources([
        (package["id"], Resource.from_contents(package, default_specification=DRAFT4)),
        (release["id"], Resource.from_contents(release, default_specification=DRAFT4)),
    ])
    jsonschema.Draft4Validator(package, registry=registry,
                               format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER).validate(document)
    for item in document["releases"]:  # each release on its own too (the package's $ref is resolved above)
        jsonschema.Draft4Validator(release, registry=registry).validate(item)


def commitment(world, application, buyer, channel, status, amount, **kw):
    at = paris_datetime(2017, 8, 10)
    c = Commitment(cycle_id=world.cycle.id, application_id=application.id, company_id=application.company_id,
                   buyer_organization_id=world.orgs[buyer].id, channel=channel, status=status,
                   amount_excl_vat=Decimal(amount), created_at=at, updated_at=at, confirmed_at=at,
                   first_committed_at=at, abandon_reason="Budget" if status == "abandoned" else None,
                   ugap_organization_id=world.orgs["ugap"].id if channel == "ugap_national" else None, **kw)
    db.session.add(c)
    return c


def contract(identifier: str, siret: str, procedure: str, amount: str, place: str = "59") -> dict:
    return {"contract_identifier": identifier, "contract_notified_on": date(2017, 9, 20),
            "contract_amount": Decimal(amount), "contract_duration_months": 12, "contract_cpv": "48000000-8",
            "contract_place": place, "contract_procedure": procedure, "holder_siret": siret}


@pytest.fixture
def world(make, clock, app):
    """Alpha (micro, agreed to be named) holds a PFRA contract; Beta (PME, not named) holds a contract with UGAP
    for UGAP's client; Gamma (not named) was not selected and has no contract. One commitment is still a
    purchase commitment, one abandoned, one contracted through a "formal" procedure DECP cannot name."""
    clock.set(paris_datetime(2017, 10, 5, 10, 0))
    app.config["OCDS_OCID_PREFIX"] = "ocds-t3st00"
    w = census_world(make, state="results_communication")
    for key, siret in BUYER_SIRETS.items():
        w.orgs[key].siret = siret
    alpha, beta = w.selected
    w.needs[0].estimated_value = Decimal("40000")
    w.needs[1].confidential = True
    commitment(w, alpha, "region", "pfra_regional", "contracted", "45000", need=w.needs[0],
               **contract("MEL-2017-042", SIRETS[0], "innovative_no_competition", "42000.50", "59350"))
    commitment(w, beta, "client", "ugap_national", "contracted", "80000",
               **contract("UGAP17-0007", SIRETS[1], "ugap", "78000"))
    commitment(w, beta, "state", "pfra_internal", "contracted", "150000",
               **contract("PREF59-2017-1", SIRETS[1], "formal", "150000"))
    commitment(w, alpha, "state", "pfra_internal", "purchase_commitment", "30000")
    commitment(w, beta, "region", "pfra_regional", "abandoned", "5000")
    db.session.commit()
    return w


def publish(world) -> None:
    now = paris_datetime(2017, 10, 20, 9, 0)
    db.session.add(ResultsReport(cycle_id=world.cycle.id, editorial="Bilan 2017", updated_at=now, published_at=now))
    db.session.commit()


def test_contracted_commitments_as_decp_v2(world):
    publish(world)
    document = opendata.decp(world.cycle)
    validate_decp(document)
    marches = {m["id"]: m for m in document["marches"]["marche"]}
    assert set(marches) == {"MEL-2017-042", "UGAP17-0007"}  # not the uncontracted, abandoned or "formal" ones
    mel, ugap = marches["MEL-2017-042"], marches["UGAP17-0007"]
    assert mel["acheteur"] == {"id": BUYER_SIRETS["region"]}
    assert mel["titulaires"] == [{"titulaire": {"typeIdentifiant": "SIRET", "id": SIRETS[0]}}]
    assert mel["montant"] == 42000.5 and mel["dureeMois"] == 12 and mel["codeCPV"] == "48000000-8"
    assert mel["procedure"] == "Marché passé sans publicité ni mise en concurrence préalable"
    assert mel["lieuExecution"] == {"code": "59350", "typeCode": "Code postal"}
    assert mel["dateNotification"] == "2017-09-20" and mel["datePublicationDonnees"] == "2017-10-20"
    assert mel["marcheInnovant"] is True and mel["nature"] == "Marché"
    # UGAP buys for its client: UGAP is the buyer of record, the SME stays the holder.
    assert ugap["acheteur"] == {"id": BUYER_SIRETS["ugap"]}
    assert ugap["titulaires"][0]["titulaire"]["id"] == SIRETS[1]
    assert [(c.contract_identifier, reason) for c, reason in opendata.decp_gaps(world.cycle)] == [
        ("PREF59-2017-1", "procedure")]


def test_a_broken_marche_fails_the_official_schema(world):
    """The validation is not a formality: the shipped schema refuses what DECP refuses."""
    publish(world)
    document = opendata.decp(world.cycle)
    document["marches"]["marche"][0]["acheteur"]["id"] = "123"
    with pytest.raises(jsonschema.ValidationError):
        validate_decp(document)
    document = opendata.decp(world.cycle)
    document["marches"]["marche"][0]["unknown"] = 1  # additionalProperties: false
    with pytest.raises(jsonschema.ValidationError):
        validate_decp(document)


def test_the_cycle_as_an_ocds_release_package(world):
    publish(world)
    document = opendata.ocds(world.cycle, "https://example.org/resultats/2017/ocds.json")
    validate_ocds(document)
    ami, *contracts = document["releases"]
    assert ami["ocid"].startswith("ocds-t3st00-") and ami["tag"] == ["planning", "tender"]
    assert [m["title"] for m in ami["planning"]["milestones"]] == ["Accueil des usagers", "Gestion des courriers"]
    assert ami["planning"]["budget"]["amount"] == {"amount": 40000, "currency": "EUR"}
    # The confidential need keeps its buyer hidden, as in the AMI.
    assert "description" not in ami["planning"]["milestones"][1]
    bids = ami["bids"]
    assert len(bids["details"]) == 3 and ami["tender"]["numberOfTenderers"] == 3
    named = [b for b in bids["details"] if "tenderers" in b]
    assert [b["tenderers"][0]["name"] for b in named] == ["Alpha SAS"]
    stats = {s["measure"]: s["value"] for s in bids["statistics"]}
    assert stats["bids"] == 3 and stats["anonymousBids"] == 2 and stats["smeBids"] == 2
    # Contracted commitments are awards and contracts (3, the "formal" one included: OCDS does not need to
    # know which formal procedure it was); the uncontracted and the abandoned ones are not there.
    assert len(contracts) == 3
    ugap = next(r for r in contracts if r["contracts"][0]["description"].endswith("UGAP17-0007"))
    assert ugap["buyer"]["name"] == "UGAP"
    roles = {p["name"]: p["roles"] for p in ugap["parties"]}
    assert roles == {"UGAP": ["buyer"], "Beta SA": ["supplier"], "CHU de Bordeaux": ["interestedParty"]}
    assert ugap["awards"][0]["value"] == {"amount": 78000, "currency": "EUR"}
    assert ugap["contracts"][0]["awardID"] == ugap["awards"][0]["id"]
    assert ugap["relatedProcesses"][0]["identifier"] == ami["ocid"]
    period = ugap["contracts"][0]["period"]
    assert period["startDate"].startswith("2017-09-20") and period["endDate"].startswith("2018-09-20")
    assert period["durationInDays"] == 365


def test_unnamed_companies_without_a_contract_are_never_named(world):
    """Gamma did not agree to be named and holds no contract: neither its name nor its SIRET is published.
    Beta did not agree either, but holds contracts, whose holder is public (CCP art. R2196-1): it is named as
    the supplier of its contracts, and its expression of interest stays anonymous."""
    publish(world)
    text = json.dumps(opendata.ocds(world.cycle, "https://example.org/o.json"), ensure_ascii=False)
    assert "Gamma" not in text and SIRETS[2] not in text and "Écarté" not in text
    ami = opendata.ocds(world.cycle, "https://example.org/o.json")["releases"][0]
    assert "Beta SA" not in json.dumps(ami, ensure_ascii=False)
    decp_text = json.dumps(opendata.decp(world.cycle), ensure_ascii=False)
    assert SIRETS[2] not in decp_text and SIRETS[1] in decp_text


def test_no_contract_yet_still_validates(make, clock):
    clock.set(paris_datetime(2017, 10, 5, 10, 0))
    w = census_world(make, state="results_communication")
    publish(w)
    assert opendata.decp(w.cycle) == {"marches": {"marche": []}}
    validate_decp(opendata.decp(w.cycle))
    validate_ocds(opendata.ocds(w.cycle, "https://example.org/o.json"))


FILES = {"bilan.csv": ("text/csv; charset=utf-8", "bilan-2017.csv"),
         "bilan.xlsx": (opendata.XLSX, "bilan-2017.xlsx"),
         "decp.json": ("application/json", "decp-2017.json"),
         "ocds.json": ("application/json", "ocds-2017.json")}


def test_the_files_are_public_once_the_bilan_is_published(world, client, login):
    for name in FILES:
        assert client.get(f"/resultats/2017/{name}").status_code == 404  # not published yet
    # The admin and the founders check them before: the bilan's page links the preview files.
    login(world.users["admin"])
    page = client.get(f"/resultats/cycle/{world.cycle.id}/bilan").get_data(as_text=True)
    assert f"/resultats/cycle/{world.cycle.id}/donnees/decp" in page and "fr-link--download" in page
    assert "PREF59-2017-1" not in page and "précisez la procédure" in page  # the DECP gap, named by solution
    assert 'class="fr-link__detail">JSON – ' in page and 'XLSX – ' in page  # the admin sees each file's size
    preview = client.get(f"/resultats/cycle/{world.cycle.id}/donnees/decp")
    assert preview.status_code == 200 and preview.mimetype == "application/json"
    validate_ocds(client.get(f"/resultats/cycle/{world.cycle.id}/donnees/ocds").get_json())  # not published yet
    assert client.get(f"/resultats/cycle/{world.cycle.id}/donnees/nope").status_code == 404
    client.post("/compte/deconnexion")
    publish(world)
    page = client.get("/resultats/2017").get_data(as_text=True)
    for name, (mimetype, filename) in FILES.items():
        assert f'href="/resultats/2017/{name}"' in page
        response = client.get(f"/resultats/2017/{name}")
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith(mimetype.split(";")[0])
        assert response.headers["Content-Disposition"] == f'attachment; filename="{filename}"'
        size = len(response.get_data())
        assert size > 0
    # The public page names each format without building every file to measure it on each visit.
    assert 'class="fr-link__detail">JSON</span>' in page and 'class="fr-link__detail">XLSX</span>' in page
    validate_decp(client.get("/resultats/2017/decp.json").get_json())
    package = client.get("/resultats/2017/ocds.json").get_json()
    validate_ocds(package)
    assert package["uri"] == "http://localhost/resultats/2017/ocds.json"


def test_the_xlsx_holds_the_csvs_figures(world, client):
    publish(world)
    csv_rows = list(csv.reader(io.StringIO(client.get("/resultats/2017/bilan.csv").get_data(as_text=True))))
    book = load_workbook(io.BytesIO(client.get("/resultats/2017/bilan.xlsx").get_data()), read_only=True)
    sheet = book.worksheets[0]
    width = max(len(row) for row in csv_rows)  # a read-only sheet drops a row's trailing empty cells
    xlsx_rows = [[*row, *[None] * (width - len(row))] for row in sheet.iter_rows(values_only=True)]
    assert len(xlsx_rows) == len(csv_rows) and len(csv_rows) > 20
    for csv_row, xlsx_row in zip(csv_rows, xlsx_rows, strict=True):
        assert xlsx_row[0] == csv_row[0]
        for text, value in zip(csv_row[1:], xlsx_row[1:], strict=True):
            if text == "":
                assert value is None
            else:
                assert float(text) == pytest.approx(float(value)), (csv_row[0], text, value)
    by_key = {row[0]: row[1:] for row in xlsx_rows}
    assert by_key["contracted"] == [3] and by_key["contracted_eur_ugap_national"] == [78000]
