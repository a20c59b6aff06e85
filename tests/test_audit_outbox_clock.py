"""The audit trail page, the mail outbox page and the demo clock."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from innovation_cycle import clock as app_clock
from innovation_cycle.clock import SystemClock, paris_datetime
from innovation_cycle.extensions import db
from innovation_cycle.models import AuditEvent, OutboxMessage, Role, Setting


def text(response) -> str:
    """The page as a reader sees it: entities decoded, non-breaking spaces as spaces."""
    return html.unescape(response.get_data(as_text=True)).replace("\xa0", " ").replace("\u202f", " ")


def rows(response) -> list[str]:
    """The body rows of the page's table, as text."""
    body = response.get_data(as_text=True)
    return [html.unescape(re.sub(r"<[^>]+>", " ", r)) for r in re.findall(r"<tr class=\"audit-event\">(.*?)</tr>",
                                                                          body, re.S)]


@pytest.fixture
def admin(make, login):
    user = make.user(Role.ADMIN, email="secretariat@orcp.example")
    login(user)
    return user


def _event(at: datetime, action: str, object_type: str = "cycles", object_id: int | None = 1,
           actor: str = "secretariat@orcp.example", **kw) -> AuditEvent:
    event = AuditEvent(at=at, actor_label=actor, action=action, object_type=object_type, object_id=object_id, **kw)
    db.session.add(event)
    db.session.commit()
    return event


# --- audit trail ---------------------------------------------------------------------------------------


@pytest.fixture
def trail(app):
    """Four events around midnight in Paris on 1–2 March 2017 (UTC+1 then)."""
    _event(paris_datetime(2017, 2, 28, 9, 0), "convention.create", "conventions", 7, actor="alice@orcp.example",
           after={"name": "Convention 2017"})
    _event(paris_datetime(2017, 3, 1, 23, 30), "cycle.advance", "cycles", 3, before={"state": "draft"},
           after={"state": "needs_collection"}, reason="Ouverture de la collecte")
    _event(paris_datetime(2017, 3, 2, 0, 30), "cycle.advance", "cycles", 4, before={"state": "selection"},
           after={"state": "commitment_census"})
    _event(paris_datetime(2017, 3, 3, 12, 0), "user.update", "users", 3, actor="bob@orcp.example",
           before={"roles": ["buyer"]}, after={"roles": ["buyer", "committee_member"]})


def test_audit_page_newest_first_in_paris_time(client, admin, trail):
    response = client.get("/admin/journal")
    assert response.status_code == 200
    listed = rows(response)
    assert len(listed) == 4
    assert "user.update" in listed[0] and "convention.create" in listed[-1]
    assert "1er mars 2017 à 23:30" in listed[2]  # shown in Paris time, not UTC (22:30); « 1er » (issue 10)
    assert '"state": "draft"' in listed[2] and '"state": "needs_collection"' in listed[2]
    assert "Ouverture de la collecte" in listed[2]
    assert '"roles": ["buyer", "committee_member"]' in listed[0]


@pytest.mark.parametrize(("query", "expected"), [
    ("action=cycle.advance", ["Cycle n° 4", "Cycle n° 3"]),
    ("object_type=users", ["Compte n° 3"]),
    ("object_id=3", ["Compte n° 3", "Cycle n° 3"]),
    ("object_type=cycles&object_id=3", ["Cycle n° 3"]),
    ("actor=ALICE", ["Convention n° 7"]),
    ("since=2017-03-02", ["Compte n° 3", "Cycle n° 4"]),
    ("until=2017-03-01", ["Cycle n° 3", "Convention n° 7"]),  # 23:30 in Paris on the 1st is still the 1st
    ("since=2017-03-01&until=2017-03-01", ["Cycle n° 3"]),
    ("since=2017-03-04", []),
])
def test_audit_filters_filter(client, admin, trail, query, expected):
    response = client.get(f"/admin/journal?{query}")
    assert response.status_code == 200
    # Issue 10: the object is named in French (« Cycle n° 3 »), not by its table.
    objects = [re.search(r"(\w+ n° \d+)", r).group(1) for r in rows(response)]
    assert objects == expected


