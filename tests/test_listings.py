"""Listings of needs and answers for the secretariat, PFRA agents and the committee: filters, sorting,
pagination, exports read back (CSV with the csv module, XLSX with openpyxl), and a query budget."""

from __future__ import annotations

import csv
import html
import io
import re
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from query_count import count_queries
from sqlalchemy import select

from innovation_cycle import authz
from innovation_cycle.clock import paris_datetime
from innovation_cycle.extensions import db
from innovation_cycle.models import (
    Application,
    ApplicationNeed,
    AuditEvent,
    CommitteeMember,
    Company,
    Conflict,
    Need,
    Organization,
    OrganizationKind,
    Role,
    Theme,
)

SUBMITTED = paris_datetime(2017, 4, 12, 10)


def text_of(response) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))))


def rows_of(response) -> list[str]:
    """The solution or need titles in the listing's table, in order."""
    body = response.get_data(as_text=True)
    table = body[body.index("<tbody>"):body.index("</tbody>")] if "<tbody>" in body else ""
    return [html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<tr>\s*<td>(.*?)</td>", table, re.S)]




class World:
    """Builders for needs, companies and answers of one cycle, written straight to the tables."""

    def __init__(self, make, cycle):
        self.make, self.cycle, self.n = make, cycle, 0

    def need(self, title, org, status="accepted", themes=(), **kw) -> Need:
        need = Need(cycle=self.cycle, organization=org, title=title, problem=kw.pop("problem", "Problème"),
                    status=status, created_at=SUBMITTED, updated_at=SUBMITTED,
                    submitted_at=None if status == "draft" else kw.pop("submitted_at", SUBMITTED), **kw)
        need.themes = list(themes)
        db.session.add(need)
        return need

    def company(self, name, department="59", size="pme", siret=None) -> Company:
        self.n += 1
        org = Organization(name=name, kind=OrganizationKind.COMPANY, department=department,
                           siret=siret or f"{self.n:09d}00012", siren=(siret or f"{self.n:09d}00012")[:9])
        company = Company(organization=org, computed_size=size, declared_size=size, created_at=SUBMITTED,
                          updated_at=SUBMITTED)
        db.session.add(company)
        return company

    def answer(self, name, company, needs=(), status="submitted", trl=None, na=False, **kw) -> Application:
        application = Application(cycle=self.cycle, company=company, solution_name=name, status=status, trl=trl,
                                  trl_not_applicable=na, created_at=SUBMITTED, updated_at=SUBMITTED,
                                  submitted_at=None if status == "draft" else kw.pop("submitted_at", SUBMITTED),
                                  **kw)
        application.targets = [ApplicationNeed(need=n, fit="Adapté") for n in needs]
        db.session.add(application)
        return application


@pytest.fixture
def world(make):
    cycle = make.cycle(state="ami_sourcing")
    w = World(make, cycle)
    mel = make.organization("Métropole européenne de Lille (MEL)", department="59")
    chu = make.organization("CHU d'Amiens", OrganizationKind.HOSPITAL, department="80")
    mobility, health = Theme(cycle=cycle, name="Mobilité", position=1), Theme(cycle=cycle, name="Santé", position=2)
    w.needs = {
        "velo": w.need("Comptage des vélos", mel, themes=[mobility], estimated_value=Decimal("120000"),
                       submitted_at=paris_datetime(2017, 3, 1)),
        "lits": w.need("Gestion des lits", chu, themes=[health], confidential=True,
                       submitted_at=paris_datetime(2017, 3, 5)),
        "attente": w.need("Besoin en attente", mel, status="submitted", submitted_at=paris_datetime(2017, 3, 9)),
        "brouillon": w.need("Brouillon privé", mel, status="draft"),
    }
    lumiere = w.company("Lumière Data", "62", "micro")
    sante = w.company("Santé Connect", "80", "pme")
    grand = w.company("=HYPERLINK(\"http://x\") Groupe", "75", "eti")
    w.answers = {
        "capteur": w.answer("Capteur vélo", lumiere, [w.needs["velo"]], trl=7, summary="Compteur éco-énergétique",
                            submitted_at=paris_datetime(2017, 4, 3)),
        "lit": w.answer("Lit connecté", sante, [w.needs["lits"]], status="eligible", trl=5,
                        submitted_at=paris_datetime(2017, 4, 5)),
        "service": w.answer("Conciergerie mobile", grand, [w.needs["velo"], w.needs["lits"]], na=True,
                            status="ineligible", eligibility_reason="Hors cible",
                            submitted_at=paris_datetime(2017, 4, 7)),
        "brouillon": w.answer("Brouillon secret", lumiere, [w.needs["velo"]], status="draft"),
    }
    w.themes = {"mobility": mobility, "health": health}
    w.orgs = {"mel": mel, "chu": chu}
    db.session.commit()
    return w


@pytest.fixture
def staff(make, login, world):
    def as_role(role: Role, on_committee: bool = True):
        user = make.user(role)
        if role == Role.COMMITTEE_MEMBER and on_committee:
            world.cycle.committee.append(CommitteeMember(user_id=user.id))
            db.session.commit()
        login(user)
        return user

    return as_role


# --- who sees what -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.ADMIN, Role.PFRA_AGENT, Role.COMMITTEE_MEMBER])
def test_staff_see_every_listed_record_but_never_drafts(client, staff, role):
    staff(role)
    needs = client.get("/suivi/besoins")
    assert needs.status_code == 200
    assert sorted(rows_of(needs)) == ["Besoin en attente", "Comptage des vélos", "Gestion des lits"]
    answers = client.get("/suivi/reponses")
    assert sorted(rows_of(answers)) == ["Capteur vélo", "Conciergerie mobile", "Lit connecté"]
    assert "Brouillon" not in text_of(needs) and "Brouillon secret" not in text_of(answers)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.PFRA_AGENT, Role.COMMITTEE_MEMBER])
