"""Accounts: log in and out, password reset, invitations, company sign-up, email confirmation, "Mon compte".

Pages reached from an emailed link read the token first; a bad, expired or used link gets one French page
offering a new link (400 or 410), never a 500. Forms that take an email address answer the same way whether
or not an account exists, so they cannot be used to find out who has one.
"""

from __future__ import annotations

import secrets
import time

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_user, logout_user
from sqlalchemy.exc import IntegrityError

from forms.accounts import (
    ButtonForm,
    ChangePasswordForm,
    EmailForm,
    LanguageForm,
    LoginForm,
    NewPasswordForm,
    SignupForm,
)
from innovation_cycle import transaction
from innovation_cycle.authz import requires
from innovation_cycle.extensions import limiter
from innovation_cycle.models import User
from innovation_cycle.services import accounts
from innovation_cycle.urls import safe_next

# --- Issue 9: hardening (rate limits) ---
# The client's address is the socket peer, or the one the trusted proxies forwarded (PROXY_COUNT, ProxyFix).
KNOWN_DEVICE_COOKIE = "appareil_connu"
KNOWN_DEVICE_MAX_AGE = 180 * 24 * 3600


def _posted_email() -> str:
    return (request.form.get("email") or "").strip().lower()[:254]


def _known_device() -> str | None:
    """An id for this browser if it signed in before to the account being tried (a signed cookie set after a
    successful login), else None. Its tries are counted apart, so strangers' failures on an account never
    lock out its owner typing the right password from their own browser."""
    value = request.cookies.get(KNOWN_DEVICE_COOKIE)
    email = _posted_email()
    if not value or not email:
        return None
    payload = accounts.read_known_device(value, KNOWN_DEVICE_MAX_AGE)
    if payload is None or not secrets.compare_digest(payload["e"], accounts.email_digest(email)):
        return None
    return payload["d"]


def _address_and_email() -> str:
    """Per address *and* account: an office behind one proxy is not locked out by one person's typos, an
    attacker elsewhere cannot lock anyone out, and one account cannot be guessed at from one address."""
    device = _known_device()
    if device:
        return f"device|{device}|{_posted_email()}"
    return f"{get_remote_address()}|{_posted_email()}"


def _address() -> str:
    device = _known_device()
    return f"device|{device}" if device else get_remote_address()


def _refused(response) -> bool:
    """Only refused sign-ins count: a team behind one address signing in all morning is never held off."""
    return response.status_code != 302


# Limits on the POSTs that check a password or send a mail (GETs are never counted).
PER_ACCOUNT = limiter.limit("10 per 15 minutes", key_func=_address_and_email, methods=["POST"])
PER_ADDRESS = limiter.limit("60 per hour", key_func=_address, methods=["POST"])
# The login's limits count failures only.
LOGIN_PER_ACCOUNT = limiter.limit("10 per 15 minutes", key_func=_address_and_email, methods=["POST"],
                                  deduct_when=_refused)
LOGIN_PER_ADDRESS = limiter.limit("60 per hour", key_func=_address, methods=["POST"], deduct_when=_refused)


def _remember_device(response, user: User):
    response.set_cookie(KNOWN_DEVICE_COOKIE, accounts.known_device_token(user), max_age=KNOWN_DEVICE_MAX_AGE,
                        secure=current_app.config.get("SESSION_COOKIE_SECURE", False), httponly=True,
                        samesite="Lax", path=url_for("accounts.login"))
    return response


bp = Blueprint("accounts", __name__, url_prefix="/compte")

UNPROCESSABLE = 422


def _status() -> int:
    """Re-rendering a posted form means it was refused."""
    return UNPROCESSABLE if request.method == "POST" else 200


@bp.errorhandler(accounts.InvalidToken)
def invalid_link(error: accounts.InvalidToken):
    status = 410 if (error.expired or error.used) else 400
    return render_template("accounts/invalid_link.html", error=error,
                           lifetime=accounts.link_lifetime(error.purpose)), status


# --- log in, log out ------------------------------------------------------------------------------------


