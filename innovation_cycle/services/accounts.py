"""Accounts: passwords, emailed tokens, invitations, sign-up and confirmation.

Every emailed link carries a signed token holding the user's id and `security_stamp`. Setting a password
renews the stamp, so a reset or invitation link works once; the token's age is measured with the
application clock (not the wall clock), so tests and the demo's simulated time expire links too.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from flask import current_app
from flask_babel import force_locale, format_timedelta, lazy_gettext
from flask_babel import gettext as _
from flask_login import current_user
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from innovation_cycle import clock
from innovation_cycle.extensions import db
from innovation_cycle.models import Organization, OrganizationKind, Role, User, UserRole
from innovation_cycle.models.accounts import new_security_stamp
from innovation_cycle.services import audit, mail, notifications

ROLE_LABELS = {
    Role.ADMIN: lazy_gettext("Administrateur (secrétariat de l'ORCP)"),
    Role.BUYER: lazy_gettext("Acheteur public"),
    Role.COMMITTEE_MEMBER: lazy_gettext("Membre du comité de pilotage"),
    Role.PFRA_AGENT: lazy_gettext("Agent de la PFRA"),
    Role.UGAP_AGENT: lazy_gettext("Agent de l'UGAP"),
    Role.COMPANY: lazy_gettext("Représentant d'entreprise"),
}

PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 128


# --- Issue 9: hardening (password policy, NIST SP 800-63B 3.1.1.2) ---
# Refused: passwords found in breach corpora or common-password lists, and passwords built on the account's own
# address. zxcvbn (Dropbox's estimator, maintained on PyPI) ships those lists (30,000 passwords from breaches,
# plus names and common words) and matches variants (l33t, reversed, keyboard walks, dates, repeats); no
# network call. A guess count under 10^8 (zxcvbn score < 2) is what an online-plus-offline attacker tries first.
MIN_PASSWORD_SCORE = 2


def password_problem(password: str, email: str | None = None) -> str | None:
    """Why this new password is refused, in French, or None. Length is checked by the form."""
    from zxcvbn import zxcvbn

    lowered = (password or "").lower()
    email = normalize_email(email or "").lower()
    local = email.partition("@")[0]
    if email and (email in lowered or (len(local) >= 4 and local in lowered)):
        return _("Le mot de passe ne doit pas contenir votre adresse électronique.")
    inputs = [w for w in (email, local, *local.replace(".", " ").replace("-", " ").split()) if len(w) >= 3]
    result = zxcvbn(password[:PASSWORD_MAX_LENGTH], user_inputs=inputs)
    if result["score"] < MIN_PASSWORD_SCORE:
        return _("Ce mot de passe est trop courant ou trop facile à deviner (il figure dans les listes de mots de "
                 "passe divulgués ou suit un motif connu). Choisissez une phrase de plusieurs mots.")
    return None


def role_label(role: Role | str) -> str:
    return str(ROLE_LABELS.get(Role(role), role))


# --- passwords ------------------------------------------------------------------------------------------


def _hash_method() -> str:
    """werkzeug's scrypt at its default cost (PASSWORD_HASH_METHOD, not read from the environment: only the test
    settings lower it, since the suite hashes thousands of passwords and each real hash costs 90 ms of CPU)."""
    return current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")


def set_password(user: User, password: str) -> None:
    """Hash with scrypt (werkzeug's default) and renew the stamp, which voids every token sent before."""
    user.password_hash = generate_password_hash(password, method=_hash_method())
    user.security_stamp = new_security_stamp()


def check_password(user: User, password: str) -> bool:
    return bool(user.password_hash) and check_password_hash(user.password_hash, password)


def _dummy_hash() -> str:
    """A hash to check against when there is no account, at the same cost as a real one."""
    return _dummy_hash_for(_hash_method())


@cache
def _dummy_hash_for(method: str) -> str:
    return generate_password_hash(secrets.token_urlsafe(16), method=method)


# --- looking people up ----------------------------------------------------------------------------------


def normalize_email(email: str) -> str:
    return (email or "").strip()


def find_by_email(email: str) -> User | None:
    """Emails are unique case-insensitively (an index on lower(email)), so look them up the same way."""
    return db.session.scalar(select(User).where(func.lower(User.email) == normalize_email(email).lower()))


class DuplicateEmail(ValueError):
    """The address already belongs to an account; the message is shown next to the email field."""

    def __init__(self, email: str):
        super().__init__(_("Un compte existe déjà avec l'adresse %(email)s.", email=email))
        self.email = email


def _ensure_email_free(email: str) -> None:
    if find_by_email(email) is not None:
        raise DuplicateEmail(email)


def needs_confirmation(user: User) -> bool:
    """Company representatives sign themselves up, so their address must be proven before they log in;
    invited users prove it by following the invitation."""
    return user.has_role(Role.COMPANY) and user.email_confirmed_at is None


# --- login ----------------------------------------------------------------------------------------------

CREDENTIALS = "credentials"
INACTIVE = "inactive"
UNCONFIRMED = "unconfirmed"


class LoginRefused(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def authenticate(email: str, password: str) -> User:
    """The user behind these credentials, or `LoginRefused`.

    An unknown address and a wrong password give the same refusal, and both cost one password hash, so
    neither the message nor the response time tells whether an account exists. Whether an account is
    deactivated or unconfirmed is only said to someone who knows its password."""
    user = find_by_email(email)
    if user is None:
        check_password_hash(_dummy_hash(), password or "")
        raise LoginRefused(CREDENTIALS)
    if not user.password_hash:
        check_password_hash(_dummy_hash(), password or "")
        raise LoginRefused(CREDENTIALS)
    if not check_password(user, password or ""):
        raise LoginRefused(CREDENTIALS)
    if not user.active:
        raise LoginRefused(INACTIVE)
    if needs_confirmation(user):
        raise LoginRefused(UNCONFIRMED)
    return user


# --- emailed tokens -------------------------------------------------------------------------------------

RESET_PASSWORD = "reset_password"
INVITATION = "invitation"
CONFIRM_EMAIL = "confirm_email"


@dataclass(frozen=True)
class Purpose:
    salt: str
    max_age_key: str
    endpoint: str


PURPOSES = {
    RESET_PASSWORD: Purpose(salt="innovation-cycle/reset-password", max_age_key="RESET_TOKEN_MAX_AGE",
                            endpoint="accounts.reset_password"),
    INVITATION: Purpose(salt="innovation-cycle/invitation", max_age_key="INVITATION_TOKEN_MAX_AGE",
                        endpoint="accounts.accept_invitation"),
    CONFIRM_EMAIL: Purpose(salt="innovation-cycle/confirm-email", max_age_key="CONFIRMATION_TOKEN_MAX_AGE",
                           endpoint="accounts.confirm_email"),
}


class ClockTimestampSigner(TimestampSigner):
    """Stamps and ages tokens with the application clock, so a FixedClock or the demo offset moves them."""

    def get_timestamp(self) -> int:
        return int(clock.now().timestamp())


class InvalidToken(Exception):
    """A link that cannot be used: forged or damaged, expired, or already used (the stamp changed)."""

    def __init__(self, purpose: str, *, expired: bool = False, used: bool = False):
        super().__init__(purpose)
        self.purpose = purpose
        self.expired = expired
        self.used = used


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=PURPOSES[purpose].salt,
                                  signer=ClockTimestampSigner)


def max_age(purpose: str) -> int:
    return int(current_app.config[PURPOSES[purpose].max_age_key])


def make_token(user: User, purpose: str) -> str:
    if user.id is None:
        db.session.flush()
    return _serializer(purpose).dumps({"u": user.id, "s": user.security_stamp})


def read_token(token: str, purpose: str) -> User:
    """The active user a token was made for, if it is genuine, young enough and still matches the stamp."""
    try:
        payload = _serializer(purpose).loads(token, max_age=max_age(purpose))
    except SignatureExpired:
        raise InvalidToken(purpose, expired=True) from None
    except BadSignature:
        raise InvalidToken(purpose) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("u"), int) \
            or not isinstance(payload.get("s"), str):
        raise InvalidToken(purpose)
    user = db.session.get(User, payload["u"])
    if user is None or not user.active:
        raise InvalidToken(purpose)
    if not secrets.compare_digest(user.security_stamp, payload["s"]):
        raise InvalidToken(purpose, used=True)
    return user