def test_every_listed_answer_is_one_its_reader_may_open(client, staff, world, role):
    """The answers listing decides its links once per page (`listing.open_answers`), not with
    `application.view` per row: this holds the two together. A member conflicted with a company sees
    neither its answers nor links to them; every link the page shows opens, and the policy agrees."""
    user = staff(role)
    if role != Role.ADMIN:  # admins are never conflicted; PFRA agents and members are
        db.session.add(Conflict(cycle_id=world.cycle.id, user_id=user.id, company_id=world.answers["lit"].company_id,
                                source="declared", reason="Parent", created_at=SUBMITTED))
        db.session.commit()
    body = client.get("/suivi/reponses").get_data(as_text=True)
    linked = {int(i) for i in re.findall(r'href="/reponses/(\d+)"', body)}
    listed = {a.id for key, a in world.answers.items() if key != "brouillon"}
    if role != Role.ADMIN:
        listed.discard(world.answers["lit"].id)
    assert linked == listed
    for application_id in linked:
        assert authz.can(user, "application.view", db.session.get(Application, application_id))
        assert client.get(f"/reponses/{application_id}").status_code == 200


@pytest.mark.parametrize("role", [Role.ADMIN, Role.PFRA_AGENT, Role.COMMITTEE_MEMBER])
def test_the_needs_listing_links_exactly_the_needs_its_reader_may_open(client, staff, world, role):
    """Staff's links are decided once per page (`listing.open_needs`), others' by `need.view` per row: either
    way a listed need is linked exactly when the policy lets the reader open it, and the link opens."""
    user = staff(role)
    body = client.get("/suivi/besoins").get_data(as_text=True)
    linked = {int(i) for i in re.findall(r'href="/besoins/(\d+)"', body)}
    listed = [n for key, n in world.needs.items() if key != "brouillon"]
    assert linked == {n.id for n in listed if authz.can(user, "need.view", n)}
    assert linked == ({n.id for n in listed} if role != Role.COMMITTEE_MEMBER else set())
    for need_id in linked:
        assert client.get(f"/besoins/{need_id}").status_code == 200


def test_a_committee_member_of_another_cycle_is_refused(client, make, login, world):
    other = make.cycle(make.convention(2020), 2020, state="needs_collection")
    member = make.user(Role.COMMITTEE_MEMBER)
    other.committee.append(CommitteeMember(user_id=member.id))
    db.session.commit()
    login(member)
    assert client.get(f"/suivi/reponses?cycle={world.cycle.id}").status_code == 403
    assert client.get(f"/suivi/reponses/export?cycle={world.cycle.id}").status_code == 403
    assert client.get("/suivi/reponses?cycle=999").status_code == 404
    page = client.get("/suivi/reponses")  # their own cycle by default
    assert page.status_code == 200 and "cycle 2020" in text_of(page)


def test_buyers_companies_and_the_public_are_refused(client, make, login, world):
    assert client.get("/suivi/reponses").status_code == 302
    login(make.user(Role.BUYER, organization=world.orgs["mel"]))
    assert client.get("/suivi/besoins").status_code == 403
    assert client.get("/suivi/besoins/export").status_code == 403


# --- filters, sorting, pagination ---------------------------------------------------------------------------


