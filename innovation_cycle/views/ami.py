"""The AMI: its public page (no login), and the admin's page to write it and attach its rules document."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from forms import options, put_errors
from forms.ami import AmiForm, PublicNeedFilterForm, RulesDocumentForm
from innovation_cycle import clock, transaction
from innovation_cycle.authz import can, ensure, requires
from innovation_cycle.extensions import db
from innovation_cycle.models import Cycle
from innovation_cycle.params import page_number, parse_int
from innovation_cycle.services import ami as ami_service
from innovation_cycle.services import uploads
from innovation_cycle.services.page_cache import FragmentCache

bp = Blueprint("ami", __name__, url_prefix="/ami")


def _answer_endpoint() -> str | None:
    """The answers area's "new answer" page, once it exists."""
    return "applications.new" if "applications.new" in current_app.view_functions else None


def _filters(cycle: Cycle, themes) -> tuple[PublicNeedFilterForm, ami_service.PublicFilters]:
    form = PublicNeedFilterForm(formdata=request.args)
    form.theme.choices = options([("", _("Tous les thèmes"))] + [(str(t.id), t.name) for t in themes]
                          + [(str(ami_service.NO_THEME), _("Autres besoins (sans thème)"))])
    theme_ids = {t.id for t in themes} | {ami_service.NO_THEME}
    theme = parse_int(request.args.get("theme"), minimum=0)
    category = form.category.data if form.category.data in ("goods", "services", "works") else None
    q = (form.q.data or "").strip()[:200]
    return form, ami_service.PublicFilters(q=q, theme_id=theme if theme in theme_ids else None, category=category,
                                           experimentation=bool(form.experimentation.data),
                                           non_technological=bool(form.non_technological.data))


def _labels() -> dict[str, Any]:
    """The cards' fixed texts, translated once per page rather than once per card (a gettext call costs as
    much as the rest of a card's rendering)."""
    buyer_before, _mark, buyer_after = _("Acheteur : %(buyer)s", buyer="\x00").partition("\x00")
    return {
        "buyer": (buyer_before, buyer_after), "confidential_buyer": _("un acheteur public de la région"),
        "categories": {"goods": _("Fournitures"), "services": _("Services"), "works": _("Travaux")},
        "problem": _("Le problème à résoudre"), "context": _("Contexte"), "outcomes": _("Résultats attendus"),
        "scope": _("Périmètre"), "constraints": _("Contraintes et attentes"),
        "constraint_names": [
            ("constraint_data_protection", _("Protection des données")), ("constraint_security", _("Sécurité")),
            ("constraint_hosting", _("Hébergement")), ("constraint_accessibility", _("Accessibilité")),
            ("constraint_interoperability", _("Interopérabilité")),
            ("environmental_social", _("Attentes environnementales et sociales"))],
        "experimentation": _("Ouvert à une expérimentation"),
        "non_technological": _("Innovation non technologique bienvenue"),
        "consultation": _("Consultation envisagée : %(date)s", date="\x00").partition("\x00"),
        "cpv": _("CPV %(code)s", code="\x00").partition("\x00"),
        "answer": _("Répondre à ce besoin"), "other_needs": _("Autres besoins"),
    }


def _needs_section(cycle: Cycle, phase: str, themes) -> Markup:
    """The needs part of the page: either every theme with its first needs and a link to the rest, or one
    theme's needs a page at a time. Never every need: the page does not grow with their number."""
    form, filters = _filters(cycle, themes)
    config = current_app.config
    total = ami_service.count_public_needs(cycle, filters)
    groups, page = [], None
    if filters.theme_id is None:
        groups = ami_service.theme_overview(cycle, filters, themes, config.get("AMI_THEME_PREVIEW", 6))
    else:
        page = ami_service.theme_page(cycle, filters, themes, page_number(),
                                      config.get("AMI_PAGE_SIZE", 20))
        theme = next((t for t in themes if t.id == filters.theme_id), None)
        groups = [ami_service.ThemeGroup(theme, list(page.items), page.total or 0)] if page.total else []
    more_args = {k: v for k, v in request.args.items() if k not in ("theme", "page")}
    return Markup(render_template("ami/_needs.html", cycle=cycle, phase=phase, filters=form, total=total,
                                  filtered=bool(request.args), groups=groups, page=page, more_args=more_args,
                                  answer_endpoint=_answer_endpoint(), labels=_labels(),
                                  theme_chosen=filters.theme_id is not None, no_theme=ami_service.NO_THEME))


def _fragments() -> FragmentCache:
    """Whole pages for anonymous readers (the AMI page every company opens on the day it is announced)."""
    return current_app.extensions.setdefault(
        "ami_public_fragments", FragmentCache(ttl=current_app.config.get("AMI_CACHE_TTL", 300)))


def _sections() -> FragmentCache:
    """The needs section, the same for every reader of an address (it shows nothing of the person): signed-in
    readers share it; anonymous ones get the whole page from `_fragments` instead."""
    return current_app.extensions.setdefault(
        "ami_needs_sections", FragmentCache(ttl=current_app.config.get("AMI_CACHE_TTL", 300)))


# Stands for the CSRF token (of the header's language form) in a page cached for every anonymous reader: each
# response carries its reader's own token.
_CSRF_MARK = "\x00csrf-token\x00"


def _anonymous_page_key(cycle: Cycle, phase: str) -> tuple | None:
    """The key of the anonymous reader's whole page, or None when it must be rendered for this request (a
    flashed message waits in the session). Everything the page shows is in the key: the address, the language,
    the cycle's windows and state (with the moment, through `phase`), and the needs, themes, AMI text and files
    through `public_signature`; a simulated clock's notice, to the minute, too. Two queries on a hit: the
    cycle with its windows, and the signature."""
    if "_flashes" in session:
        return None
    simulated = clock.now().replace(second=0, microsecond=0) if clock.is_simulated() else None
    return (cycle.id, phase, str(get_locale()), request.path, request.query_string, simulated,
            tuple((w.stage, w.opens_at, w.closes_at) for w in cycle.windows), ami_service.public_signature(cycle))