@pytest.mark.parametrize(("query", "message"), [
    ("since=hier", "Date invalide"),
    ("object_id=abc", "Indiquez un nombre entier."),
    ("since=2017-03-03&until=2017-03-01", "La date de fin doit être postérieure à la date de début."),
])
def test_audit_bad_filters_are_explained(client, admin, trail, query, message):
    response = client.get(f"/admin/journal?{query}")
    assert response.status_code == 422
    assert message in text(response)


def test_audit_page_escapes_and_offers_no_edit(client, admin, app):
    _event(paris_datetime(2017, 1, 2), "organization.update", "organizations", None,
           after={"name": "<script>alert(1)</script>"}, reason="<b>gras</b>")
    page = client.get("/admin/journal").get_data(as_text=True)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>gras</b>" not in page
    main = page.split('id="contenu"')[1]
    assert 'method="post"' not in main and "Supprimer" not in main and "Modifier" not in main
    assert client.post("/admin/journal").status_code == 405


def test_audit_links_to_objects_and_paginates(client, admin, app, make):
    org = make.organization("Ville de Lille")
    app.config["PAGE_SIZE"] = 2
    for day in range(1, 6):
        _event(paris_datetime(2017, 1, day), f"test.{day}", "organizations", org.id)
    first = client.get("/admin/journal")
    assert [re.search(r"test\.\d", r).group(0) for r in rows(first)] == ["test.5", "test.4"]
    assert f'href="/admin/organisations/{org.id}"' in text(first) and "5 résultats" in text(first)
    third = client.get("/admin/journal?page=3&object_type=organizations")
    assert [re.search(r"test\.\d", r).group(0) for r in rows(third)] == ["test.1"]
    # The page links keep the filters.
    assert 'href="/admin/journal?page=2&object_type=organizations"' in text(third)


# --- outbox --------------------------------------------------------------------------------------------


@pytest.fixture
def mails(app):
    sent = OutboxMessage(recipient="alice@lille.fr", subject="Invitation", body_text="Bonjour Alice,\nLien : x",
                         body_html="<p>Bonjour <strong>Alice</strong></p><script>alert(1)</script>",
                         created_at=paris_datetime(2017, 1, 10, 9), sent_at=paris_datetime(2017, 1, 10, 9, 1),
                         transport="smtp", status="sent", attempts=1)
    failed = OutboxMessage(recipient="bob@amiens.fr", subject="Rappel", body_text="Bonjour Bob", kind="reminder",
                           created_at=paris_datetime(2017, 1, 11, 9), last_error="451 Temporary failure",
                           status="failed", attempts=5)
    pending = OutboxMessage(recipient="chloe@mel.fr", subject="Confirmation", body_text="Bonjour Chloé",
                            created_at=paris_datetime(2017, 1, 12, 9))
    db.session.add_all([sent, failed, pending])
    db.session.commit()
    return sent, failed, pending


def test_outbox_lists_mails(client, admin, mails):
    response = client.get("/admin/courriels")
    assert response.status_code == 200
    page = text(response)
    for recipient in ("alice@lille.fr", "bob@amiens.fr", "chloe@mel.fr"):
        assert recipient in page
    assert page.index("chloe@mel.fr") < page.index("bob@amiens.fr") < page.index("alice@lille.fr")
    assert "451 Temporary failure" in page and "smtp" in page and "10 janvier 2017 à 09:01" in page


