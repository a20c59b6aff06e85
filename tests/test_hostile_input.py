"""Issue 9, items 6 and 7: input that used to end in a 500 gets a clear 4xx (or the right behaviour).

Each case was reproduced by a real request on main; tests/test_url_map_walk.py keeps the whole URL map so.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from test_authorization_matrix import ADMIN, BUYER, COMPANY, PFRA, world  # noqa: F401  (the fixture)
from werkzeug.datastructures import MultiDict

from innovation_cycle import clock as clock_module
from innovation_cycle.extensions import db
from innovation_cycle.models import CompanyJoinRequest, Need, OrganizationKind, Role, Setting

PAST_INT32 = str(2**31)
PAST_INT64 = str(2**63 + 1)


@pytest.fixture(autouse=True)
def _crashes_show_as_500(app):
    app.config["PROPAGATE_EXCEPTIONS"] = False


def text(response) -> str:
    return response.get_data(as_text=True)


# --- ids past the INTEGER range ------------------------------------------------------------------------


@pytest.mark.parametrize("value", [PAST_INT32, PAST_INT64, "9" * 40])
def test_ids_past_the_integer_range_are_unknown(client, world, login, value):  # noqa: F811
    users, _ = world
    assert client.get(f"/ami/{value}").status_code == 404
    login(users[ADMIN])
    for path in (f"/besoins/{value}", f"/admin/cycles/{value}", f"/reponses/{value}", f"/admin/conventions/{value}"):
        assert client.get(path).status_code == 404, path


def test_an_unknown_merge_target_is_refused_in_french(client, world, login):  # noqa: F811
    users, known = world
    login(users[PFRA])
    for value in (PAST_INT32, PAST_INT64, "²"):
        response = client.post(f"/besoins/{known['need_id']}/fusionner",
                               data={"merge-expected_state": "submitted", "merge-target_id": value},
                               follow_redirects=True)
        assert response.status_code == 200
        assert "Ce besoin n'existe pas" in text(response)
    db.session.expire_all()
    assert db.session.get(Need, known["need_id"]).status == "submitted"


@pytest.mark.parametrize("value", [PAST_INT32, PAST_INT64, "²", "١٢"])
def test_an_unknown_answer_target_is_a_field_error(app, value):
    from forms.applications import ApplicationForm

    with app.test_request_context(method="POST"):
        form = ApplicationForm(formdata=MultiDict([("targets", value), (f"fit-{value}", "Texte")]))
        assert form.targets.data == []
        assert "Choix de besoin inconnu." in [str(e) for e in form.targets.process_errors]


# --- huge pages, Unicode digits -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/admin/journal", "/admin/courriels", "/admin/utilisateurs", "/admin/organisations",
                                  "/besoins/", "/suivi/besoins", "/suivi/reponses"])
def test_a_huge_page_number_is_the_last_empty_page(client, world, login, path):  # noqa: F811
    users, _ = world
    login(users[ADMIN])
    for page in (PAST_INT64, "9" * 5000, "²", "-3"):
        assert client.get(path, query_string={"page": page}).status_code == 200, (path, page[:20])


def test_unicode_digits_in_a_cycle_filter_are_an_unknown_cycle(client, world, login):  # noqa: F811
    users, known = world
    login(users[ADMIN])
    assert client.get("/suivi/besoins?cycle=²").status_code == 404
    assert client.get("/suivi/reponses/export?cycle=" + PAST_INT64).status_code == 404
    assert client.get("/besoins/?cycle_id=²").status_code == 200
    assert client.get("/admin/cycles/nouveau?convention_id=²&year=" + PAST_INT64).status_code == 200
    assert client.get(f"/ami/{known['cycle_id']}?theme=²").status_code == 200


# --- NUL characters -------------------------------------------------------------------------------------


def test_nul_characters_are_refused_everywhere_and_never_stored(client, world, login):  # noqa: F811
    users, known = world
    response = client.post("/compte/connexion", data={"email": "a\x00@example.fr", "password": "x"})
    assert response.status_code == 400 and "caractère nul" in text(response)
    assert client.get("/ami?q=eau%00").status_code == 400
    login(users[BUYER])
    before = db.session.scalar(select(func.count()).select_from(Need))
    response = client.post("/besoins/nouveau", data={"cycle_id": known["cycle_id"], "title": "Titre\x00",
                                                       "problem": "Problème"})
    assert response.status_code == 400 and "caractère nul" in text(response)
    assert db.session.scalar(select(func.count()).select_from(Need)) == before
    assert client.get("/besoins/?q=a%00b").status_code == 400
    assert client.get("/besoins/?a%00=1").status_code == 400  # in a parameter's name too


# --- CR/LF in `next` ------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["/\r\nSet-Cookie: x=1", "/tableau\n", "/\t/evil.example"])
def test_a_line_break_in_next_is_ignored(client, world, target):  # noqa: F811
    users, _ = world
    response = client.post("/compte/connexion", query_string={"next": target},
                           data={"email": users[COMPANY].email, "password": "Motdepasse-solide-2017"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/tableau-de-bord/")
    response = client.post("/langue", data={"lang": "en", "next": target})
    assert response.status_code == 302 and response.headers["Location"] == "/"


# --- the demo clock -------------------------------------------------------------------------------------


@pytest.fixture
def demo(app):
    """Demo mode with the real clock, which reads its offset from the database."""
    app.config["DEMO_MODE"] = True
    app.extensions["clock"] = clock_module.SystemClock()
    return app


def test_the_demo_clock_refuses_year_9999(demo, client, world, login):  # noqa: F811
    users, _ = world
    login(users[ADMIN])
    for target in ("9999-12-31T23:59", "0001-01-01T00:00"):
        response = client.post("/admin/horloge/date", data={"target": target})
        assert response.status_code == 422 and "Choisissez une date entre le" in text(response)
    response = client.post("/admin/horloge/avancer", data={"days": "3650"})
    assert response.status_code == 302
    for _ in range(30):  # as far as it goes: it stops before 2100 with a message
        response = client.post("/admin/horloge/avancer", data={"days": "3650"})
    assert response.status_code == 422 and "Choisissez une date entre le" in text(response)
    assert client.get("/tableau-de-bord/").status_code == 200
    assert client.get("/admin/horloge").status_code == 200


def test_a_stored_offset_out_of_range_falls_back_to_the_real_time(demo, client, world):  # noqa: F811
    db.session.merge(Setting(key=clock_module.OFFSET_KEY, value=str(1e12)))
    db.session.commit()
    assert client.get("/").status_code == 200


# --- item 7: asking to join a company in demo mode ------------------------------------------------------


def test_asking_to_join_a_company_works_in_demo_mode(demo, client, world, login, make):  # noqa: F811
    users, known = world
    clock_module.simulate(clock_module.paris_datetime(2017, 3, 1, 9, 0))
    db.session.commit()
    newcomer = make.user(Role.COMPANY, organization=make.organization("Nouvelle venue", OrganizationKind.COMPANY))
    login(newcomer)
    response = client.post("/entreprise/rejoindre", data={"siret": "73282932000074"})
    assert response.status_code == 302
    db.session.expire_all()
    join = db.session.scalar(select(CompanyJoinRequest).where(CompanyJoinRequest.user_id == newcomer.id))
    assert join is not None and join.status == "pending"
    assert clock_module.to_paris(join.created_at).date().isoformat() == "2017-03-01"


def test_listing_links_keep_filters_but_not_url_for_options(client, world, login):  # noqa: F811
    users, _ = world
    login(users[ADMIN])
    response = client.get("/suivi/besoins?format=csv&_external=1&_scheme=javascript&q=x")
    assert response.status_code == 200
    assert "javascript:" not in text(response) and "q=x" in text(response)