def _render_public(cycle: Cycle | None, phase: str, **extra: Any) -> str:
    ami = ami_service.ami_of(cycle) if cycle else None
    preview = phase == "upcoming" and ami is not None and can(current_user, "ami.manage", cycle)
    context = {"cycle": cycle, "ami": ami, "phase": phase, "preview": preview, "needs_section": None,
               "rules": ami_service.rules_document(ami), "answer_endpoint": _answer_endpoint(),
               "window": ami_service.window(cycle) if cycle else (None, None)}
    if cycle is not None and ami is not None and (phase == "open" or preview):
        key = (cycle.id, phase, str(get_locale()), request.path, request.query_string,
               ami_service.public_signature(cycle))  # the themes are in the signature
        context["needs_section"] = _sections().get_or_set(
            key, lambda: _needs_section(cycle, phase, ami_service.themes_of(cycle)))
    return render_template("ami/public.html", **context, **extra)


def _public_page(cycle: Cycle | None):
    phase = ami_service.phase(cycle)
    if cycle is not None and not current_user.is_authenticated:
        key = _anonymous_page_key(cycle, phase)
        if key is not None:
            # Anonymous readers all see the same page for the same address: cached whole, keyed by the database
            # state it was rendered from (a changed need, AMI or cycle makes a new key, never a stale page).
            page = _fragments().get_or_set(
                key, lambda: _render_public(cycle, phase, csrf_token=lambda: _CSRF_MARK))
            return page.replace(_CSRF_MARK, generate_csrf()) if _CSRF_MARK in page else page
    return _render_public(cycle, phase)


@bp.get("")
@requires("ami.view")
def public():
    return _public_page(ami_service.public_cycle())


@bp.get("/<int:cycle_id>")
@requires("ami.view")
def cycle_page(cycle_id: int):
    cycle = db.session.get(Cycle, cycle_id)
    if cycle is None:
        abort(404)
    return _public_page(cycle)


def _load_cycle(cycle_id: int) -> Cycle:
    cycle = db.session.get(Cycle, cycle_id)
    if cycle is None:
        abort(404)
    ensure("ami.manage", cycle)
    return cycle


def _edit_page(cycle: Cycle, form: AmiForm, rules_form: RulesDocumentForm, status: int, *,
               text_errors: list[str] | None = None, rules_errors: list[str] | None = None):
    ami = ami_service.ami_of(cycle)
    return render_template("ami/edit.html", cycle=cycle, ami=ami, form=form, rules_form=rules_form,
                           text_errors=text_errors or [], rules_errors=rules_errors or [],
                           editable=ami_service.can_edit(cycle),
                           rules=ami_service.rules_document(ami), window=ami_service.window(cycle),
                           phase=ami_service.phase(cycle)), status


@bp.route("/<int:cycle_id>/rediger", methods=["GET", "POST"])
@requires("ami.manage")
def edit(cycle_id: int):
    cycle = _load_cycle(cycle_id)
    ami = ami_service.ami_of(cycle)
    form = AmiForm(obj=ami)
    if request.method == "GET" and ami is None:
        form.process(data=ami_service.default_texts(cycle))
    loose: list[str] = []
    if form.validate_on_submit():
        values = {name: form[name].data for name in ami_service.TEXT_FIELDS}
        try:
            _ami, changed = ami_service.save_text(cycle, values, actor=current_user, reason=form.reason.data)
        except ami_service.AmiInvalid as exc:
            transaction.rollback()
            cycle = _load_cycle(cycle_id)
            loose = put_errors(form, exc.errors)
        else:
            transaction.commit()
            flash(_("Le texte de l'AMI a été enregistré.") if changed else _("Aucune modification."),
                  "success" if changed else "info")
            return redirect(url_for("ami.edit", cycle_id=cycle.id))
    return _edit_page(cycle, form, RulesDocumentForm(formdata=None), 422 if request.method == "POST" else 200,
                      text_errors=loose)


@bp.post("/<int:cycle_id>/reglement")
@requires("ami.manage")
def rules_upload(cycle_id: int):
    cycle = _load_cycle(cycle_id)
    ami = ami_service.ami_of(cycle)
    rules_form = RulesDocumentForm()
    loose: list[str] = []
    if ami is None:
        loose.append(_("Rédigez et enregistrez d'abord le texte de l'AMI, puis joignez son règlement."))
    elif not ami_service.can_edit(cycle):
        loose.append(_("L'AMI est clos : son règlement ne peut plus être remplacé."))
    elif rules_form.validate_on_submit():
        previous = list(ami.attachments)
        attachment = uploads.save_from_field(rules_form.file, ami, current_user, allow_office=False)
        if attachment is None and not rules_form.file.errors:
            rules_form.file.errors = [_("Choisissez un fichier PDF à envoyer.")]
        if attachment is not None:
            for old in previous:
                if old.id != attachment.id:
                    uploads.delete_attachment(old, current_user)
            transaction.commit()
            flash(_("Le règlement « %(name)s » est joint à l'AMI.", name=attachment.original_name), "success")
            return redirect(url_for("ami.edit", cycle_id=cycle.id))
    transaction.rollback()
    cycle = _load_cycle(cycle_id)
    ami = ami_service.ami_of(cycle)
    return _edit_page(cycle, AmiForm(formdata=None, obj=ami), rules_form, 422, rules_errors=loose)