def test_answer_filters(client, staff, world):
    staff(Role.ADMIN)

    def names(query: str) -> set[str]:
        response = client.get("/suivi/reponses?" + query)
        assert response.status_code == 200, text_of(response)[:500]
        return set(rows_of(response))

    assert names(f"theme={world.themes['health'].id}") == {"Lit connecté", "Conciergerie mobile"}
    assert names(f"need={world.needs['velo'].id}") == {"Capteur vélo", "Conciergerie mobile"}
    assert names("kind=hospital") == {"Lit connecté", "Conciergerie mobile"}
    assert names("department=62") == {"Capteur vélo"}
    assert names("size=micro") == {"Capteur vélo"}
    assert names("trl=7") == {"Capteur vélo"}
    assert names("trl=na") == {"Conciergerie mobile"}
    assert names("status=eligible") == {"Lit connecté"}
    assert names("q=ÉCO-énergétique") == {"Capteur vélo"}
    assert names("q=santé&status=eligible&trl=5") == {"Lit connecté"}


def test_need_filters(client, staff, world):
    staff(Role.PFRA_AGENT)

    def titles(query: str) -> set[str]:
        return set(rows_of(client.get("/suivi/besoins?" + query)))

    assert titles(f"theme={world.themes['mobility'].id}") == {"Comptage des vélos"}
    assert titles("kind=hospital") == {"Gestion des lits"}
    assert titles("department=59") == {"Comptage des vélos", "Besoin en attente"}
    assert titles("status=submitted") == {"Besoin en attente"}
    assert titles("q=amiens") == {"Gestion des lits"}


def test_a_bad_filter_value_is_explained_in_french(client, staff, world):
    staff(Role.ADMIN)
    response = client.get("/suivi/reponses?trl=12&size=geante")
    assert response.status_code == 422
    page = text_of(response)
    assert "Le formulaire contient 2 erreurs" in page and "Maturité (TRL) :" in page
    assert len(rows_of(response)) == 3  # the bad filters are ignored, the listing still shows
    assert client.get("/suivi/reponses?status=draft").status_code == 422  # drafts are not a choice


def test_sorting_both_ways(client, staff, world):
    staff(Role.ADMIN)
    assert rows_of(client.get("/suivi/reponses")) == ["Conciergerie mobile", "Lit connecté", "Capteur vélo"]
    assert rows_of(client.get("/suivi/reponses?sort=solution&order=asc")) == [
        "Capteur vélo", "Conciergerie mobile", "Lit connecté"]
    assert rows_of(client.get("/suivi/reponses?sort=trl&order=desc")) == [
        "Capteur vélo", "Lit connecté", "Conciergerie mobile"]  # no TRL last
    assert rows_of(client.get("/suivi/besoins?sort=valeur&order=desc"))[0] == "Comptage des vélos"
    page = client.get("/suivi/reponses?sort=solution&order=asc").get_data(as_text=True)
    assert 'aria-sort="ascending"' in page


def test_pagination_keeps_the_filters(app, client, staff, world):
    app.config["PAGE_SIZE"] = 2
    staff(Role.ADMIN)
    first = client.get("/suivi/reponses?sort=solution&order=asc")
    assert rows_of(first) == ["Capteur vélo", "Conciergerie mobile"]
    assert "sort=solution" in first.get_data(as_text=True).split("Page suivante")[0].rsplit("href=", 1)[1]
    assert rows_of(client.get("/suivi/reponses?sort=solution&order=asc&page=2")) == ["Lit connecté"]
    assert rows_of(client.get("/suivi/reponses?page=99")) == []


# --- exports -------------------------------------------------------------------------------------------------


def test_the_csv_export_opens_back_with_the_csv_module(client, staff, world):
    staff(Role.ADMIN)
    response = client.get(f"/suivi/reponses/export?format=csv&need={world.needs['velo'].id}&sort=solution&order=asc")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="reponses-cycle-2017-')
    raw = response.data
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM French Excel needs to read UTF-8
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    header, *data = rows
    assert header[:3] == ["N°", "Solution", "Entreprise"]
    assert [r[1] for r in data] == ["Capteur vélo", "Conciergerie mobile"]
    line = dict(zip(header, data[1], strict=True))
    assert line["Entreprise"].startswith("'=HYPERLINK")  # never a formula in Excel
    assert line["TRL"] == "non applicable" and line["État"] == "Non éligible"
    assert line["Motif (éligibilité)"] == "Hors cible"
    assert "Comptage des vélos (Métropole européenne de Lille (MEL))" in line["Besoins visés"]
    assert line["Déposée le"] == "07/04/2017 00:00"
    assert "Brouillon secret" not in raw.decode("utf-8-sig")
    row = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "listing.export_reponses"))
    assert row.after["rows"] == 2 and row.after["format"] == "csv"