def link_lifetime(purpose: str) -> str:
    """"1 heure", "2 jours"… for messages on screen."""
    return format_timedelta(timedelta(seconds=max_age(purpose)))


def _send_link(user: User, purpose: str, subject: Any, template: str, **context: Any) -> None:
    """Queue a mail with a fresh link, in the recipient's language when they chose one."""
    link = notifications.external_url(PURPOSES[purpose].endpoint, token=make_token(user, purpose))
    expires_at: datetime = clock.now() + timedelta(seconds=max_age(purpose))
    locale = user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]
    with force_locale(locale):
        mail.queue(user.email, str(subject), template, user=user, link=link, expires_at=expires_at,
                   lifetime=link_lifetime(purpose), lang=locale, **context)


# --- password reset -------------------------------------------------------------------------------------


def request_password_reset(email: str) -> None:
    """Mail a reset link if an active account has this address; do nothing visible otherwise."""
    user = find_by_email(email)
    if user is None or not user.active:
        _render_for_nobody(email)
        return
    _send_link(user, RESET_PASSWORD, lazy_gettext("Réinitialisation de votre mot de passe"), "reset_password")


def _render_for_nobody(email: str) -> None:
    """Do the work a real reset mail costs (a token signed, the mail rendered) for an address without an active
    account, and throw it away: the answer takes the same time either way, so timing does not tell who has an
    account (issue 9)."""
    stand_in = User(id=0, email=normalize_email(email)[:254], name="", security_stamp=new_security_stamp())
    link = notifications.external_url(PURPOSES[RESET_PASSWORD].endpoint,
                                      token=_serializer(RESET_PASSWORD).dumps({"u": 0, "s": stand_in.security_stamp}))
    mail.render("reset_password", user=stand_in, link=link,
                expires_at=clock.now() + timedelta(seconds=max_age(RESET_PASSWORD)),
                lifetime=link_lifetime(RESET_PASSWORD), lang=current_app.config["BABEL_DEFAULT_LOCALE"])


