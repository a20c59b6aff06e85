"""The AMI: the admin writes it (with the prefilled legal notice) before the cycle may enter ami_sourcing; its
public page shows only accepted needs while it is open, grouped by theme, with confidential buyers hidden;
after its close the page says so, with its dates."""

from __future__ import annotations

import html
import io
import re

import pytest
from sample_files import EXE, pdf_bytes
from sqlalchemy import select

from innovation_cycle.clock import paris_datetime
from innovation_cycle.extensions import db
from innovation_cycle.models import AmiCall, Attachment, AuditEvent, Need, OrganizationKind, Role, Theme
from innovation_cycle.services import ami as ami_service
from innovation_cycle.services import cycles

AMI_OPEN = paris_datetime(2017, 4, 10, 9)
AMI_CLOSED = paris_datetime(2017, 5, 2, 9)


def text_of(response) -> str:
    """The page as a person reads it: without tags, entities decoded, blanks collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))))


def write_ami(cycle, **overrides) -> AmiCall:
    values = {**ami_service.default_texts(cycle), **overrides}
    ami, _changed = ami_service.save_text(cycle, values, actor=None)
    db.session.commit()
    return ami


def add_need(cycle, organization, title, status="accepted", themes=(), **kw) -> Need:
    now = paris_datetime(2017, 2, 10)
    need = Need(cycle=cycle, organization=organization, title=title, problem=kw.pop("problem", f"Problème : {title}"),
                status=status, created_at=now, updated_at=now, **kw)
    need.themes = list(themes)
    db.session.add(need)
    db.session.commit()
    return need


@pytest.fixture
def admin(make):
    return make.user(Role.ADMIN, organization=make.organization("Préfecture", OrganizationKind.STATE_SERVICE))


@pytest.fixture
def cycle(make):
    return make.cycle(state="needs_collection")


# --- the admin writes it -------------------------------------------------------------------------------------


def test_the_form_is_prefilled_with_the_legal_notice(client, login, admin, cycle):
    login(admin)
    page = text_of(client.get(f"/ami/{cycle.id}/rediger"))
    assert "article R2111-1 du Code de la commande publique" in page
    assert "ne vaut pas attribution d'un marché et n'oblige aucun acheteur à acheter" in page
    assert "article L2172-3" in page and "TPE-PME" in page
    assert "1er avril 2017" in page and "30 avril 2017" in page  # the calendar, from the cycle's windows


def test_writing_the_ami_validates_each_field_and_audits(client, login, admin, cycle):
    login(admin)
    data = {**ami_service.default_texts(cycle), "title": "  ", "legal_notice": ""}
    response = client.post(f"/ami/{cycle.id}/rediger", data=data)
    assert response.status_code == 422
    page = text_of(response)
    assert "Le formulaire contient 2 erreurs" in page
    assert "Titre de l'AMI : Ce champ est obligatoire." in page and "Mention légale : Ce champ est obligatoire." in page
    assert db.session.scalar(select(AmiCall.id)) is None

    data.update(title="AMI 2017 <b>innovation</b>", legal_notice="Sourcing (art. R2111-1).")
    response = client.post(f"/ami/{cycle.id}/rediger", data=data)
    assert response.status_code == 302
    ami = db.session.scalar(select(AmiCall))
    assert ami.title == "AMI 2017 <b>innovation</b>"
    row = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "ami.create"))
    assert row.actor_id == admin.id and row.after["title"] == ami.title
    page = client.get(f"/ami/{cycle.id}/rediger").get_data(as_text=True)
    assert "AMI 2017 &lt;b&gt;innovation&lt;/b&gt;" in page  # shown as text, never run


def test_once_published_a_change_needs_a_reason_and_after_the_close_none_is_possible(client, login, admin, cycle,
                                                                                      clock):
    write_ami(cycle)
    cycle.state = "ami_sourcing"
    db.session.commit()
    clock.set(AMI_OPEN)
    login(admin)
    data = {**ami_service.default_texts(cycle), "title": "AMI 2017 (corrigé)"}
    response = client.post(f"/ami/{cycle.id}/rediger", data=data)
    assert response.status_code == 422 and "indiquez la raison de la modification" in text_of(response)
    response = client.post(f"/ami/{cycle.id}/rediger", data={**data, "reason": "Coquille dans le titre"})
    assert response.status_code == 302
    row = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "ami.update"))
    assert row.reason == "Coquille dans le titre" and row.after == {"title": "AMI 2017 (corrigé)"}

    clock.set(AMI_CLOSED)
    response = client.post(f"/ami/{cycle.id}/rediger", data={**data, "title": "Trop tard", "reason": "r"})
    assert response.status_code == 422 and "L'AMI est clos" in text_of(response)
    db.session.expire_all()
    assert db.session.scalar(select(AmiCall.title)) == "AMI 2017 (corrigé)"


def test_the_rules_document_is_checked_and_replaced(client, login, admin, cycle):
    login(admin)
    response = client.post(f"/ami/{cycle.id}/reglement",
                           data={"file": (io.BytesIO(pdf_bytes()), "reglement.pdf")})
    assert response.status_code == 422 and "Rédigez et enregistrez d'abord le texte" in text_of(response)
    write_ami(cycle)
    response = client.post(f"/ami/{cycle.id}/reglement", data={"file": (io.BytesIO(EXE), "reglement.pdf")})
    assert response.status_code == 422
    assert "Règlement de l'AMI (PDF) : Ce fichier est un programme ou un script" in text_of(response)
    for version in (1, 2):
        response = client.post(f"/ami/{cycle.id}/reglement",
                               data={"file": (io.BytesIO(pdf_bytes(1000 + version)), f"reglement-v{version}.pdf")})
        assert response.status_code == 302
    assert db.session.scalars(select(Attachment.original_name)).all() == ["reglement-v2.pdf"]
    rules = db.session.scalar(select(Attachment))
    page = client.get(f"/ami/{cycle.id}/rediger").get_data(as_text=True)
    assert f'href="/pieces-jointes/{rules.id}"' in page and "reglement-v2.pdf" in page
    assert f'action="/pieces-jointes/{rules.id}/supprimer"' in page  # the admin may remove it


# --- the cycle's guard -------------------------------------------------------------------------------------


def _ami_refusals(cycle) -> list[str]:
    found = cycles.move_refusals(cycle, "advance", forced=True, reason="Calendrier avancé")
    return [cycles.refusal_message(r) for r in found if r.code == "ami_missing"]


def test_the_cycle_cannot_enter_ami_sourcing_without_the_ami_text(client, login, admin, cycle, clock):
    clock.set(paris_datetime(2017, 4, 1, 9))  # the needs collection's window has closed
    [message] = _ami_refusals(cycle)
    assert "Le texte de l'AMI n'est pas rédigé" in message
    login(admin)
    page = text_of(client.get(f"/admin/cycles/{cycle.id}"))
    assert "Le texte de l'AMI n'est pas rédigé" in page  # the admin sees why, before pressing
    write_ami(cycle)
    assert _ami_refusals(cycle) == []


# --- the public page ---------------------------------------------------------------------------------------


@pytest.fixture
def published(make, cycle, clock):
    """An AMI open on 10 April 2017 with needs in every state, two themes and a confidential buyer."""
    mel = make.organization("Métropole européenne de Lille (MEL)")
    secret = make.organization("Centre hospitalier discret", OrganizationKind.HOSPITAL)
    mobility = Theme(cycle=cycle, name="Mobilité", position=1)
    energy = Theme(cycle=cycle, name="Énergie", position=2)
    db.session.add_all([mobility, energy])
    needs = {
        "accepted": add_need(cycle, mel, "Comptage des vélos en temps réel", themes=[mobility],
                             procurement_category="goods", open_to_experimentation=True),
        "confidential": add_need(cycle, secret, "Suivi énergétique des bâtiments", themes=[energy, mobility],
                                 confidential=True, procurement_category="services"),
        "no_theme": add_need(cycle, mel, "Accueil des usagers <script>alert(1)</script>",
                             non_technological_welcome=True),
    }
    for status in ("draft", "submitted", "returned", "rejected"):
        needs[status] = add_need(cycle, mel, f"Besoin {status} invisible", status=status, themes=[mobility])
    needs["merged"] = add_need(cycle, mel, "Besoin fusionné invisible", status="merged",
                               merged_into_id=needs["accepted"].id)
    write_ami(cycle, title="AMI 2017 : solutions innovantes")
    cycle.state = "ami_sourcing"
    db.session.commit()
    clock.set(AMI_OPEN)
    return needs


def test_the_public_sees_only_accepted_needs_during_the_ami(client, published):
    response = client.get("/ami")
    assert response.status_code == 200
    page = text_of(response)
    assert "AMI 2017 : solutions innovantes" in page and "L'AMI est ouvert" in page
    assert "Vous pouvez répondre jusqu'au 30 avril 2017 à 23:59" in page
    assert "Comptage des vélos en temps réel" in page and "Suivi énergétique des bâtiments" in page
    assert "invisible" not in page
    assert "3 besoins" in page
    raw = response.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in raw and "&lt;script&gt;alert(1)&lt;/script&gt;" in raw


def test_needs_are_grouped_by_theme_and_confidential_buyers_are_hidden(client, published):
    response = client.get("/ami")
    page = text_of(response)
    mobility, energy, others = page.index("Mobilité 2"), page.index("Énergie 1"), page.index("Autres besoins 1")
    assert mobility < energy < others
    # The confidential need shows under both its themes, never with its buyer's name.
    headings = re.findall(r"<h4[^>]*>([^<]+)</h4>", response.get_data(as_text=True))
    assert headings.count("Suivi énergétique des bâtiments") == 2
    assert "Centre hospitalier discret" not in page
    assert page.count("Acheteur : un acheteur public de la région") == 2
    assert "Acheteur : Métropole européenne de Lille (MEL)" in page


def test_search_and_filters(client, published):
    def titles(query: str) -> set[str]:
        page = text_of(client.get("/ami?" + query))
        return {t for t in ("Comptage des vélos", "Suivi énergétique", "Accueil des usagers") if t in page}

    assert titles("q=vélos") == {"Comptage des vélos"}
    assert titles("q=VÉLOS+temps") == {"Comptage des vélos"}
    assert titles("q=Métropole") == {"Comptage des vélos", "Accueil des usagers"}
    assert titles("q=hospitalier") == set()  # a confidential buyer cannot be found by its name either
    assert titles("q=100%25") == set()
    theme = db.session.scalar(select(Theme).where(Theme.name == "Énergie"))
    assert titles(f"theme={theme.id}") == {"Suivi énergétique"}
    assert titles("category=goods") == {"Comptage des vélos"}
    assert titles("experimentation=y") == {"Comptage des vélos"}
    assert titles("theme=abc&category=nonsense") == {"Comptage des vélos", "Suivi énergétique", "Accueil des usagers"}
    assert "Aucun besoin ne correspond à votre recherche" in text_of(client.get("/ami?q=introuvable"))


def test_before_the_ami_the_page_says_when_it_opens_and_shows_no_need(client, login, make, cycle, clock):
    add_need(cycle, make.organization("Ville de Lille"), "Besoin déjà accepté")
    page = text_of(client.get("/ami"))
    assert "L'AMI 2017 n'est pas encore ouvert" in page and "1er avril 2017" in page
    assert "Besoin déjà accepté" not in page
    write_ami(cycle)
    assert "Besoin déjà accepté" not in text_of(client.get(f"/ami/{cycle.id}"))
    login(make.user(Role.ADMIN))  # the admin previews it
    page = text_of(client.get(f"/ami/{cycle.id}"))
    assert "Aperçu : cette page n'est pas encore publique" in page and "Besoin déjà accepté" in page


def test_after_the_close_the_page_says_so_with_its_dates(client, published, clock):
    clock.set(AMI_CLOSED)
    page = text_of(client.get("/ami"))
    assert "L'AMI est clos" in page
    assert "Il était ouvert du 1er avril 2017 au 30 avril 2017 à 23:59" in page
    assert "Comptage des vélos" not in page and "Répondre à l'AMI" not in page
    cycle = published["accepted"].cycle
    cycle.state = "selection"
    db.session.commit()
    assert "L'AMI est clos" in text_of(client.get(f"/ami/{cycle.id}"))
    assert client.get("/ami/999").status_code == 404


def test_ami_openness_follows_the_state_and_the_deadline(cycle):
    assert ami_service.phase(cycle) == "upcoming" and not ami_service.is_open(cycle)
    cycle.state = "ami_sourcing"
    assert ami_service.is_open(cycle, paris_datetime(2017, 4, 30, 23, 58))
    assert not ami_service.is_open(cycle, paris_datetime(2017, 4, 30, 23, 59))
    assert ami_service.phase(cycle, paris_datetime(2017, 5, 1)) == "closed"


def test_the_dashboard_reminds_the_admin_to_write_the_ami(client, login, admin, cycle):
    login(admin)
    page = text_of(client.get("/tableau-de-bord/"))
    assert "Cycle 2017 : rédiger le texte de l'AMI avant l'ouverture de l'étape « Sourcing par l'AMI »" in page
    write_ami(cycle)
    assert "rédiger le texte de l'AMI" not in text_of(client.get("/tableau-de-bord/"))


def test_the_dashboard_of_the_pfra_follows_the_answers_during_the_ami(client, login, make, published):
    login(make.user(Role.PFRA_AGENT))
    assert "AMI 2017 : aucune réponse reçue pour l'instant" in text_of(client.get("/tableau-de-bord/"))


# --- at scale: bounded, translated once, cached for anonymous readers ------------------------------------------


@pytest.fixture
def crowded(make, cycle, clock):
    """An open AMI with 3 themes of 9 needs each (one need in two themes) and 9 needs without a theme."""
    buyer = make.organization("Ville de Roubaix")
    themes = [Theme(cycle=cycle, name=f"Thème {i}", position=i) for i in range(3)]
    db.session.add_all(themes)
    for t, theme in enumerate(themes):
        for i in range(9):
            add_need(cycle, buyer, f"Besoin {t}-{i}", themes=[theme] + ([themes[2]] if (t, i) == (0, 0) else []))
    for i in range(9):
        add_need(cycle, buyer, f"Sans thème {i}")
    write_ami(cycle)
    cycle.state = "ami_sourcing"
    db.session.commit()
    clock.set(AMI_OPEN)
    return themes


def _cards(response) -> list[str]:
    return re.findall(r"<h4[^>]*>([^<]+)</h4>", response.get_data(as_text=True))


def test_the_overview_shows_a_few_needs_per_theme_and_links_to_the_rest(app, client, crowded):
    app.config.update(AMI_THEME_PREVIEW=4, AMI_PAGE_SIZE=5)
    response = client.get("/ami")
    page = text_of(response)
    assert "36 besoins" in page  # distinct needs: the one in two themes counts once
    assert "Thème 0 9" in page and "Thème 2 10" in page and "Autres besoins 9" in page
    cards = _cards(response)
    assert len(cards) == 4 * 4  # four per section, whatever the number of needs
    assert cards.count("Besoin 0-0") == 2  # under each of its two themes, once
    assert "Voir les 10 besoins de ce thème" in page
    link = f'/ami?theme={crowded[2].id}#besoins'
    assert link in response.get_data(as_text=True)
    assert '/ami?theme=0#besoins' in response.get_data(as_text=True)  # the needs without a theme


def test_a_theme_is_shown_a_page_at_a_time(app, client, crowded):
    app.config.update(AMI_THEME_PREVIEW=4, AMI_PAGE_SIZE=4)
    theme = crowded[2]
    first = client.get(f"/ami?theme={theme.id}")
    assert _cards(first) == ["Besoin 0-0", "Besoin 2-0", "Besoin 2-1", "Besoin 2-2"]
    assert "10 besoins" in text_of(first) and "Page suivante" in text_of(first)
    third = client.get(f"/ami?theme={theme.id}&page=3")
    assert _cards(third) == ["Besoin 2-7", "Besoin 2-8"]
    assert _cards(client.get("/ami?theme=0&q=Sans&page=3")) == ["Sans thème 8"]
    # A search without a theme keeps the overview; its "see all" link keeps the search.
    searched = client.get("/ami?q=2-")
    assert "9 besoins correspondent" in text_of(searched)
    assert f"/ami?theme={theme.id}&amp;q=2-#besoins" in searched.get_data(as_text=True)


def test_the_page_costs_the_same_queries_for_9_or_90_needs_per_theme(app, client, make, crowded):
    from test_query_budgets import count_queries

    theme_ids = [t.id for t in crowded]
    cycle_id = crowded[0].cycle_id

    def queries(url: str) -> int:
        app.extensions.pop("ami_public_fragments", None)
        db.session.expunge_all()
        with count_queries() as statements:
            assert client.get(url).status_code == 200
        return len(statements)

    before = (queries("/ami"), queries(f"/ami?theme={theme_ids[0]}"))
    buyer = make.organization("Ville de Tourcoing")
    for theme_id in theme_ids:
        theme = db.session.get(Theme, theme_id)
        for i in range(80):
            db.session.add(Need(cycle_id=cycle_id, organization=buyer, title=f"Autre {theme.name} {i}",
                                problem="p", status="accepted", created_at=AMI_OPEN, updated_at=AMI_OPEN,
                                themes=[theme]))
    db.session.commit()
    after = (queries("/ami"), queries(f"/ami?theme={theme_ids[0]}"))
    assert after == before and max(after) <= 14, (before, after)


def test_anonymous_readers_get_a_cached_section_renewed_when_a_need_changes(app, client, login, make, crowded, clock):
    from test_query_budgets import count_queries

    cache = app.extensions.setdefault("ami_public_fragments", ami_service_cache())
    assert "27 besoins" not in text_of(client.get("/ami"))
    first = client.get("/ami").get_data(as_text=True)
    assert cache.hits == 1 and cache.misses == 1
    with count_queries() as statements:
        assert client.get("/ami").get_data(as_text=True) == first
    # Issue 11: the whole page is cached; a hit reads the cycle with its windows, and the signature.
    assert len(statements) <= 2, statements
    # A need withdrawn from the AMI (its service stamps updated_at): a new key, the page changes at once.
    need = db.session.scalar(select(Need).where(Need.title == "Besoin 1-3"))
    need.status, need.updated_at = "rejected", clock.now()
    db.session.commit()
    page = text_of(client.get("/ami"))
    assert "35 besoins" in page and "Besoin 1-3" not in page
    # A new accepted need, the AMI text changed, the cycle moved: each renews it too.
    add_need(need.cycle, need.organization, "Besoin tout neuf", themes=[crowded[1]])
    assert "36 besoins" in text_of(client.get("/ami"))
    # A signed-in reader is never served the anonymous copy (and never fills it).
    misses = cache.misses
    login(make.user(Role.ADMIN))
    assert "36 besoins" in text_of(client.get("/ami"))
    assert cache.misses == misses


def ami_service_cache():
    from innovation_cycle.services.page_cache import FragmentCache

    return FragmentCache()
