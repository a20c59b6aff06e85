"""Forms of the accounts area: login, passwords, sign-up, "Mon compte"."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.validators import Email, EqualTo, InputRequired, Length, ValidationError

from forms import SingleLine, options
from innovation_cycle.services.accounts import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, password_problem

_EMAIL_REQUIRED = _l("Indiquez votre adresse électronique.")
_EMAIL_INVALID = _l("Adresse électronique invalide (format attendu : nom@domaine.fr).")
_EMAIL_TOO_LONG = _l("L'adresse électronique ne doit pas dépasser 254 caractères.")


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def _email_field(label=None) -> EmailField:
    return EmailField(label or _l("Adresse électronique"), filters=[_strip], validators=[
        InputRequired(message=_EMAIL_REQUIRED),
        Length(max=254, message=_EMAIL_TOO_LONG),
        Email(message=_EMAIL_INVALID),
    ], render_kw={"autocomplete": "email", "spellcheck": "false"})


def password_policy(form, field) -> None:
    """Length, not composition rules, makes a password hard to guess; the ceiling keeps hashing cheap. Common
    and breached passwords, and those built on the account's address, are refused (NIST SP 800-63B): the
    address is the form's email field, or `form.account_email` set by the view (reset, invitation, change)."""
    value = field.data or ""
    if len(value) < PASSWORD_MIN_LENGTH:
        raise ValidationError(_l("Le mot de passe doit contenir au moins %(num)d caractères.",
                                 num=PASSWORD_MIN_LENGTH))
    if len(value) > PASSWORD_MAX_LENGTH:
        raise ValidationError(_l("Le mot de passe ne doit pas dépasser %(num)d caractères.",
                                 num=PASSWORD_MAX_LENGTH))
    email_field = getattr(form, "email", None)
    email = (email_field.data if email_field is not None else None) or getattr(form, "account_email", None)
    problem = password_problem(value, email if isinstance(email, str) else None)
    if problem:
        raise ValidationError(problem)


def _new_password() -> PasswordField:
    """A fresh field each time: WTForms orders fields by creation, so each form places them where it wants."""
    return PasswordField(
        _l("Nouveau mot de passe"),
        description=_l("Au moins %(num)d caractères.", num=PASSWORD_MIN_LENGTH),
        validators=[InputRequired(message=_l("Choisissez un mot de passe.")), password_policy],
        render_kw={"autocomplete": "new-password"})


def _new_password_confirm() -> PasswordField:
    return PasswordField(
        _l("Confirmation du nouveau mot de passe"),
        validators=[InputRequired(message=_l("Saisissez une seconde fois le mot de passe.")),
                    EqualTo("password", message=_l("Les deux mots de passe ne sont pas identiques."))],
        render_kw={"autocomplete": "new-password"})


class LoginForm(FlaskForm):
    email = _email_field()
    password = PasswordField(_l("Mot de passe"), validators=[
        InputRequired(message=_l("Indiquez votre mot de passe.")),
        Length(max=1024, message=_l("Mot de passe trop long."))],
        render_kw={"autocomplete": "current-password"})
    remember = BooleanField(_l("Rester connecté sur cet appareil"))


class EmailForm(FlaskForm):
    """Asking for a reset link, or for a new confirmation link."""

    email = _email_field()


class NewPasswordForm(FlaskForm):
    """Reset and invitation: the emailed link stands for the old password."""

    password = _new_password()
    password_confirm = _new_password_confirm()


class SignupForm(FlaskForm):
    name = StringField(_l("Vos prénom et nom"), validators=[SingleLine(),
        InputRequired(message=_l("Indiquez vos prénom et nom.")),
        Length(max=200, message=_l("Le nom ne doit pas dépasser 200 caractères."))],
        render_kw={"autocomplete": "name"})
    email = _email_field(_l("Adresse électronique professionnelle"))
    company_name = StringField(_l("Nom de l'entreprise"), validators=[SingleLine(),
        InputRequired(message=_l("Indiquez le nom de votre entreprise.")),
        Length(max=200, message=_l("Le nom de l'entreprise ne doit pas dépasser 200 caractères."))],
        render_kw={"autocomplete": "organization"})
    password = _new_password()
    password_confirm = _new_password_confirm()
    accept_terms = BooleanField(
        _l("J'accepte les conditions d'utilisation du service et le traitement de mes données pour "
           "les besoins de la convention État–UGAP"),
        validators=[InputRequired(message=_l("Vous devez accepter les conditions d'utilisation pour créer "
                                             "un compte."))])


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(_l("Mot de passe actuel"), validators=[
        InputRequired(message=_l("Indiquez votre mot de passe actuel.")),
        Length(max=1024, message=_l("Mot de passe trop long."))],
        render_kw={"autocomplete": "current-password"})
    password = _new_password()
    password_confirm = _new_password_confirm()


class LanguageForm(FlaskForm):
    locale = SelectField(_l("Langue de l'interface et des courriels"),
                         validators=[InputRequired(message=_l("Choisissez une langue."))])

    def __init__(self, languages: dict[str, str], *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.locale.choices = options(list(languages.items()))
        self.locale.validate_choice = True


class ButtonForm(FlaskForm):
    """An empty form: a POST button with its CSRF token."""