def reset_password(user: User, password: str) -> None:
    """Following the emailed link proves the mailbox, so an unconfirmed address becomes confirmed."""
    set_password(user, password)
    if user.email_confirmed_at is None:
        user.email_confirmed_at = clock.now()
    audit.record("user.reset_password", user, actor=user)


# --- invitations ----------------------------------------------------------------------------------------


def invite_user(email: str, name: str, organization: Organization | None, roles: list[Role] | set[Role],
                invited_by: User | None) -> User:
    """Create an active account without password and mail its owner a link to choose one.

    Raises `DuplicateEmail` when the address is taken (compared case-insensitively)."""
    email = normalize_email(email)
    _ensure_email_free(email)
    user = User(email=email, name=name.strip(), organization=organization, active=True,
                created_at=clock.now(), role_rows=[UserRole(role=Role(r)) for r in sorted(set(roles))])
    db.session.add(user)
    db.session.flush()
    audit.record("user.invite", user, actor=invited_by,
                 after={"email": user.email, "name": user.name, "organization_id": user.organization_id,
                        "roles": list(user.roles)})
    _send_invitation(user, invited_by)
    return user


class InvitationAlreadyAccepted(ValueError):
    def __init__(self, user: User):
        super().__init__(_("%(email)s a déjà choisi son mot de passe : l'invitation n'est plus nécessaire.",
                           email=user.email))


def resend_invitation(user: User, invited_by: User | None = None) -> None:
    """Send a new link and void the previous ones (the stamp changes), for an invitation not yet accepted.

    `invited_by` defaults to the logged-in user (the admin pressing the button)."""
    if user.password_hash:
        raise InvitationAlreadyAccepted(user)
    if invited_by is None and getattr(current_user, "is_authenticated", False):
        invited_by = current_user._get_current_object()
    user.security_stamp = new_security_stamp()
    audit.record("user.resend_invitation", user, actor=invited_by)
    _send_invitation(user, invited_by)


