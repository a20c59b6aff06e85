"""The audit journal as people read it: one French sentence per event instead of its code (`cycle.advance`,
`clock.move`), and what it was done to. The raw code and JSON stay available behind a disclosure.

Areas that add actions add their sentence here; an action without one reads « Action enregistrée : <code> ».
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from innovation_cycle.models import AuditEvent
from innovation_cycle.services.cycles import state_label

ACTIONS: dict[str, Any] = {
    "ami.create": _l("a rédigé le texte de l'AMI"),
    "ami.update": _l("a modifié le texte de l'AMI"),
    "application.create": _l("a créé une réponse à l'AMI"),
    "application.update": _l("a modifié une réponse à l'AMI"),
    "application.submit": _l("a soumis une réponse à l'AMI"),
    "application.withdraw": _l("a retiré une réponse à l'AMI"),
    "application.declare_eligible": _l("a déclaré une réponse éligible"),
    "application.declare_ineligible": _l("a déclaré une réponse non éligible"),
    "attachment.add": _l("a joint un fichier"),
    "attachment.delete": _l("a supprimé une pièce jointe"),
    "clock.move": _l("a déplacé l'horloge de démonstration"),
    "company.join_approve": _l("a accepté une demande de rattachement à une entreprise"),
    "company.join_cancel": _l("a annulé une demande de rattachement à une entreprise"),
    "company.join_request": _l("a demandé à rejoindre une entreprise"),
    "company.register": _l("a enregistré une entreprise"),
    "company.update": _l("a modifié une entreprise"),
    "convention.create": _l("a créé une convention"),
    "convention.delete": _l("a supprimé une convention"),
    "convention.update": _l("a modifié une convention"),
    "cycle.advance": _l("a fait passer le cycle à l'étape suivante"),
    "cycle.step_back": _l("a fait revenir le cycle à l'étape précédente"),
    "cycle.close": _l("a clos le cycle"),
    "cycle.calendar": _l("a modifié le calendrier du cycle"),
    "cycle.committee_add": _l("a ajouté un membre au comité de pilotage"),
    "cycle.committee_remove": _l("a retiré un membre du comité de pilotage"),
    "cycle.create": _l("a créé un cycle"),
    "cycle.prepare_next": _l("a préparé le cycle de l'année suivante"),
    "demo.seed": _l("a créé les données de démonstration"),
    "demo.seed_answers": _l("a créé les réponses de démonstration"),
    "listing.export_needs": _l("a exporté la liste des besoins"),
    "listing.export_applications": _l("a exporté la liste des réponses"),
    "membership.add": _l("a ajouté un membre à la convention"),
    "membership.remove": _l("a retiré un membre de la convention"),
    "membership.update": _l("a modifié un membre de la convention"),
    "need.create": _l("a créé un besoin"),
    "need.delete": _l("a supprimé un brouillon de besoin"),
    "need.update": _l("a modifié un besoin"),
    "need.submit": _l("a soumis un besoin à la qualification"),
    "need.accept": _l("a accepté un besoin"),
    "need.return_for_changes": _l("a renvoyé un besoin à l'acheteur pour modification"),
    "need.revise": _l("a repris un besoin renvoyé"),
    "need.reject": _l("a rejeté un besoin"),
    "need.merge": _l("a fusionné un besoin avec un autre"),
    "notification.dispatch": _l("a lancé l'envoi des courriels"),
    "notification.retry": _l("a relancé l'envoi d'un courriel"),
    "organization.create": _l("a créé une organisation"),
    "organization.update": _l("a modifié une organisation"),
    "theme.create": _l("a créé un thème"),
    "theme.delete": _l("a supprimé un thème"),
    "theme.rename": _l("a renommé un thème"),
    "user.accept_invitation": _l("a accepté son invitation"),
    "user.calendar_token_reset": _l("a renouvelé son lien d'agenda"),
    "user.change_locale": _l("a changé de langue"),
    "user.change_password": _l("a changé son mot de passe"),
    "user.confirm_email": _l("a confirmé son adresse électronique"),
    "user.create_admin": _l("a créé un compte administrateur"),
    "user.invite": _l("a invité une personne"),
    "user.notification_preferences": _l("a réglé ses notifications"),
    "user.resend_invitation": _l("a renvoyé une invitation"),
    "user.reset_password": _l("a réinitialisé son mot de passe"),
    "user.signup": _l("a créé son compte entreprise"),
    "user.update": _l("a modifié un compte"),
}

OBJECTS: dict[str, Any] = {
    "cycles": _l("Cycle"),
    "needs": _l("Besoin"),
    "applications": _l("Réponse"),
    "companies": _l("Entreprise"),
    "organizations": _l("Organisation"),
    "users": _l("Compte"),
    "conventions": _l("Convention"),
    "convention_memberships": _l("Membre de convention"),
    "themes": _l("Thème"),
    "amis": _l("AMI"),
    "attachments": _l("Pièce jointe"),
    "notifications": _l("Courriel"),
    "settings": _l("Réglage"),
}


def sentence(event: AuditEvent) -> str:
    """« anne@orcp.fr a fait passer le cycle à l'étape suivante : Sourcing par l'AMI. » (the actor as recorded:
    the address, kept even if the account is renamed)."""
    actor = event.actor_label if event.actor_id is not None else _("Le système")
    verb = ACTIONS.get(event.action)
    if verb is None:
        return _("%(actor)s — action enregistrée : %(code)s", actor=actor, code=event.action)
    text = f"{actor} {verb}"
    after = event.after if isinstance(event.after, dict) else {}
    if event.action.startswith("cycle.") and after.get("state"):
        text += _(" : %(stage)s", stage=state_label(after["state"]))
        if after.get("forced"):
            text += _(" (passage forcé)")
    return text + "."


def object_label(object_type: str | None, object_id: int | None) -> str:
    if not object_type:
        return "—"
    label = str(OBJECTS.get(object_type, object_type))
    return f"{label} n° {object_id}" if object_id is not None else label
