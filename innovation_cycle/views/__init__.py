"""Blueprints: thin views (load → authorize → validate → service → commit → redirect)."""

from flask import Flask


def init_app(app: Flask) -> None:
    from innovation_cycle.views import accounts, admin, dashboard, public

    app.register_blueprint(public.bp)
    app.register_blueprint(accounts.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(admin.bp)