def test_the_xlsx_export_opens_back_with_openpyxl(client, staff, world):
    staff(Role.PFRA_AGENT)
    response = client.get("/suivi/besoins/export?format=xlsx&sort=titre&order=asc")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(response.data)).active
    assert sheet.title == "Besoins 2017"
    header, *data = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert header[:3] == ["N°", "Intitulé", "Acheteur"]
    assert [r[1] for r in data] == ["Besoin en attente", "Comptage des vélos", "Gestion des lits"]
    velo = dict(zip(header, data[1], strict=True))
    assert velo["Montant estimé (€ HT)"] == 120000  # a number, not text
    assert velo["Réponses reçues"] == 2 and velo["Thèmes"] == "Mobilité"
    assert velo["Déposé le"].year == 2017  # a date Excel can sort
    lits = dict(zip(header, data[2], strict=True))
    assert lits["Acheteur"] == "CHU d'Amiens" and lits["Confidentiel dans l'AMI"] == "oui"
    assert client.get("/suivi/besoins/export?format=pdf").status_code == 404


# --- the query budget ---------------------------------------------------------------------------------------


def test_the_answers_listing_renders_2000_answers_and_200_needs_in_bounded_queries(app, client, make, login):
    cycle = make.cycle(state="ami_sourcing")
    w = World(make, cycle)
    themes = [Theme(cycle=cycle, name=f"Thème {i}", position=i) for i in range(8)]
    buyers = [make.organization(f"Acheteur {i}", department=str(59 + i % 3)) for i in range(10)]
    needs = [w.need(f"Besoin {i:03d}", buyers[i % 10], themes=[themes[i % 8]]) for i in range(200)]
    companies = [w.company(f"Entreprise {i:03d}", department=("59", "62", "80")[i % 3],
                           size=("micro", "pme", "eti")[i % 3]) for i in range(150)]
    for i in range(2000):
        w.answer(f"Solution {i:04d}", companies[i % 150], [needs[i % 200], needs[(i * 7 + 3) % 200]],
                 trl=i % 9 + 1)
    db.session.commit()
    theme_id = themes[2].id
    db.session.expunge_all()
    admin = make.user(Role.ADMIN)
    login(admin)

    _last: list[str] = []

    def queries_for(url: str, warm: bool = False) -> int:
        db.session.expunge_all()
        if not warm:  # the department choices are kept a while per process: measure them read
            app.extensions.pop("listing_departments", None)
        with count_queries() as statements:
            response = client.get(url)
        assert response.status_code == 200
        _last[:] = statements
        return len(statements)

    small = queries_for("/suivi/reponses")
    app.config["PAGE_SIZE"] = 200
    large = queries_for("/suivi/reponses?sort=entreprise&order=asc&page=3")
    filtered = queries_for(f"/suivi/reponses?theme={theme_id}&size=pme&department=62")
    # The user with its roles, the cycles, the themes, the departments, the total, the page's ids, their rows,
    # their targets with their needs' titles (issue 11: twelve before; the ids apart from the rows since the
    # display's joins run for the page's rows only).
    assert small <= 8, "\n".join(s[:150] for s in _last)
    assert large == small and filtered == small  # the same, however many rows a page shows
    assert queries_for("/suivi/reponses", warm=True) == small - 1  # the department choices are not read again
    counted = [s for s in _last if "count(" in s.lower()]
    assert len(counted) == 1 and " JOIN " not in counted[0].upper()  # the total is counted on the table alone
    page = client.get("/suivi/reponses")
    assert "2000 résultats" in text_of(page) and len(rows_of(page)) == 200
    assert rows_of(client.get(f"/suivi/reponses?theme={theme_id}&size=pme&department=62"))
    export = queries_for("/suivi/reponses/export?format=csv")
    # Every row in one file: collections load in batches of 500 rows (SQLAlchemy's selectin), so 2,000 answers
    # cost four batches, never one query per answer.
    assert export <= 18, "\n".join(s[:100] for s in _last)


# --- Issue 9: hardening -----------------------------------------------------------------------------------


