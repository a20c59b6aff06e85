"""Extensions are created unbound here and bound in the factory (microblog's shape), so that
models, services and tests import them without an application."""

from flask_babel import Babel, Domain, _get_current_context
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from innovation_cycle.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
mail = Mail()


class RequestDomain(Domain):
    """Flask-Babel's domain, with the request's translations kept for the request.

    Flask-Babel finds the locale and looks its catalogue up again at each of the hundred-odd translated
    strings of a page (templates, form labels, lazy strings): a tenth of a listing's time. The catalogue is
    kept beside the locale it was found for, so `force_locale` (mails in their recipient's language) and
    `refresh` (a changed language) still get the right one."""

    def get_translations(self):
        ctx = _get_current_context()
        if ctx is None:
            return super().get_translations()
        kept = ctx.__dict__.get("kept_translations")
        if kept is not None and kept[0] is ctx.__dict__.get("babel_locale"):
            return kept[1]
        translations = super().get_translations()  # finds the locale (sets babel_locale) and its catalogue
        ctx.kept_translations = (ctx.__dict__.get("babel_locale"), translations)
        return translations


babel = Babel()
babel.__dict__["domain_instance"] = RequestDomain()  # Babel.domain_instance is a cached property
# Brute-force protection on the account forms; storage is Redis when REDIS_URL is set, memory otherwise.
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)