@pytest.mark.parametrize(("query", "shown", "hidden"), [
    ("recipient=LILLE", ["alice@lille.fr"], ["bob@amiens.fr", "chloe@mel.fr"]),
    ("status=sent", ["alice@lille.fr"], ["bob@amiens.fr", "chloe@mel.fr"]),
    ("status=failed", ["bob@amiens.fr"], ["alice@lille.fr", "chloe@mel.fr"]),
    ("status=pending", ["chloe@mel.fr"], ["alice@lille.fr", "bob@amiens.fr"]),
    ("kind=reminder", ["bob@amiens.fr"], ["alice@lille.fr", "chloe@mel.fr"]),
    ("kind=account&recipient=mel", ["chloe@mel.fr"], ["alice@lille.fr", "bob@amiens.fr"]),
])
def test_outbox_filters(client, admin, mails, query, shown, hidden):
    page = text(client.get(f"/admin/courriels?{query}"))
    assert all(r in page for r in shown) and not any(r in page for r in hidden)


def test_outbox_detail_shows_text_and_escaped_html(client, admin, mails):
    sent = mails[0]
    response = client.get(f"/admin/courriels/{sent.id}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<pre class="mail-body">Bonjour Alice,\nLien : x</pre>' in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;strong&gt;Alice&lt;/strong&gt;" in page
    assert client.get("/admin/courriels/999").status_code == 404
    assert client.get("/admin/courriels?status=lost").status_code == 422


def test_outbox_shows_an_invitation_sent_from_the_users_page(client, admin):
    client.post("/admin/utilisateurs/inviter", data={"email": "new@lille.fr", "name": "Nouvelle Personne",
                                                      "roles": ["buyer"]})
    page = text(client.get("/admin/courriels"))
    assert "new@lille.fr" in page and "Invitation" in page and "console" in page


# --- demo clock ----------------------------------------------------------------------------------------


def test_clock_refused_outside_demo_mode(client, admin, app):
    app.config["DEMO_MODE"] = False
    assert client.get("/admin/horloge").status_code == 403
    assert client.post("/admin/horloge/avancer", data={"days": 3}).status_code == 403
    assert client.post("/admin/horloge/reinitialiser").status_code == 403
    assert db.session.get(Setting, app_clock.OFFSET_KEY) is None


@pytest.fixture
def demo(app, admin):
    app.config["DEMO_MODE"] = True
    app.extensions["clock"] = SystemClock()
    return app


def _offset() -> float | None:
    db.session.expire_all()
    row = db.session.get(Setting, app_clock.OFFSET_KEY)
    return float(row.value) if row else None


def _moves() -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "clock.move")
                                   .order_by(AuditEvent.id)))


def test_clock_page_shows_real_and_simulated_time(client, demo):
    response = client.get("/admin/horloge")
    assert response.status_code == 200
    page = text(response)
    assert "Date réelle (heure de Paris)" in page and "Date simulée (heure de Paris)" in page
    assert "aucun : l'horloge est à l'heure réelle" in page


def test_clock_advance_then_reset(client, demo):
    response = client.post("/admin/horloge/avancer", data={"days": 3, "hours": 2}, follow_redirects=True)
    assert response.status_code == 200
    assert _offset() == pytest.approx(3 * 86400 + 2 * 3600, abs=5)
    expected = app_clock.to_paris(datetime.now(UTC) + timedelta(days=3, hours=2))
    assert f"L'horloge indique maintenant le {expected.day} " in text(response)
    assert "Démonstration : date simulée" in text(response)  # the banner
    assert "en avance de 3 jours" in text(response)
    event = _moves()[0]
    assert event.before["offset_seconds"] == 0
    assert event.after["offset_seconds"] == pytest.approx(3 * 86400 + 2 * 3600, abs=5)

    client.post("/admin/horloge/avancer", data={"days": 1})
    assert _offset() == pytest.approx(4 * 86400 + 2 * 3600, abs=5)  # adds to the simulated time

    client.post("/admin/horloge/reinitialiser")
    assert _offset() == 0
    assert len(_moves()) == 3


def test_clock_go_to_a_future_date(client, demo):
    target = app_clock.to_paris(datetime.now(UTC) + timedelta(days=40)).replace(second=0, microsecond=0)
    response = client.post("/admin/horloge/date", data={"target": target.strftime("%Y-%m-%dT%H:%M")},
                           follow_redirects=True)
    assert response.status_code == 200
    assert 40 * 86400 - 120 < _offset() <= 40 * 86400
    assert f"L'horloge indique maintenant le {target.day} " in text(response)


