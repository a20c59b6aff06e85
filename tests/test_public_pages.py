"""What visitors and signed-in users see: the home page's cycle calendar, the accessibility statement,
the neutral theme, the English switch and the dashboard's task list."""

from __future__ import annotations

import html
import re

import pytest

from innovation_cycle.clock import paris_datetime
from innovation_cycle.models import Role

STAGE_DATES = [
    ("Collecte des besoins", "1er février 2017", "31 mars 2017"),
    ("Sourcing par l'AMI", "1er avril 2017", "30 avril 2017"),
    ("Listing et sélection", "1er mai 2017", "31 juillet 2017"),
    ("Recensement des engagements d'achat", "1er août 2017", "30 septembre 2017"),
    ("Communication des résultats", "1er octobre 2017", "31 octobre 2017"),
]


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def stage_rows(text: str) -> list[str]:
    """The rows of the home page's calendar table, tags stripped."""
    tbody = text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in tbody.split("</tr>")[:-1]]


def current_row(text: str) -> str:
    tbody = text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    marked = [row for row in tbody.split("</tr>") if 'aria-current="step"' in row]
    assert len(marked) <= 1
    return " ".join(re.sub(r"<[^>]+>", " ", marked[0]).split()) if marked else ""


def test_home_without_cycle_says_so(client):
    text = page(client, "/")
    assert "Trois niveaux de contribution" in text
    assert "Les partenaires fondateurs" in text and "Le comité de pilotage" in text
    assert "Aucun cycle n'est encore programmé" in text
    assert "fr-stepper" not in text


def test_home_shows_the_five_stages_with_their_paris_dates(client, make):
    make.cycle(year=2017, state="ami_sourcing")
    text = page(client, "/")
    rows = stage_rows(text)
    assert len(rows) == 5
    for row, (label, opens, closes) in zip(rows, STAGE_DATES, strict=True):
        assert label in row and opens in row and closes in row
    assert "Étape 2 sur 5" in text
    assert "Étape suivante :" in text and "Listing et sélection" in text
    assert "Sourcing par l'AMI" in current_row(text) and "En cours" in current_row(text)
    assert "Terminée" in rows[0] and all("À venir" in row for row in rows[2:])


def test_home_before_the_cycle_opens(client, make):
    make.cycle(year=2017, state="draft")
    text = page(client, "/")
    assert "Le cycle n'est pas encore ouvert" in text
    assert "à partir du 1er février 2017" in text
    assert current_row(text) == ""
    assert all("À venir" in row for row in stage_rows(text))


def test_home_after_the_cycle_closed(client, make):
    make.cycle(year=2017, state="closed")
    text = page(client, "/")
    assert "Cycle terminé" in text
    assert all("Terminée" in row for row in stage_rows(text))


def test_accessibility_statement(client, app):
    text = page(client, "/accessibilite")
    assert "Déclaration d'accessibilité" in text
    assert "non conforme" in text
    assert "RGAA" in text and "4.1" in text
    assert "Défenseur des droits" in text
    assert app.config["OPERATOR_NAME"] in text


@pytest.mark.parametrize("branding", [True, False])
def test_state_branding_switches_the_theme(client, app, branding):
    app.config["STATE_BRANDING"] = branding
    text = page(client, "/")
    assert ("dsfr/dsfr.min.css" in text) is branding
    assert ("dsfr.module.min.js" in text) is branding
    assert ("République" in text) is branding
    assert ("neutral.css" in text) is not branding
    assert "app.css" in text


def test_static_themes_are_served(client):
    assert client.get("/static/neutral.css").status_code == 200
    assert client.get("/static/app.css").status_code == 200


def test_language_switch_to_english_and_back(client, make):
    make.cycle(year=2017, state="selection")
    response = client.post("/langue", data={"lang": "en", "next": "/"})
    assert response.status_code == 302
    text = page(client, "/")
    assert '<html lang="en"' in text
    assert "Five stages every year" in text
    assert "Stage 3 of 5" in text
    assert "1 February 2017" in text
    assert "Cinq étapes chaque année" not in text
    client.post("/langue", data={"lang": "fr", "next": "/"})
    assert "Cinq étapes chaque année" in page(client, "/")


def test_unknown_language_and_foreign_next_are_ignored(client):
    response = client.post("/langue", data={"lang": "xx", "next": "https://evil.example/"})
    assert response.status_code == 302
    assert "evil.example" not in response.headers["Location"]
    assert "Cinq étapes chaque année" in page(client, "/")


# --- the dashboard template ------------------------------------------------------------------------------


def test_dashboard_empty_state_greets_by_name_and_role(client, make, login):
    user = make.user(Role.BUYER, name="Camille Martin", organization=make.organization("Ville de Lille"))
    login(user)
    text = page(client, "/tableau-de-bord/")
    assert "Bonjour Camille Martin" in text
    assert "Ville de Lille" in text and "Acheteur public" in text
    assert "Rien à faire pour l'instant" in text


def test_dashboard_lists_tasks_with_deadline_link_and_urgency(client, make, login, clock):
    cycle = make.cycle(year=2017, state="draft")
    admin = make.user(Role.ADMIN)
    login(admin)
    text = page(client, "/tableau-de-bord/")
    assert "Cycle 2017 : vérifier le calendrier et ouvrir la collecte des besoins" in text
    assert "1er février 2017 à 00:00" in text
    assert f'href="/admin/cycles/{cycle.id}"' in text or f"/admin/cycles/{cycle.id}" in text
    assert "Urgent" not in text
    assert "Le cycle n'est pas encore ouvert" in text

    clock.set(paris_datetime(2017, 1, 29, 9, 0))
    assert "Urgent" in page(client, "/tableau-de-bord/")