@bp.route("/connexion", methods=["GET", "POST"])
@requires("account.login")
@LOGIN_PER_ACCOUNT
@LOGIN_PER_ADDRESS
def login():
    next_url = safe_next(request.args.get("next"))
    if current_user.is_authenticated and request.method == "GET":
        return redirect(next_url or url_for("dashboard.index"))
    form = LoginForm()
    refusal = None
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(form.email.data, form.password.data)
        except accounts.LoginRefused as exc:
            refusal = exc.reason
        else:
            login_user(user, remember=bool(form.remember.data))
            return _remember_device(redirect(next_url or url_for("dashboard.index")), user)
    return render_template("accounts/login.html", form=form, refusal=refusal, next_url=next_url), _status()


@bp.post("/deconnexion")
@requires("account.logout")
def logout():
    # A new security stamp ends this session and every remember-me cookie server side: a copy of either,
    # replayed later, no longer signs anyone in.
    accounts.end_sessions(_me())
    transaction.commit()
    logout_user()
    flash(_("Vous êtes déconnecté."), "success")
    return redirect(url_for("public.home"))


# --- password reset -------------------------------------------------------------------------------------


@bp.route("/mot-de-passe-oublie", methods=["GET", "POST"])
@requires("account.reset_password")
@PER_ACCOUNT
@PER_ADDRESS
def forgot_password():
    form = EmailForm()
    if form.validate_on_submit():
        started = time.monotonic()
        accounts.request_password_reset(form.email.data)
        transaction.commit()
        # Issue 9: writing and sending the mail of a real account takes longer than nothing; answer no sooner
        # than a floor, so the response time does not tell who has an account.
        floor = float(current_app.config.get("RESET_RESPONSE_FLOOR_SECONDS", 0))
        time.sleep(max(floor - (time.monotonic() - started), 0))
        flash(_("Si un compte actif correspond à l'adresse %(email)s, un courriel vient d'y être envoyé avec "
                "un lien pour choisir un nouveau mot de passe. Ce lien est valable %(lifetime)s.",
                email=form.email.data.strip(), lifetime=accounts.link_lifetime(accounts.RESET_PASSWORD)),
              "success")
        return redirect(url_for("accounts.login"))
    return render_template("accounts/forgot_password.html", form=form,
                           lifetime=accounts.link_lifetime(accounts.RESET_PASSWORD)), _status()


@bp.route("/reinitialiser/<token>", methods=["GET", "POST"])
@requires("account.reset_password")
def reset_password(token: str):
    user = accounts.read_token(token, accounts.RESET_PASSWORD)
    form = NewPasswordForm()
    form.account_email = user.email
    if form.validate_on_submit():
        accounts.reset_password(user, form.password.data)
        transaction.commit()
        flash(_("Votre mot de passe a été modifié. Connectez-vous avec le nouveau mot de passe."), "success")
        return redirect(url_for("accounts.login"))
    return render_template("accounts/reset_password.html", form=form, user=user), _status()


# --- invitations ----------------------------------------------------------------------------------------


@bp.route("/invitation/<token>", methods=["GET", "POST"])
@requires("account.accept_invitation")
def accept_invitation(token: str):
    user = accounts.read_token(token, accounts.INVITATION)
    form = NewPasswordForm()
    form.account_email = user.email
    if form.validate_on_submit():
        accounts.accept_invitation(user, form.password.data)
        transaction.commit()
        login_user(user)
        flash(_("Bienvenue, %(name)s : votre mot de passe est enregistré et vous êtes connecté.",
                name=user.name), "success")
        return redirect(url_for("dashboard.index"))
    return render_template("accounts/accept_invitation.html", form=form, user=user,
                           role_labels=[accounts.role_label(r) for r in sorted(user.roles)]), _status()


# --- company sign-up and email confirmation -------------------------------------------------------------


@bp.route("/inscription", methods=["GET", "POST"])
@requires("account.signup")
@PER_ACCOUNT
@PER_ADDRESS
def signup():
    form = SignupForm()
    if form.validate_on_submit():
        email = form.email.data.strip()
        try:
            accounts.signup_company(form.name.data, email, form.password.data, form.company_name.data)
            transaction.commit()
        except IntegrityError:
            # The same address signed up between our check and the commit: that sign-up's mail is on its way.
            transaction.rollback()
        # The same answer whether or not the address had an account (its owner gets a mail instead).
        flash(_("Votre compte est créé. Un courriel a été envoyé à %(email)s : suivez son lien (valable "
                "%(lifetime)s) pour confirmer votre adresse, puis connectez-vous.",
                email=email, lifetime=accounts.link_lifetime(accounts.CONFIRM_EMAIL)), "success")
        return redirect(url_for("accounts.login"))
    return render_template("accounts/signup.html", form=form), _status()


