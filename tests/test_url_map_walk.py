"""Walk the whole URL map with hostile values: no request, whoever sends it, may end in a 500.

Every rule of `app.url_map` and every method it allows is requested as anonymous, as a company and as an admin,
with hostile values in each URL variable, each query parameter and each form field: ids past 2^63, Unicode
digits, NUL, CR/LF, 10,000 characters, empty. Routes, URL variables and parameter names are discovered at run
time (the URL map, the form classes, the `request.args`/`request.form` look-ups in the views), so routes that
other areas add later are walked without editing this file: the ids of a new route come from the world fixture
of tests/test_authorization_matrix.py, or from a generic value when the world has none.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from flask_wtf import FlaskForm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_authorization_matrix import ADMIN, ANON, COMPANY, world  # noqa: F401  (the fixture)
from werkzeug.routing import IntegerConverter

import forms as forms_package
from innovation_cycle import params
from innovation_cycle.urls import safe_next

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = {
    "past 2^63": str(2**63 + 1),
    "past 2^31": str(2**31),
    "unicode digits": "²³",
    "NUL": "a\x00b",
    "CR/LF": "/\r\nSet-Cookie: x=1",
    "10,000 characters": "9" * 10_000,
    "empty": "",
}
WALKERS = [ANON, COMPANY, ADMIN]
# Requests that end the session are not walked (the session would be gone for the next ones).
SKIP = {("accounts.logout", "POST")}


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if (rule.endpoint, method) not in SKIP:
                yield rule, method


def _parameter_names() -> tuple[list[str], list[str]]:
    """The names a view may read: those it looks up by hand in `request.args`/`request.form` (with the usual
    ones), and the fields of every form class (filter forms read the query string, the others the body)."""
    looked_up = {"page", "next", "cycle", "q", "format", "lang"}
    pattern = re.compile(r"request\.(?:args|form|values)(?:\.get\(|\.getlist\(|\[)\s*[\"'](\w+)[\"']")
    for source in (ROOT / "innovation_cycle").rglob("*.py"):
        looked_up.update(pattern.findall(source.read_text(encoding="utf-8")))
    fields = set()
    for module_info in pkgutil.iter_modules(forms_package.__path__):
        module = importlib.import_module(f"forms.{module_info.name}")
        for _name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, FlaskForm) and cls is not FlaskForm:
                fields.update(name for name in dir(cls) if getattr(getattr(cls, name), "_formfield", False))
    return sorted(looked_up), sorted(fields - looked_up)


def _hostile_requests() -> list[tuple[str, str, dict[str, str]]]:
    """(label, query string, form body) for each hostile value: every name at once. The 10,000-character value
    fills the names the views read by hand and the form fields of a POST body, not every field name in the
    query string (1.4 MB there only measures URL quoting; no front server lets such a line through)."""
    by_hand, fields = _parameter_names()
    mixed = {name: list(HOSTILE.values())[i % len(HOSTILE)] for i, name in enumerate(by_hand + fields)}
    requests = [("mixed", urlencode({k: v[:100] for k, v in mixed.items()}), mixed)]
    for label, value in HOSTILE.items():
        in_query = by_hand if len(value) > 1000 else by_hand + fields
        requests.append((label, urlencode(dict.fromkeys(in_query, value)), dict.fromkeys(by_hand + fields, value)))
    return requests


def _path(rule, values: dict[str, str]) -> str:
    """The rule's path with raw strings in its variables, whatever their converter accepts."""
    path = rule.rule
    for name in rule.arguments:
        path = re.sub(r"<(?:[^:<>]+:)?" + re.escape(name) + ">", quote(values[name], safe=""), path)
    return path


def _valid_values(rule, known: dict) -> dict[str, str]:
    values = {}
    for name in rule.arguments:
        if name in known:
            values[name] = str(known[name])
        else:  # a route added after the world fixture: any id, any word
            values[name] = "1" if isinstance(rule._converters[name], IntegerConverter) else "x"
    return values


def _walk(app, client, known: dict, *, url_variables: bool) -> list[str]:
    hostile_requests = _hostile_requests()
    problems = []
    for rule, method in _routes(app):
        valid = _valid_values(rule, known)
        if url_variables:  # each URL variable in turn, the others valid
            for label, value in HOSTILE.items():
                for name in rule.arguments:
                    status = client.open(_path(rule, {**valid, name: value}), method=method).status_code
                    if status >= 500:
                        problems.append(f"{method} {rule.rule} [{name}={label}] -> {status}")
        # Every query parameter (and, for a POST, every form field) at once. A route that turns this user away
        # (403, or the login page) reads no parameter: one request mixing the values is enough there.
        plain = client.open(_path(rule, valid), method=method)
        turned_away = plain.status_code == 403 or (
            plain.status_code == 302 and "/compte/connexion" in plain.headers.get("Location", ""))
        for label, query, body in hostile_requests[:1] if turned_away else hostile_requests:
            url = f"{_path(rule, valid)}?{query}"
            status = client.open(url, method=method, data=body if method == "POST" else None).status_code
            if status >= 500:
                problems.append(f"{method} {rule.rule} [query/form={label}] -> {status}")
    return problems


@pytest.mark.parametrize("role", WALKERS)
def test_no_hostile_value_gives_a_500(app, client, world, login, role):  # noqa: F811
    users, known = world
    if role != ANON:
        login(users[role])
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a crash must show as the 500 it would be in production
    # The URL variables are read by the converters and the views' loading, before any role matters: the admin,
    # who passes every policy, walks them.
    assert _walk(app, client, known, url_variables=role == ADMIN) == []


def test_the_walk_sees_every_route_and_parameter(app):
    """The walk discovers what it walks: a route or a form added later is in it without an edit here."""
    endpoints = {rule.endpoint for rule, _ in _routes(app)}
    assert {"needs.show", "admin.cycle", "applications.detail", "public.set_language"} <= endpoints
    by_hand, fields = _parameter_names()
    assert {"page", "next", "cycle", "need_id", "theme", "email"} <= set(by_hand)
    assert {"target_id", "title", "siret", "object_id"} <= set(fields)


# --- the parsers the views use, over any text ----------------------------------------------------------


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_integer_parameters_are_ascii_and_in_range(value):
    parsed = params.parse_id(value)
    if parsed is not None:  # surrounding blanks are forgiven (a pasted " 12 "), nothing else
        assert value.strip().isascii() and value.strip().isdigit() and parsed == int(value.strip())
        assert 1 <= parsed <= params.MAX_ID


@settings(max_examples=300)
@given(st.text(alphabet=st.characters(codec="utf-8")))
def test_redirect_targets_hold_no_control_character(value):
    target = safe_next("/" + value)
    if target is not None:
        assert not any(ord(c) < 32 or ord(c) == 127 for c in target)
        assert not target.startswith("//") and "\\" not in target
