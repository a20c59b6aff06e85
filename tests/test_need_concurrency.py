"""Issue 9, item 9: eight qualifiers press "accept" or "reject" on one need at the same moment.

Each request runs in its own thread, with its own client, application context, session and connection. On
PostgreSQL the row lock serializes them; on SQLite (no row lock) the need's version column turns every UPDATE
but the first into a refusal. Either way: one move, one audit row, one mail, and no error page.
"""

from __future__ import annotations

import threading

from conftest import PASSWORD
from flask.testing import FlaskClient
from sqlalchemy import func, select
from test_authorization_matrix import BUYER, PFRA, world  # noqa: F401  (the fixture)

from innovation_cycle.extensions import db
from innovation_cycle.models import AuditEvent, Need, Notification

REQUESTS = 8


def test_eight_qualifications_at_once_make_one_move(app, world):  # noqa: F811
    users, known = world
    need_id = known["need_id"]
    email = users[PFRA].email
    app.config["PROPAGATE_EXCEPTIONS"] = False
    barrier = threading.Barrier(REQUESTS)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def qualify(n: int) -> None:
        try:
            client = FlaskClient(app, app.response_class, use_cookies=True)
            assert client.post("/compte/connexion", data={"email": email, "password": PASSWORD}).status_code == 302
            barrier.wait(timeout=60)
            if n % 2:
                response = client.post(f"/besoins/{need_id}/accepter",
                                       data={"accept-expected_state": "submitted"})
            else:
                response = client.post(f"/besoins/{need_id}/rejeter",
                                       data={"reject-expected_state": "submitted", "reject-comment": f"Non {n}"})
            statuses.append(response.status_code)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=qualify, args=(n,)) for n in range(REQUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [] and len(statuses) == REQUESTS
    assert all(status < 500 for status in statuses), statuses

    db.session.expire_all()
    need = db.session.get(Need, need_id)
    assert need.status in ("accepted", "rejected")
    moves = db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.object_type == "needs", AuditEvent.object_id == need_id,
        AuditEvent.action.in_(("need.accept", "need.reject")))).all()
    assert moves == ["need.accept" if need.status == "accepted" else "need.reject"]
    mails = db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.recipient == users[BUYER].email))
    assert mails == 1
    assert need.version == 2