@bp.route("/confirmer/<token>", methods=["GET", "POST"])
@requires("account.confirm_email")
def confirm_email(token: str):
    """GET shows a button, POST confirms: a mail scanner that opens links must not confirm an address
    on its own (someone could sign up with another person's address)."""
    user = accounts.read_token(token, accounts.CONFIRM_EMAIL)
    if user.email_confirmed_at is not None:
        flash(_("Votre adresse électronique est déjà confirmée. Vous pouvez vous connecter."), "info")
        return redirect(url_for("accounts.login"))
    form = ButtonForm()
    if form.validate_on_submit():
        accounts.confirm_email(user)
        transaction.commit()
        flash(_("Votre adresse électronique est confirmée. Vous pouvez vous connecter."), "success")
        return redirect(url_for("accounts.login"))
    return render_template("accounts/confirm_email.html", form=form, user=user), _status()


@bp.route("/renvoyer-confirmation", methods=["GET", "POST"])
@requires("account.resend_confirmation")
@PER_ACCOUNT
@PER_ADDRESS
def resend_confirmation():
    form = EmailForm()
    if request.method == "GET" and request.args.get("email"):
        form.email.data = request.args["email"][:254]
    if form.validate_on_submit():
        accounts.resend_confirmation(form.email.data)
        transaction.commit()
        flash(_("Si un compte en attente de confirmation correspond à l'adresse %(email)s, un nouveau lien de "
                "confirmation vient d'y être envoyé. Il est valable %(lifetime)s.",
                email=form.email.data.strip(), lifetime=accounts.link_lifetime(accounts.CONFIRM_EMAIL)),
              "success")
        return redirect(url_for("accounts.login"))
    return render_template("accounts/resend_confirmation.html", form=form), _status()


# --- "Mon compte" ---------------------------------------------------------------------------------------


def _profile_page(password_form: ChangePasswordForm | None = None, language_form: LanguageForm | None = None,
                  status: int = 200):
    languages = current_app.config["LANGUAGES"]
    if language_form is None:
        language_form = LanguageForm(languages, formdata=None,
                                     locale=current_user.locale or current_app.config["BABEL_DEFAULT_LOCALE"])
    return render_template(
        "accounts/profile.html",
        password_form=password_form or ChangePasswordForm(formdata=None),
        language_form=language_form,
        role_labels=[accounts.role_label(r) for r in sorted(current_user.roles)],
    ), status


def _me() -> User:
    """The logged-in user itself, not the proxy: services inspect and audit the record."""
    return current_user._get_current_object()


@bp.get("/")
@requires("account.profile")
def profile():
    return _profile_page()


@bp.post("/mot-de-passe")
@requires("account.profile")
def change_password():
    form = ChangePasswordForm()
    form.account_email = current_user.email
    if form.validate_on_submit():
        if not accounts.check_password(current_user, form.current_password.data):
            form.current_password.errors.append(_("Le mot de passe actuel est incorrect."))
        else:
            me = _me()
            accounts.change_password(me, form.password.data)
            transaction.commit()
            # The new stamp ends every other session; keep this one.
            login_user(me)
            flash(_("Votre mot de passe a été modifié."), "success")
            return redirect(url_for("accounts.profile"))
    return _profile_page(password_form=form, status=UNPROCESSABLE)


@bp.post("/langue")
@requires("account.profile")
def change_language():
    form = LanguageForm(current_app.config["LANGUAGES"])
    if form.validate_on_submit():
        accounts.change_locale(_me(), form.locale.data)
        transaction.commit()
        # The header's switch keeps a per-session choice; the account's preference now replaces it.
        session["lang"] = form.locale.data
        flash(_("Votre langue préférée est enregistrée."), "success")
        return redirect(url_for("accounts.profile"))
    return _profile_page(language_form=form, status=UNPROCESSABLE)