def test_clock_in_the_past_moves_forward_from_the_simulated_date(client, demo):
    """The demo convention runs in 2017: its simulated date is behind the real one, and moves on from there."""
    app_clock.simulate(paris_datetime(2017, 3, 31, 23, 59))
    db.session.commit()
    page = text(client.get("/admin/horloge"))
    assert "31 mars 2017 à 23:5" in page and "en retard de" in page

    response = client.post("/admin/horloge/avancer", data={"days": 1}, follow_redirects=True)
    assert "L'horloge indique maintenant le 1er avril 2017 à 23:5" in text(response)
    assert client.post("/admin/horloge/date", data={"target": "2017-05-01T00:00"}).status_code == 302
    db.session.expire_all()
    assert _moves()[-1].after["simulated_now"].startswith("2017-04-30T22:00")  # UTC
    refused = client.post("/admin/horloge/date", data={"target": "2017-04-15T00:00"})
    assert refused.status_code == 422
    assert "Choisissez une date postérieure à la date simulée actuelle (1er mai 2017" in text(refused)


@pytest.mark.parametrize(("url", "data", "message"), [
    ("/admin/horloge/avancer", {"days": 0, "hours": 0}, "Indiquez un nombre de jours ou d'heures supérieur à zéro."),
    ("/admin/horloge/avancer", {"days": -2}, "Entre 0 et 3 650 jours."),
    ("/admin/horloge/avancer", {"days": "trois"}, "Indiquez un nombre entier."),
    ("/admin/horloge/date", {"target": "2001-01-01T10:00"}, "Choisissez une date postérieure"),
    ("/admin/horloge/date", {"target": "demain"}, "Date et heure invalides"),
    ("/admin/horloge/date", {"target": ""}, "Ce champ est obligatoire."),
])
def test_clock_bad_input(client, demo, url, data, message):
    response = client.post(url, data=data)
    assert response.status_code == 422
    assert message in text(response)
    assert _offset() is None
    assert _moves() == []


def test_every_recorded_action_reads_as_a_french_sentence():
    """The browser walk found « action enregistrée : results.publish » in the journal and raw codes
    (`grid.propose_default`, `decision.release`) in the cycle page's history: every action code the services
    record, literal or built from a workflow's triggers, has its sentence."""
    import re
    from pathlib import Path

    from innovation_cycle.services.audit_text import ACTIONS
    from workflows import application as application_flow
    from workflows import commitment as commitment_flow
    from workflows import cycle as cycle_flow
    from workflows import need as need_flow

    literal: set[str] = set()
    for path in Path("innovation_cycle").rglob("*.py"):
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if "audit.record(" in line or re.match(r"\s*action = ", line):
                literal |= set(re.findall(r'"([a-z_]+\.[a-z_]+)"', "\n".join(lines[i:i + 2])))
    built = {f"commitment.{t}" for t in commitment_flow.TRIGGERS} | {f"need.{t}" for t in need_flow.TRIGGERS}
    built |= {f"application.{t}" for t in application_flow.TRIGGERS} | {f"cycle.{t}" for t in cycle_flow.TRIGGERS}
    missing = sorted(c for c in literal | built if c not in ACTIONS and not c.startswith("listing."))
    assert not missing, missing


def test_the_cycle_pages_history_says_what_was_done_in_french(client, admin, make):
    """The cycle page's history showed the raw codes (`cycle.create`, `grid.propose_default`)."""
    cycle = make.cycle(year=2017, state="selection")
    _event(datetime(2017, 5, 2, 8, tzinfo=UTC), "grid.propose_default", object_id=cycle.id)
    page = client.get(f"/admin/cycles/{cycle.id}").get_data(as_text=True)
    assert "a proposé la grille d&#39;évaluation par défaut" in page or "a proposé la grille d'évaluation" in page
    assert "grid.propose_default" not in page and "cycle.create" not in page
