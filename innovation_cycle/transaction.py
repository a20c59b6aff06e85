"""One commit per request, then the side effects that must follow it (Indico's "mail after commit")."""

from innovation_cycle.extensions import db
from innovation_cycle.services import delivery


def commit() -> None:
    """Commit, then hand the mails written in the transaction to the workers (or send them, embedded)."""
    pending = delivery.take_after_commit()
    db.session.commit()
    if pending:
        delivery.hand_over(pending)


def rollback() -> None:
    delivery.take_after_commit()
    db.session.rollback()
