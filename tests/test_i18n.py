"""The English catalog: translations keep their placeholders, and pages switched to English speak English.

French is the source language (the msgids). The catalog is not required to be complete here: other areas keep
adding French strings, and an untranslated string simply shows in French. What must never happen is a
translation that breaks formatting (a lost or renamed %(name)s raises KeyError at render time, or drops a
value) or a page that stays French although its strings are translated.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from innovation_cycle.models import Role

CATALOGS = sorted((Path(__file__).resolve().parent.parent / "innovation_cycle" / "translations")
                  .glob("*/LC_MESSAGES/messages.po"))
# %(name)s, %(num)d ... and the literal percent sign %%, which must stay doubled in python-format strings.
PLACEHOLDER = re.compile(r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[sdifr]|%%")


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def test_there_is_an_english_catalog():
    assert [p.parent.parent.name for p in CATALOGS] == ["en"]


@pytest.mark.parametrize("po", CATALOGS, ids=lambda p: p.parent.parent.name)
def test_every_translation_keeps_the_placeholders_of_its_msgid(po):
    with po.open("rb") as source:
        catalog = read_po(source)
    wrong = []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for index, string in enumerate(strings):
            if not string:
                continue  # untranslated: gettext falls back to the French msgid
            # Plural forms follow the plural msgid (index ≥ 1); a language whose singular form is used for 0
            # or 1 alone may drop %(num)d, so the singular is checked against the plural's names too.
            source_text = ids[min(index, len(ids) - 1)]
            expected = placeholders(source_text)
            if len(ids) > 1 and index == 0:
                ok = set(placeholders(string)) <= set(expected) and \
                    [p for p in placeholders(string) if p == "%%"] == [p for p in expected if p == "%%"]
            else:
                ok = placeholders(string) == expected
            if not ok:
                wrong.append((ids[0], string))
    assert not wrong, "\n".join(f"{msgid!r} -> {string!r}" for msgid, string in wrong)


# --- pages switched to English ---------------------------------------------------------------------------


def english(client) -> None:
    assert client.post("/langue", data={"lang": "en", "next": "/"}).status_code == 302


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def assert_speaks(text: str, english_texts: list[str], french_texts: list[str]) -> None:
    assert '<html lang="en"' in text
    for expected in english_texts:
        assert expected in text, expected
    for french in french_texts:
        assert french not in text, french


def test_home_page_in_english(client, make):
    make.cycle(year=2017, state="needs_collection")
    english(client)
    response = client.get("/")
    assert response.status_code == 200
    assert_speaks(text_of(response),
                  ["The steering committee", "Founding partners", "Sign in", "Needs collection"],
                  ["Le comité de pilotage", "Les partenaires fondateurs", "Se connecter", "Collecte des besoins"])


def test_login_page_and_its_errors_in_english(client):
    english(client)
    response = client.get("/compte/connexion")
    assert response.status_code == 200
    assert_speaks(text_of(response),
                  ["Sign in with your email address", "Forgotten your password?", "Do you represent a company?"],
                  ["Se connecter avec son adresse électronique", "Mot de passe oublié ?",
                   "Vous représentez une entreprise ?"])
    # The form's messages are lazy strings built at import time: they must follow the request's language.
    response = client.post("/compte/connexion", data={"email": "", "password": ""})
    assert response.status_code == 422
    assert_speaks(text_of(response),
                  ["Enter your email address.", "Enter your password.", "The form contains 2 errors"],
                  ["Indiquez votre adresse électronique.", "Indiquez votre mot de passe.", "Le formulaire contient"])


def test_admin_cycle_page_in_english(client, make, login):
    admin = make.user(Role.ADMIN)
    cycle = make.cycle(year=2017, state="draft")
    login(admin)
    english(client)
    response = client.get(f"/admin/cycles/{cycle.id}")
    assert response.status_code == 200
    assert_speaks(text_of(response),
                  ["Calendar (Paris time)", "Edit the calendar", "Prepare next year's cycle", "Draft"],
                  ["Calendrier (heure de Paris)", "Modifier le calendrier", "Préparer le cycle de l'année suivante",
                   "Brouillon"])


def test_forbidden_page_in_english(client, make, login):
    login(make.user(Role.BUYER))
    english(client)
    response = client.get("/admin/cycles")
    assert response.status_code == 403
    assert_speaks(text_of(response),
                  ["Access denied", "Your role does not give you access to this page.", "Back to the home page"],
                  ["Accès refusé", "Votre rôle ne vous permet pas", "Retour à l'accueil"])
