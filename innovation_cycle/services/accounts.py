"""Accounts: passwords, emailed tokens, invitations, sign-up and confirmation."""

from __future__ import annotations

from werkzeug.security import check_password_hash, generate_password_hash

from innovation_cycle.models import User
from innovation_cycle.models.accounts import new_security_stamp


def set_password(user: User, password: str) -> None:
    """Hash with scrypt (werkzeug's default) and renew the stamp, which voids every token sent before."""
    user.password_hash = generate_password_hash(password, method="scrypt")
    user.security_stamp = new_security_stamp()


def check_password(user: User, password: str) -> bool:
    return bool(user.password_hash) and check_password_hash(user.password_hash, password)