def test_the_csv_export_names_its_charset_once(client, staff, world):
    staff(Role.ADMIN)
    response = client.get("/suivi/reponses/export?format=csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"


# --- at scale: the need by its number, department choices kept a while, exports streamed ----------------------


def test_the_need_filter_takes_a_number_and_names_the_need(client, staff, world):
    staff(Role.ADMIN)
    response = client.get(f"/suivi/reponses?need={world.needs['lits'].id}")
    assert set(rows_of(response)) == {"Lit connecté", "Conciergerie mobile"}
    assert f"Besoin n° {world.needs['lits'].id} : Gestion des lits" in text_of(response)
    assert "<option" not in response.get_data(as_text=True).split('id="need"')[1].split("</div>")[0]
    bad = client.get("/suivi/reponses?need=vélo")
    assert bad.status_code == 422 and "Indiquez le numéro du besoin (en chiffres)" in text_of(bad)


def test_department_choices_are_kept_but_a_new_department_is_found(client, staff, world, make):
    staff(Role.ADMIN)
    assert client.get("/suivi/reponses?department=62").status_code == 200
    # A company from a department no answer had yet: the kept choices do not know it, they are read again.
    w = World(make, world.cycle)
    w.n = 50
    w.answer("Drone côtier", w.company("Drones du Nord", "02", "micro"), [world.needs["velo"]])
    db.session.commit()
    response = client.get("/suivi/reponses?department=02")
    assert response.status_code == 200 and rows_of(response) == ["Drone côtier"]


def test_exports_are_streamed_header_first(app, client, staff, world):
    staff(Role.ADMIN)
    started = []

    def spy(original):
        def batches(query):
            started.append(True)
            yield from original(query)
        return batches

    from innovation_cycle.services import listings

    original = listings._batches
    listings._batches = spy(original)
    try:
        response = client.get("/suivi/reponses/export?format=csv", buffered=False)
        assert response.is_streamed
        chunks = iter(response.response)
        first = next(chunks)
        assert first.startswith(b"\xef\xbb\xbfN\xc2\xb0;Solution;") and not started  # before any row is read
        rest = b"".join(chunks)
        assert started and b"Capteur v\xc3\xa9lo" in rest
        response.close()
        xlsx = client.get("/suivi/besoins/export?format=xlsx", buffered=False)
        assert xlsx.is_streamed and load_workbook(io.BytesIO(xlsx.get_data())).active.max_row == 4
    finally:
        listings._batches = original


# --- Issue 11: rows kept between requests (templating.rows_html) -------------------------------------------


def test_kept_rows_show_a_change_at_once(client, staff, world):
    """A row's HTML is kept under its values, its collections and counts, the page's links and labels and the
    language: each change below is a new key, so the page shows it on the next request."""
    staff(Role.ADMIN)
    assert "Comptage des vélos" in text_of(client.get("/suivi/besoins"))
    velo = world.needs["velo"]
    velo.title = "Comptage des vélos cargo"
    db.session.commit()
    page = text_of(client.get("/suivi/besoins"))
    assert "Comptage des vélos cargo" in page
    before = client.get("/suivi/besoins").get_data(as_text=True)
    link = f'href="/suivi/reponses?cycle={world.cycle.id}&amp;need={velo.id}">2</a>'
    assert link in before  # two answers target it
    world.answer("Nouvelle solution", world.answers["lit"].company, [velo])
    db.session.commit()
    after = client.get("/suivi/besoins").get_data(as_text=True)
    assert link.replace(">2<", ">3<") in after
    answers = text_of(client.get("/suivi/reponses"))
    assert "Nouvelle solution" in answers
    capteur = world.answers["capteur"]
    capteur.status = "eligible"
    db.session.commit()
    row = re.search(r"Capteur vélo.*?</tr>", client.get("/suivi/reponses").get_data(as_text=True), re.S).group(0)
    assert "Éligible" in html.unescape(row)
    client.post("/langue", data={"lang": "en", "next": "/suivi/reponses"})
    row = re.search(r"Capteur vélo.*?</tr>", client.get("/suivi/reponses").get_data(as_text=True), re.S).group(0)
    assert "Éligible" not in html.unescape(row) and "Eligible" in row


def test_kept_rows_keep_each_readers_links(client, staff, world, make, login):
    """The admin's rows are linked, a member's are not (needs) — the same rows, kept apart by their links."""
    staff(Role.ADMIN)
    assert 'href="/besoins/' in client.get("/suivi/besoins").get_data(as_text=True)
    member = make.user(Role.COMMITTEE_MEMBER)
    world.cycle.committee.append(CommitteeMember(user_id=member.id))
    db.session.commit()
    client.post("/compte/deconnexion")
    login(member)
    body = client.get("/suivi/besoins").get_data(as_text=True)
    assert "Comptage des vélos" in body and 'href="/besoins/' not in body
