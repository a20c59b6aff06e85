"""One commit per request, then the side effects that must follow it (Indico's "mail after commit")."""

from innovation_cycle.extensions import db
from innovation_cycle.services import mail


def commit() -> None:
    pending = mail.take_pending()
    db.session.commit()
    if pending:
        mail.deliver(pending)


def rollback() -> None:
    mail.take_pending()
    db.session.rollback()
