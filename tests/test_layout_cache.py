"""The page header is kept per language, person and endpoint (templating.header_html): what it shows must be
what a fresh rendering would show, with this request's CSRF token and path put in."""

from __future__ import annotations

import re

from flask import render_template

from innovation_cycle.extensions import db
from innovation_cycle.models import Role, UserRole


def header_of(response) -> str:
    body = response.get_data(as_text=True)
    return body[body.index('<header role="banner"'):body.index("</header>") + len("</header>")]


def test_the_kept_header_is_the_fresh_one_with_this_requests_token_and_path(app, client, make, login):
    user = make.user(Role.ADMIN, name="Camille Martin")
    login(user)
    first, second = client.get("/admin/journal"), client.get("/admin/journal?page=2")
    assert header_of(first) == header_of(second)  # the second came from the kept copy
    with app.test_request_context("/admin/journal"):
        from flask_login import login_user

        login_user(user)
        app.preprocess_request()
        fresh = render_template("_header.html", next_path="/admin/journal")
    token = re.search(r'name="csrf_token" value="([^"]+)"', header_of(second)).group(1)
    fresh = fresh[fresh.index("<header"):]
    expected = re.sub(r'name="csrf_token" value="[^"]+"', f'name="csrf_token" value="{token}"', fresh)
    assert header_of(second) == expected.strip()
    assert "Camille Martin" in header_of(second) and 'name="next" value="/admin/journal"' in header_of(second)


def test_the_header_takes_this_pages_path_escaped(client, make, login):
    login(make.user(Role.ADMIN))
    client.get("/admin/journal")  # kept for this endpoint
    page = header_of(client.get("/admin/utilisateurs"))
    assert 'name="next" value="/admin/utilisateurs"' in page
    missing = client.get('/nulle-part/"><script>x</script>')
    assert missing.status_code == 404
    body = missing.get_data(as_text=True)
    assert "<script>x</script>" not in body and "&#34;&gt;&lt;script&gt;" in body


def test_a_new_role_shows_in_the_header_at_once(client, make, login):
    user = make.user(Role.BUYER)
    login(user)
    assert "/admin/courriels" not in header_of(client.get("/compte/"))
    db.session.add(UserRole(user_id=user.id, role=Role.ADMIN))
    db.session.commit()
    assert "/admin/courriels" in header_of(client.get("/compte/"))


def test_the_logout_form_of_a_kept_header_works_with_csrf_on(app, client, make, login):
    login(make.user(Role.BUYER))
    client.get("/compte/")
    app.config["WTF_CSRF_ENABLED"] = True
    page = client.get("/compte/")
    token = re.search(r'name="csrf_token" value="([^"]+)"', header_of(page)).group(1)
    assert client.post("/compte/deconnexion", data={"csrf_token": token}).status_code == 302
    assert client.get("/compte/").status_code == 302  # signed out


def test_each_language_has_its_header(client, make, login):
    login(make.user(Role.BUYER))
    assert "Se déconnecter" in header_of(client.get("/compte/"))
    client.post("/langue", data={"lang": "en", "next": "/compte/"})
    english = header_of(client.get("/compte/"))
    assert "Se déconnecter" not in english and "Sign out" in english
