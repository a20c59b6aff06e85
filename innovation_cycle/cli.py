"""Command-line entry points: `flask --app wsgi create-admin EMAIL`, `flask --app wsgi seed-demo`,
`flask --app wsgi worker` (notifications, with REDIS_URL) and `flask --app wsgi dispatch` (one pass)."""

from __future__ import annotations

from datetime import date

import click
from flask import Flask, current_app
from sqlalchemy import func, select

from innovation_cycle import clock
from innovation_cycle.extensions import db
from innovation_cycle.models import (
    CommitteeMember,
    Convention,
    ConventionMembership,
    Organization,
    OrganizationKind,
    Role,
    Tier,
    User,
    UserRole,
)
from innovation_cycle.services import accounts, audit, cycles

DEMO_PASSWORD = "demo-innovation-2017"
DEMO_CONVENTION = "Convention État–UGAP pour l'accès des TPE-PME innovantes à la commande publique"
# Simulated "now" of a fresh demo: early March 2017, needs collection under way.
DEMO_START = (2017, 3, 1, 9, 0)


def init_app(app: Flask) -> None:
    app.cli.add_command(create_admin)
    app.cli.add_command(seed_demo)
    app.cli.add_command(worker)
    app.cli.add_command(dispatch)


def _find_user(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


@click.command("create-admin")
@click.argument("email")
@click.option("--name", default=None, help="Nom affiché (par défaut : la partie locale de l'adresse).")
@click.option("--password", prompt="Mot de passe", hide_input=True, confirmation_prompt=True,
              help="Mot de passe (au moins 12 caractères) ; demandé s'il n'est pas donné.")
def create_admin(email: str, name: str | None, password: str) -> None:
    """Create an administrator, or give the admin role to an existing account."""
    if len(password) < 12:
        raise click.BadParameter("le mot de passe doit contenir au moins 12 caractères.", param_hint="--password")
    if "@" not in email:
        raise click.BadParameter("adresse électronique invalide.", param_hint="EMAIL")
    user = _find_user(email)
    if user is None:
        user = User(email=email.strip(), name=name or email.split("@")[0], active=True, created_at=clock.now(),
                    email_confirmed_at=clock.now())
        db.session.add(user)
    accounts.set_password(user, password)
    if Role.ADMIN not in user.roles:
        user.role_rows.append(UserRole(role=Role.ADMIN))
    db.session.flush()
    audit.record("user.create_admin", user, after={"email": user.email, "roles": user.roles}, actor=None)
    db.session.commit()
    click.echo(f"Administrateur prêt : {user.email}")


def _org(name: str, kind: OrganizationKind, department: str, siret: str | None = None) -> Organization:
    org = Organization(name=name, kind=kind, department=department, siret=siret, siren=siret[:9] if siret else None)
    db.session.add(org)
    return org


def _user(email: str, name: str, org: Organization, password: str, *roles: Role) -> User:
    user = User(email=email, name=name, organization=org, active=True, created_at=clock.now(),
                email_confirmed_at=clock.now())
    accounts.set_password(user, password)
    user.role_rows = [UserRole(role=r) for r in roles]
    db.session.add(user)
    return user


DEMO_USERS = [
    # email, name, organization key, roles
    ("admin@demo.orcp.fr", "Camille Secrétariat (ORCP)", "prefecture", (Role.ADMIN,)),
    ("acheteur@demo.orcp.fr", "Bruno Acheteur (MEL)", "mel", (Role.BUYER,)),
    ("acheteuse.lille@demo.orcp.fr", "Léa Acheteuse (Ville de Lille)", "lille", (Role.BUYER,)),
    ("pfra@demo.orcp.fr", "Nadia Agent PFRA", "pfra", (Role.PFRA_AGENT,)),
    ("ugap@demo.orcp.fr", "Olivier Agent UGAP", "ugap", (Role.UGAP_AGENT,)),
    ("comite@demo.orcp.fr", "Sophie Comité (EuraTechnologies)", "euratech", (Role.COMMITTEE_MEMBER,)),
    ("entreprise@demo.orcp.fr", "Karim Fondateur (Lumière Data)", "company", (Role.COMPANY,)),
]


@click.command("seed-demo")
@click.option("--password", default=DEMO_PASSWORD, show_default=True, help="Mot de passe des comptes de démonstration.")
@click.option("--etape", type=click.Choice(["besoins", "ami", "selection", "recensement", "resultats"]),
              default="besoins", show_default=True,
              help="besoins : le 1er mars 2017, collecte des besoins en cours ; ami : le 20 avril 2017, AMI ouvert "
                   "avec environ 80 réponses ; selection : le 26 juin 2017, sélection en cours (comité, grille, "
                   "évaluations, séance programmée) ; recensement : le 11 septembre 2017, décisions communiquées et "
                   "recensement des engagements en phase UGAP ; resultats : le 17 octobre 2017, bilan publié.")
def seed_demo(password: str, etape: str) -> None:
    """Build the demo: the 2017–2019 convention, its members, a cycle under way and one user per role.

    Does nothing if the demo convention already exists, so the demo command can run again."""
    if db.session.scalar(select(Convention.id).where(Convention.name == DEMO_CONVENTION)):
        click.echo("La démonstration est déjà en place : rien à faire.")
        return
    if len(password) < 12:
        raise click.BadParameter("le mot de passe doit contenir au moins 12 caractères.", param_hint="--password")

    orgs = {
        "prefecture": _org("Préfecture de la région Hauts-de-France (SGAR)", OrganizationKind.STATE_SERVICE, "59"),
        "pfra": _org("Plateforme régionale des achats de l'État (PFRA) Hauts-de-France", OrganizationKind.PFRA, "59"),
        "ugap": _org("UGAP — Union des groupements d'achats publics", OrganizationKind.UGAP, "77"),
        "mel": _org("Métropole européenne de Lille (MEL)", OrganizationKind.LOCAL_AUTHORITY, "59"),
        "lille": _org("Ville de Lille", OrganizationKind.LOCAL_AUTHORITY, "59"),
        "euratech": _org("EuraTechnologies", OrganizationKind.DEVELOPMENT_AGENCY, "59"),
        "lift": _org("Lille is French Tech", OrganizationKind.DEVELOPMENT_AGENCY, "59"),
        "company": _org("Lumière Data SAS", OrganizationKind.COMPANY, "62"),
    }
    convention = Convention(name=DEMO_CONVENTION, region="Hauts-de-France", signed_on=date(2017, 1, 26),
                            starts_on=date(2017, 1, 26), ends_on=date(2020, 1, 25))
    db.session.add(convention)
    tiers = {
        "prefecture": (Tier.FOUNDING_PARTNER, True), "pfra": (Tier.FOUNDING_PARTNER, True),
        "ugap": (Tier.FOUNDING_PARTNER, True), "mel": (Tier.ASSOCIATED_MEMBER, True),
        "lille": (Tier.ASSOCIATED_MEMBER, True), "euratech": (Tier.ASSOCIATED_MEMBER, True),
        "lift": (Tier.ASSOCIATED_MEMBER, False),
    }
    for key, (tier, committee) in tiers.items():
        db.session.add(ConventionMembership(convention=convention, organization=orgs[key], tier=tier,
                                            on_committee=committee))
    users = {email: _user(email, name, orgs[key], password, *roles) for email, name, key, roles in DEMO_USERS}
    db.session.flush()

    # The demo's clock starts in early March 2017, with the needs collection open.
    clock.simulate(clock.paris_datetime(*DEMO_START))

    admin = users["admin@demo.orcp.fr"]
    cycle = cycles.create_cycle(convention, 2017)
    cycle.committee.extend(CommitteeMember(user_id=users[e].id) for e in ("comite@demo.orcp.fr", "admin@demo.orcp.fr"))
    cycles.move(cycle.id, "advance", expected_state="draft", actor=admin)
    # Issue 3: needs, the AMI, companies; answers only once the AMI is open (see demo_data's docstring).
    from innovation_cycle import demo_data

    counts = demo_data.seed_needs_and_companies(cycle, orgs, users, admin)
    later = ("ami", "selection", "recensement", "resultats")
    if etape in later:
        demo_data.move_to_ami(cycle, admin)
        counts["answers"] = demo_data.seed_answers(cycle, admin)
    if etape in later[1:]:  # issue 7: the cycle in selection
        counts.update(demo_data.move_to_selection(cycle, admin, admin.password_hash or ""))
    if etape in later[2:]:  # issue 8: decisions released, the census under way
        counts.update(demo_data.move_to_census(cycle, admin, orgs, users))
    if etape == "resultats":  # issue 8: the bilan published
        demo_data.move_to_results(cycle, admin, users)
    audit.record("demo.seed", convention, after={"users": sorted(users), **counts}, actor=None)
    db.session.commit()
    click.echo(f"Démonstration prête. Comptes (mot de passe : {password}) :")
    for email, name, _key, roles in DEMO_USERS:
        click.echo(f"  {email:32} {name} [{', '.join(r.value for r in roles)}]")
    click.echo(f"Besoins : {counts['needs']}, entreprises : {counts['companies']}"
               + (f", réponses : {counts['answers']}." if "answers" in counts else "."))
    if etape == "resultats":
        click.echo(f"Date simulée : 17 octobre 2017, bilan du cycle 2017 publié : /resultats/{cycle.year}. "
                   "Le cycle peut être clos après le 31 octobre (ou en forçant, avec une raison).")
    elif etape == "recensement":
        click.echo(f"Date simulée : 11 septembre 2017, recensement des engagements en phase UGAP ; "
                   f"{counts['selected']} solutions retenues, {counts['commitments']} engagements recensés, "
                   "une déclaration de la MEL à confirmer par la PFRA.")
    elif etape == "selection":
        click.echo("Date simulée : 26 juin 2017, sélection du cycle 2017 en cours ; comité : "
                   + ", ".join(email for email, _name, _org in demo_data.DEMO_COMMITTEE) + ", comite@demo.orcp.fr.")
    elif etape == "ami":
        click.echo("Date simulée : 20 avril 2017, AMI du cycle 2017 ouvert.")
    else:
        click.echo("Date simulée : 1er mars 2017, collecte des besoins du cycle 2017 en cours.")



# --- notifications (issue 4) ---------------------------------------------------------------------------


@click.command("worker")
@click.option("--burst", is_flag=True, help="Traiter la file puis s'arrêter (tests, tâches ponctuelles).")
@click.option("--no-dispatch", is_flag=True, help="Ne pas lancer le répartiteur périodique dans ce processus.")
@click.option("--interval", type=float, default=None,
              help="Secondes entre deux passages du répartiteur (défaut : DISPATCH_INTERVAL_SECONDS).")
@click.option("--log-level", default="INFO", show_default=True, help="Niveau de journalisation du worker.")
def worker(burst: bool, no_dispatch: bool, interval: float | None, log_level: str) -> None:
    """Run an RQ worker (with its scheduler) that sends the notifications, and the periodic dispatcher."""
    from innovation_cycle import tasks

    app = current_app._get_current_object()
    if not app.config.get("REDIS_URL"):
        raise click.ClickException("REDIS_URL n'est pas défini : sans Redis, l'application envoie elle-même "
                                   "les courriels (mode intégré) ; `flask --app wsgi dispatch` lance un passage.")
    app.config["WORKER_LOG_LEVEL"] = log_level.upper()
    tasks.run_worker(app, burst=burst, dispatch=not no_dispatch, interval=interval)


@click.command("dispatch")
def dispatch() -> None:
    """One dispatcher pass: automatic moves, due reminders, digests, lost rows, and the due mails handed to
    the workers (or sent here without Redis). For cron, and for tests."""
    from innovation_cycle.services import notifications

    report = notifications.dispatch_due()
    click.echo(f"Répartiteur : {report}")