def _send_invitation(user: User, invited_by: User | None) -> None:
    _send_link(user, INVITATION, lazy_gettext("Invitation à rejoindre %(service)s",
                                              service=current_app.config["SERVICE_NAME"]),
               "invitation", invited_by=invited_by, organization=user.organization,
               roles=[role_label(r) for r in sorted(user.roles)])


def accept_invitation(user: User, password: str) -> None:
    set_password(user, password)
    if user.email_confirmed_at is None:
        user.email_confirmed_at = clock.now()
    audit.record("user.accept_invitation", user, actor=user)


# --- company sign-up and email confirmation -------------------------------------------------------------


def signup_company(name: str, email: str, password: str, company_name: str) -> User | None:
    """A company representative's own account, in a new company organization, waiting for confirmation.

    When the address already has an account, its owner is mailed instead and None is returned: the page
    answers as for a new account, so the form tells nobody who has one (issue 9)."""
    email = normalize_email(email)
    existing = find_by_email(email)
    if existing is not None:
        _mail_existing_owner(existing)
        return None
    organization = Organization(name=company_name.strip(), kind=OrganizationKind.COMPANY)
    user = User(email=email, name=name.strip(), organization=organization, active=True,
                created_at=clock.now(), role_rows=[UserRole(role=Role.COMPANY)])
    set_password(user, password)
    db.session.add_all([organization, user])
    db.session.flush()
    audit.record("user.signup", user, actor=user,
                 after={"email": user.email, "name": user.name, "organization_id": organization.id,
                        "organization": organization.name, "roles": list(user.roles)})
    send_confirmation(user)
    return user


def _mail_existing_owner(user: User) -> None:
    """Tell the owner someone signed up with their address, with the way back in (the reset page)."""
    locale = user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]
    with force_locale(locale):
        mail.queue(user.email, _("Une inscription a été demandée avec votre adresse"), "signup_existing",
                   user=user, link=notifications.external_url("accounts.forgot_password"), lang=locale)


def send_confirmation(user: User) -> None:
    _send_link(user, CONFIRM_EMAIL, lazy_gettext("Confirmez votre adresse électronique"), "confirm_email")


def resend_confirmation(email: str) -> None:
    """Mail a new confirmation link only to an active account still waiting for one; silent otherwise."""
    user = find_by_email(email)
    if user is None or not user.active or not needs_confirmation(user):
        return
    send_confirmation(user)


def confirm_email(user: User) -> bool:
    """Mark the address proven; False when it already was (the link was followed twice)."""
    if user.email_confirmed_at is not None:
        return False
    user.email_confirmed_at = clock.now()
    audit.record("user.confirm_email", user, actor=user,
                 after={"email_confirmed_at": user.email_confirmed_at})
    return True


# --- Issue 9: hardening (sessions, known devices) ---


def end_sessions(user: User) -> None:
    """Log out server side: the session id and the remember-me cookie carry the stamp, so renewing it makes
    every copy of them worthless (this browser's, a stolen one, another device's)."""
    user.security_stamp = new_security_stamp()
    audit.record("user.logout", user, actor=user)


def email_digest(email: str) -> str:
    return hashlib.sha256(normalize_email(email).lower().encode()).hexdigest()[:32]


def _device_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="innovation-cycle/known-device")


def known_device_token(user: User) -> str:
    """The cookie value a browser gets after signing in: which account it knows (a digest, not the address)
    and a random id for the browser."""
    return _device_serializer().dumps({"e": email_digest(user.email), "d": secrets.token_urlsafe(12)})


def read_known_device(value: str, max_age: int) -> dict | None:
    try:
        payload = _device_serializer().loads(value[:512], max_age=max_age)
    except BadSignature:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("e"), str) or not isinstance(payload.get("d"), str):
        return None
    return payload


# --- "Mon compte" ---------------------------------------------------------------------------------------


def change_password(user: User, password: str) -> None:
    """The caller has checked the current password; renewing the stamp voids links mailed before."""
    set_password(user, password)
    audit.record("user.change_password", user, actor=user)


def change_locale(user: User, locale: str) -> None:
    if locale not in current_app.config["LANGUAGES"]:
        raise ValueError(locale)
    if user.locale == locale:
        return
    before = {"locale": user.locale}
    user.locale = locale
    audit.record("user.change_locale", user, actor=user, before=before, after={"locale": locale})
