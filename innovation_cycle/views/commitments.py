"""The purchase-commitment census (issue 8): the shortlist and its commitments, recording, moves,
confirmation, UGAP's national clients and the census's phases."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from forms import options, put_errors
from forms.commitments import ButtonForm, ClientForm, CommitmentForm, ContractForm, MoveForm, PhasesForm
from innovation_cycle import clock, formatting, transaction
from innovation_cycle.authz import can, ensure, requires
from innovation_cycle.extensions import db
from innovation_cycle.formatting import Labels
from innovation_cycle.models import Application, Commitment, Cycle, Need, Role
from innovation_cycle.params import page_number, parse_id
from innovation_cycle.services import commitments as service
from innovation_cycle.services import cycles as cycle_service
from innovation_cycle.services import listings
from innovation_cycle.services.procedures import LABELS as PROCEDURE_LABELS
from innovation_cycle.templating import url_for_ids
from workflows import commitment as flow
from workflows.base import MoveRefused

bp = Blueprint("commitments", __name__, url_prefix="/engagements")

# The shortlist's own page number in the query string (`page` is the commitments').
SHORTLIST_PAGE = "page_retenues"


@bp.app_template_global("commitment_status_label")
def commitment_status_label(status: str) -> str:
    return service.status_label(status)


@bp.app_template_filter("euros")
def euros(value) -> str:
    return formatting.euros(value)


@bp.app_template_global("procedure_label")
def procedure_label(code: str | None) -> str:
    return str(PROCEDURE_LABELS.get(code, "")) if code else ""


def _load(commitment_id: int, action: str = "commitment.view") -> Commitment:
    commitment = db.session.get(Commitment, commitment_id)
    if commitment is None:
        abort(404)
    ensure(action, commitment)
    return commitment


def _cycle() -> Cycle | None:
    cycle_id = parse_id(request.args.get("cycle_id"))
    if cycle_id:
        cycle = db.session.get(Cycle, cycle_id)
        if cycle is None:
            abort(404)
        return cycle
    census = db.session.scalar(select(Cycle).where(Cycle.state == service.STAGE).order_by(Cycle.year.desc()))
    return census or cycle_service.current_cycle()


def _flash_refusals(exc: MoveRefused) -> None:
    for refusal in exc.refusals:
        flash(service.refusal_message(refusal), "error")


def _page(query, total: int, param: str) -> listings.RowsPage:
    """A page of one of the census page's sections (its own page number in the query string), its total
    counted apart on the base table; plain rows, not objects (issue 11: a row shows a few values, and two
    sections of 50 objects with their related ones cost more than the rest of the page)."""
    return listings.rows_page(query, page=page_number(param), per_page=current_app.config["PAGE_SIZE"], total=total)


@bp.get("/")
@requires("commitment.list")
def index():
    """The census page: the commitments and the shortlist a page at a time each (issue 11: the national
    dataset holds thousands), in queries that do not grow with them."""
    cycle = _cycle()
    to_confirm = bool(request.args.get("to_confirm"))
    page = _page(service.listing_rows(current_user, cycle, to_confirm=to_confirm),
                 service.listing_count(current_user, cycle, to_confirm=to_confirm), "page")
    shortlist = shortlist_page = None
    if cycle is not None and can(current_user, "commitment.record") and not current_user.has_role(Role.COMPANY):
        shortlist_page = _page(service.shortlist_rows(cycle), service.selected_count(cycle), SHORTLIST_PAGE)
        counts = service.counts_by_answer(current_user, cycle, (a.id for a in shortlist_page.items),
                                          to_confirm=to_confirm)
        shortlist = [(a, counts.get(a.id, 0)) for a in shortlist_page.items]
    return render_template(
        "commitments/index.html", cycle=cycle, page=page, rows=page.items, shortlist=shortlist,
        shortlist_page=shortlist_page, shortlist_param=SHORTLIST_PAGE, button=ButtonForm(formdata=None),
        carry_over=service.carry_over_candidates(current_user), own_selected=service.own_selected_answers(current_user),
        phase=service.phase(cycle) if cycle else None,
        settings=service.settings_of(cycle) if cycle else None,
        refusal=service.recording_refusal(current_user, cycle) if cycle else None,
        # Each label worded once for the page, not once per row (a gettext call costs as much as a row); the
        # commitments' rows kept between requests under everything they show (templating.rows_html).
        channel_labels=Labels.of(service.channel_label, service.CHANNEL_LABELS),
        status_labels=Labels.of(service.status_label, service.STATUS_LABELS),
        show_url=url_for_ids("commitments.show", "commitment_id"),
        new_url=url_for_ids("commitments.new", "application_id", cycle_id=cycle.id) if cycle else None)


def _fill_choices(form: CommitmentForm, cycle: Cycle, commitment: Commitment | None = None) -> None:
    answers = service.selected_answers(cycle)
    form.application_id.choices = options(
        [(a.id, f"{a.solution_name} — {a.company.organization.name}") for a in answers])
    application = commitment.application if commitment else next(
        (a for a in answers if a.id == (form.application_id.data or parse_id(request.args.get("application_id")))),
        answers[0] if answers else None)
    needs = service.shortlisted_needs(application) if application else []
    form.need_id.choices = options(
        [(0, _("— Aucun —"))] + [(n.id, f"{n.title} ({n.organization.name})") for n in needs])
    channels = service.allowed_channels(current_user)
    if commitment is not None:
        channels = [commitment.channel]
    form.channel.choices = options([(c, service.channel_label(c)) for c in channels])
    form.buyer_organization_id.choices = options([(o.id, o.name) for o in service.buyer_choices(current_user)])


def _data(form: CommitmentForm) -> service.CommitmentData:
    return service.CommitmentData(
        application_id=form.application_id.data, need_id=form.need_id.data or None,
        buyer_organization_id=form.buyer_organization_id.data, channel=form.channel.data or "",
        amount=form.amount.data or "", quantity=form.quantity.data, expected_on=form.expected_on.data,
        procedure=form.procedure.data or "", procedure_note=form.procedure_note.data or "",
        notes=form.notes.data or "")


@bp.route("/nouveau", methods=["GET", "POST"])
@requires("commitment.record")
def new():
    cycle = _cycle()
    refusal = service.recording_refusal(current_user, cycle) if cycle else _("Aucun cycle n'est en cours.")
    if refusal:
        if request.method == "POST":
            flash(refusal, "error")
            return redirect(url_for("commitments.index"))
        return render_template("commitments/form.html", form=None, cycle=cycle, commitment=None, refusal=refusal)
    form = CommitmentForm()
    _fill_choices(form, cycle)
    if request.method == "GET":
        form.application_id.data = parse_id(request.args.get("application_id"))
        return render_template("commitments/form.html", form=form, cycle=cycle, commitment=None)
    loose: list[str] = []
    if form.validate_on_submit():
        try:
            commitment = service.record(cycle, current_user, _data(form))
        except service.CommitmentInvalid as exc:
            transaction.rollback()
            loose = put_errors(form, exc.errors)
        except MoveRefused as exc:
            transaction.rollback()
            _flash_refusals(exc)
            return redirect(url_for("commitments.index", cycle_id=cycle.id))
        else:
            transaction.commit()
            flash(_("L'engagement est enregistré.") if commitment.confirmed else _(
                "Votre déclaration est enregistrée : la PFRA la confirmera."), "success")
            return redirect(url_for("commitments.show", commitment_id=commitment.id))
    return render_template("commitments/form.html", form=form, cycle=cycle, commitment=None,
                           loose_errors=loose), 422


@bp.get("/<int:commitment_id>")
@requires("commitment.view")
def show(commitment_id: int):
    commitment = _load(commitment_id)
    advice = service.advice_for(commitment.amount_excl_vat, commitment.channel, commitment.buyer,
                                commitment.expected_on, commitment.application)
    editable = can(current_user, "commitment.edit", commitment) and service.follow_up_open(commitment.cycle)
    moves = []
    if editable:
        moves = [(t, service.TRIGGER_LABELS[t], MoveForm(formdata=None, trigger=t, expected_state=commitment.status,
                                                          prefix=t))
                 for t in flow.triggers_from(commitment.status) if t != flow.CONTRACT]
    contract_form = None
    if editable and flow.CONTRACT in flow.triggers_from(commitment.status):
        contract_form = ContractForm(formdata=None, expected_state=commitment.status,
                                     contract_procedure=commitment.procedure or "",
                                     holder_siret=commitment.company.organization.siret or "")
    return render_template("commitments/show.html", commitment=commitment, advice=advice, editable=editable,
                           moves=moves, contract_form=contract_form, button=ButtonForm(formdata=None),
                           channel_label=service.channel_label, contract_labels=service.CONTRACT_LABELS)


@bp.route("/<int:commitment_id>/modifier", methods=["GET", "POST"])
@requires("commitment.edit")
def edit(commitment_id: int):
    commitment = _load(commitment_id, "commitment.edit")
    if not service.follow_up_open(commitment.cycle):
        flash(service.refusal_message(flow.Refusal("follow_up_closed")), "error")
        return redirect(url_for("commitments.show", commitment_id=commitment.id))
    form = CommitmentForm(obj=None if request.method == "POST" else commitment)
    _fill_choices(form, commitment.cycle, commitment)
    if request.method == "GET":
        form.application_id.data = commitment.application_id
        form.need_id.data = commitment.need_id or 0
        form.amount.data = f"{commitment.amount_excl_vat:.2f}".replace(".", ",") if commitment.amount_excl_vat else ""
        form.version.data = str(commitment.version)
        return render_template("commitments/form.html", form=form, cycle=commitment.cycle, commitment=commitment)
    form.application_id.data = commitment.application_id
    loose: list[str] = []
    if form.validate_on_submit():
        version = int(form.version.data) if (form.version.data or "").isdigit() else None
        try:
            service.update(commitment.id, current_user, _data(form), expected_version=version)
        except service.CommitmentInvalid as exc:
            transaction.rollback()
            loose = put_errors(form, exc.errors)
        except MoveRefused as exc:
            transaction.rollback()
            _flash_refusals(exc)
            return redirect(url_for("commitments.show", commitment_id=commitment_id))
        else:
            transaction.commit()
            flash(_("L'engagement est mis à jour."), "success")
            return redirect(url_for("commitments.show", commitment_id=commitment_id))
    return render_template("commitments/form.html", form=form, cycle=commitment.cycle, commitment=commitment,
                           loose_errors=loose), 422


@bp.post("/<int:commitment_id>/etat")
@requires("commitment.edit")
def move(commitment_id: int):
    commitment = _load(commitment_id, "commitment.edit")
    # Each move's form on the page has its own prefix (the trigger), so its fields' ids stay unique.
    prefix = next((t for t in flow.TRIGGERS if f"{t}-trigger" in request.form and t != flow.CONTRACT), "")
    form = MoveForm(prefix=prefix)
    if not form.validate_on_submit():
        flash(_("Ce changement n'a pas pu être enregistré : rechargez la page."), "error")
        return redirect(url_for("commitments.show", commitment_id=commitment.id))
    try:
        service.move(commitment.id, form.trigger.data, current_user, expected_state=form.expected_state.data,
                     reason=form.reason.data or "")
    except MoveRefused as exc:
        transaction.rollback()
        _flash_refusals(exc)
    else:
        transaction.commit()
        flash(_("L'engagement est maintenant à l'état « %(state)s ».",
                state=service.status_label(db.session.get(Commitment, commitment_id).status)), "success")
    return redirect(url_for("commitments.show", commitment_id=commitment_id))


@bp.post("/<int:commitment_id>/marche")
@requires("commitment.edit")
def contract(commitment_id: int):
    commitment = _load(commitment_id, "commitment.edit")
    form = ContractForm()
    if not form.validate_on_submit():
        flash(_("Ce changement n'a pas pu être enregistré : rechargez la page."), "error")
        return redirect(url_for("commitments.show", commitment_id=commitment.id))
    data = service.ContractData(
        contract_identifier=form.contract_identifier.data or "", contract_notified_on=form.contract_notified_on.data,
        contract_amount=form.contract_amount.data or "", contract_duration_months=form.contract_duration_months.data,
        contract_cpv=form.contract_cpv.data or "", contract_place=form.contract_place.data or "",
        contract_procedure=form.contract_procedure.data or "", holder_siret=form.holder_siret.data or "")
    try:
        service.move(commitment.id, flow.CONTRACT, current_user, expected_state=form.expected_state.data,
                     contract=data)
    except service.CommitmentInvalid as exc:
        transaction.rollback()
        loose = put_errors(form, exc.errors)
        commitment = db.session.get(Commitment, commitment_id)
        return render_template("commitments/show.html", commitment=commitment, editable=True, moves=[],
                               advice=None, contract_form=form, button=ButtonForm(formdata=None),
                               channel_label=service.channel_label, contract_labels=service.CONTRACT_LABELS,
                               loose_errors=loose), 422
    except MoveRefused as exc:
        transaction.rollback()
        _flash_refusals(exc)
    else:
        transaction.commit()
        flash(_("Le marché est enregistré avec ses données essentielles."), "success")
    return redirect(url_for("commitments.show", commitment_id=commitment_id))


@bp.post("/<int:commitment_id>/confirmer")
@requires("commitment.confirm")
def confirm(commitment_id: int):
    commitment = _load(commitment_id, "commitment.view")
    if commitment.confirmed_at is not None:
        flash(_("Cette déclaration est déjà confirmée."), "info")
        return redirect(url_for("commitments.show", commitment_id=commitment_id))
    ensure("commitment.confirm", commitment)
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        service.confirm(commitment.id, current_user)
    except MoveRefused as exc:
        transaction.rollback()
        _flash_refusals(exc)
    else:
        transaction.commit()
        flash(_("La déclaration est confirmée."), "success")
    return redirect(url_for("commitments.show", commitment_id=commitment_id))


@bp.route("/clients/nouveau", methods=["GET", "POST"])
@requires("commitment.add_client")
def client_new():
    form = ClientForm()
    loose: list[str] = []
    if request.method == "POST" and form.validate_on_submit():
        try:
            org = service.add_client(current_user, form.name.data or "", form.siret.data or "",
                                     form.department.data or "")
        except service.CommitmentInvalid as exc:
            transaction.rollback()
            loose = put_errors(form, exc.errors)
        else:
            transaction.commit()
            flash(_("« %(name)s » est ajoutée aux clients nationaux de l'UGAP.", name=org.name), "success")
            return redirect(url_for("commitments.new"))
        return render_template("commitments/client.html", form=form, loose_errors=loose), 422
    return render_template("commitments/client.html", form=form, loose_errors=loose)


@bp.route("/cycle/<int:cycle_id>/phases", methods=["GET", "POST"])
@requires("census.settings")
def phases(cycle_id: int):
    cycle = db.session.get(Cycle, cycle_id)
    if cycle is None:
        abort(404)
    settings = service.settings_of(cycle)
    form = PhasesForm()
    if request.method == "GET":
        form.ugap_phase_opens_at.data = clock.to_paris(settings.ugap_phase_opens_at).replace(tzinfo=None)
        form.follow_up_delay_days.data = settings.follow_up_delay_days
        return render_template("commitments/phases.html", form=form, cycle=cycle)
    loose: list[str] = []
    if form.validate_on_submit():
        at = form.ugap_phase_opens_at.data.replace(tzinfo=clock.PARIS).astimezone(clock.UTC)
        try:
            service.update_settings(cycle, at, form.follow_up_delay_days.data)
        except service.CommitmentInvalid as exc:
            transaction.rollback()
            loose = put_errors(form, exc.errors)
        else:
            transaction.commit()
            flash(_("Les phases du recensement sont enregistrées."), "success")
            return redirect(url_for("commitments.index", cycle_id=cycle.id))
    return render_template("commitments/phases.html", form=form, cycle=cycle, loose_errors=loose), 422


@bp.post("/besoins/<int:need_id>/reconduire")
@requires("need.carry_over")
def carry_over(need_id: int):
    need = db.session.get(Need, need_id)
    if need is None:
        abort(404)
    ensure("need.carry_over", need)
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        new_need = service.carry_over(need.id, current_user)
    except MoveRefused as exc:
        transaction.rollback()
        _flash_refusals(exc)
        return redirect(url_for("commitments.index"))
    transaction.commit()
    flash(_("Le besoin est reconduit en brouillon dans la collecte %(year)s : relisez-le et soumettez-le.",
            year=new_need.cycle.year), "success")
    return redirect(url_for("needs.show", need_id=new_need.id))


@bp.post("/solutions/<int:application_id>/nommer")
@requires("results.name_consent")
def name_consent(application_id: int):
    application = db.session.get(Application, application_id)
    if application is None:
        abort(404)
    ensure("results.name_consent", application)
    if not ButtonForm().validate_on_submit():
        abort(400)
    named = request.form.get("named") == "1"
    service.set_named_in_results(application.id, current_user, named)
    transaction.commit()
    flash(_("Votre entreprise sera nommée sur la page publique des résultats.") if named else _(
        "Votre entreprise ne sera pas nommée sur la page publique des résultats (elle y sera comptée)."), "success")
    return redirect(url_for("commitments.index"))
