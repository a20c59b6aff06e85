"""The one authorization policy: `can(user, action, target)`.

Views ask it through `requires`/`ensure`, templates through the `can` global, so a button is hidden exactly
when its view would refuse. Rules are composable predicates (pretalx's idea, without Django): role and state
together make a permission.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, current_app
from flask_login import current_user

from innovation_cycle.models import Role

Predicate = Callable[[Any, Any], bool]
F = TypeVar("F", bound=Callable[..., Any])


class Rule:
    def __init__(self, fn: Predicate, name: str = ""):
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "rule")

    def __call__(self, user: Any, target: Any = None) -> bool:
        return bool(self.fn(user, target))

    def __and__(self, other: Rule) -> Rule:
        return Rule(lambda u, t: self(u, t) and other(u, t), f"({self.name} & {other.name})")

    def __or__(self, other: Rule) -> Rule:
        return Rule(lambda u, t: self(u, t) or other(u, t), f"({self.name} | {other.name})")

    def __invert__(self) -> Rule:
        return Rule(lambda u, t: not self(u, t), f"~{self.name}")


def _authenticated(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False))


anyone = Rule(lambda u, t: True, "anyone")
anonymous = Rule(lambda u, t: not _authenticated(u), "anonymous")
authenticated = Rule(lambda u, t: _authenticated(u), "authenticated")


def has_role(*roles: Role) -> Rule:
    return Rule(lambda u, t: _authenticated(u) and u.has_role(*roles), "has_role(" + ",".join(roles) + ")")


def _same_organization(user: Any, target: Any) -> bool:
    """The target belongs to the user's organization (the target is the organization, or points to it)."""
    if not _authenticated(user) or target is None or user.organization_id is None:
        return False
    from innovation_cycle.models import Organization

    org_id = target.id if isinstance(target, Organization) else getattr(target, "organization_id", None)
    return org_id == user.organization_id


is_admin = has_role(Role.ADMIN)
same_organization = Rule(_same_organization, "same_organization")
demo_mode = Rule(lambda u, t: bool(current_app.config.get("DEMO_MODE")), "demo_mode")

POLICY: dict[str, Rule] = {
    # Public pages.
    "public.view": anyone,
    "account.login": anyone,
    "account.signup": anonymous,
    # Every logged-in user.
    "dashboard.view": authenticated,
    "account.logout": authenticated,
    # Organization scoping: a buyer sees its own organization's private records only.
    "organization.view": is_admin | same_organization,
    # The observatory's secretariat.
    "admin.access": is_admin,
    "convention.manage": is_admin,
    "organization.manage": is_admin,
    "user.manage": is_admin,
    "cycle.view": is_admin,
    "cycle.manage": is_admin,
    "cycle.move": is_admin,
    "audit.view": is_admin,
    "outbox.view": is_admin,
    "clock.move": is_admin & demo_mode,
    # Accounts: pages reached from an emailed link (the token is the credential), and "Mon compte".
    "account.reset_password": anyone,
    "account.accept_invitation": anyone,
    "account.confirm_email": anyone,
    "account.resend_confirmation": anyone,
    "account.profile": authenticated,
}


def can(user: Any, action: str, target: Any = None) -> bool:
    try:
        rule = POLICY[action]
    except KeyError:
        raise LookupError(f"unknown action {action!r}: add it to authz.POLICY") from None
    return rule(user, target)


def ensure(action: str, target: Any = None) -> None:
    """Stop the request unless the current user may do `action` on `target`: anonymous users are sent to
    the login page, others get the 403 page."""
    if can(current_user, action, target):
        return
    if not _authenticated(current_user):
        abort(current_app.login_manager.unauthorized())
    abort(403)


def requires(action: str) -> Callable[[F], F]:
    """Guard a view with a target-less action. Views with a target load it (404), then call `ensure`.

    The action is kept on the view so a test can prove that every route goes through this mechanism."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            ensure(action)
            return view(*args, **kwargs)

        wrapped.required_action = action  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorator
