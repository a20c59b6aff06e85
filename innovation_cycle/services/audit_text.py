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
    "application.select": _l("a retenu une réponse (décision du comité)"),
    "application.not_select": _l("n'a pas retenu une réponse (décision du comité)"),
    "application.wait_list": _l("a placé une réponse sur liste d'attente (décision du comité)"),
    "attachment.add": _l("a joint un fichier"),
    "attachment.delete": _l("a supprimé une pièce jointe"),
    "clock.move": _l("a déplacé l'horloge de démonstration"),
    "company.join_approve": _l("a accepté une demande de rattachement à une entreprise"),
    "company.join_cancel": _l("a annulé une demande de rattachement à une entreprise"),
    "company.join_request": _l("a demandé à rejoindre une entreprise"),
    "company.join_refuse": _l("a refusé une demande de rattachement à une entreprise"),
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
    "user.logout": _l("s'est déconnecté"),
    "organization.add_ugap_client": _l("a ajouté un client national de l'UGAP"),
    # The selection stage (issue 7).
    "selection.settings": _l("a modifié les paramètres de la sélection"),
    "grid.propose_default": _l("a proposé la grille d'évaluation par défaut"),
    "grid.criterion_add": _l("a ajouté un critère à la grille d'évaluation"),
    "grid.criterion_edit": _l("a modifié un critère de la grille d'évaluation"),
    "grid.criterion_remove": _l("a supprimé un critère de la grille d'évaluation"),
    "grid.reorder": _l("a changé l'ordre des critères de la grille d'évaluation"),
    "conflict.automatic": _l("a relevé un conflit d'intérêts automatique"),
    "conflict.declare": _l("a déclaré un conflit d'intérêts"),
    "conflict.remove": _l("a retiré un conflit d'intérêts"),
    "assignment.propose": _l("a proposé l'affectation des évaluateurs"),
    "assignment.confirm": _l("a confirmé l'affectation des évaluateurs"),
    "assignment.add": _l("a ajouté un évaluateur à une réponse"),
    "assignment.remove": _l("a retiré un évaluateur d'une réponse"),
    "assignment.drop_conflict": _l("a retiré une réponse à un évaluateur en conflit d'intérêts"),
    "assignment.complete": _l("a complété l'affectation des évaluateurs"),
    "review.void_conflict": _l("a écarté l'évaluation d'un membre en conflit d'intérêts"),
    "review.draft": _l("a enregistré une évaluation en brouillon"),
    "review.submit": _l("a soumis une évaluation"),
    "review.revise": _l("a modifié une évaluation soumise"),
    "interest.set": _l("a indiqué l'intérêt de son organisation pour une réponse"),
    "ranking.export": _l("a exporté le classement"),
    "meeting.schedule": _l("a programmé une séance du comité"),
    "meeting.attendance": _l("a enregistré les présences d'une séance"),
    "meeting.open": _l("a ouvert une séance du comité"),
    "meeting.close": _l("a clos une séance du comité"),
    "meeting.minutes_export": _l("a exporté un procès-verbal"),
    "decision.record": _l("a enregistré une décision du comité"),
    "decision.correct": _l("a corrigé une décision du comité"),
    "decision.release": _l("a communiqué les décisions du comité"),
    "demo.seed_selection": _l("a créé les données de démonstration de la sélection"),
    "demo.seed_decisions": _l("a créé les décisions de démonstration du comité"),
    "procedure_threshold.create": _l("a ajouté un seuil de procédure"),
    "procedure_threshold.update": _l("a modifié un seuil de procédure"),
    "purchase_baseline.create": _l("a saisi les achats annuels de la PFRA"),
    "purchase_baseline.update": _l("a modifié les achats annuels de la PFRA"),
    # The census and the results (issue 8).
    "census.settings": _l("a modifié les phases du recensement"),
    "commitment.record": _l("a enregistré un engagement d'achat"),
    "commitment.update": _l("a modifié un engagement d'achat"),
    "commitment.confirm": _l("a confirmé la déclaration d'un acheteur"),
    "commitment.plan_experimentation": _l("a prévu une expérimentation"),
    "commitment.commit": _l("a enregistré un engagement d'achat ferme"),
    "commitment.launch_procedure": _l("a indiqué la procédure lancée"),
    "commitment.contract": _l("a enregistré le marché notifié"),
    "commitment.abandon": _l("a abandonné un engagement d'achat"),
    "need.carry_over": _l("a reconduit un besoin dans la collecte suivante"),
    "application.named_in_results": _l("a choisi si la solution est nommée dans les résultats"),
    "results.editorial": _l("a rédigé le texte du bilan"),
    "results.approve": _l("a approuvé le bilan"),
    "results.publish": _l("a publié le bilan"),
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
    "criteria": _l("Critère"),
    "conflicts": _l("Conflit d'intérêts"),
    "review_assignments": _l("Affectation"),
    "reviews": _l("Évaluation"),
    "buyer_interests": _l("Intérêt d'un acheteur"),
    "selection_settings": _l("Paramètres de la sélection"),
    "committee_meetings": _l("Séance du comité"),
    "decisions": _l("Décision du comité"),
    "commitments": _l("Engagement d'achat"),
    "census_settings": _l("Phases du recensement"),
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


def action(event: AuditEvent) -> str:
    """What was done, without who did it (the cycle page's history has a column for the author)."""
    verb = ACTIONS.get(event.action)
    return str(verb) if verb is not None else _("action enregistrée : %(code)s", code=event.action)


def object_label(object_type: str | None, object_id: int | None) -> str:
    if not object_type:
        return "—"
    label = str(OBJECTS.get(object_type, object_type))
    return f"{label} n° {object_id}" if object_id is not None else label
