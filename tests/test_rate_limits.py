"""Brute-force protection: repeated password guesses on one account are stopped with a French page, while
another account from the same address can still sign in."""

from __future__ import annotations

import pytest
from conftest import PASSWORD

from innovation_cycle import create_app
from innovation_cycle.extensions import db
from innovation_cycle.models import Role


@pytest.fixture
def limited_app(app_config):
    app = create_app({**app_config, "RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://"})
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def test_ten_wrong_passwords_then_the_account_is_held_off(limited_app):
    from conftest import Factory

    make = Factory()
    target = make.user(Role.BUYER, email="cible@example.fr")
    other = make.user(Role.BUYER, email="autre@example.fr")
    client = limited_app.test_client()
    for _ in range(10):
        assert client.post("/compte/connexion", data={"email": target.email, "password": "faux"}).status_code == 422
    held = client.post("/compte/connexion", data={"email": "CIBLE@example.fr ", "password": PASSWORD})
    assert held.status_code == 429
    assert "Trop de tentatives" in held.get_data(as_text=True)
    assert held.headers.get("Retry-After")
    # The page itself stays readable, and another account from the same address is not locked out.
    assert client.get("/compte/connexion").status_code == 200
    assert client.post("/compte/connexion", data={"email": other.email, "password": PASSWORD}).status_code == 302


def test_the_reset_form_cannot_be_used_to_flood_a_mailbox(limited_app):
    client = limited_app.test_client()
    statuses = [client.post("/compte/mot-de-passe-oublie", data={"email": "x@example.fr"}).status_code
                for _ in range(11)]
    assert statuses[-1] == 429 and 429 not in statuses[:10]
