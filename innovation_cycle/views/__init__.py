"""Blueprints: thin views (load → authorize → validate → service → commit → redirect)."""

from flask import Flask


def init_app(app: Flask) -> None:
    from innovation_cycle.views import accounts, admin, dashboard, public

    app.register_blueprint(public.bp)
    app.register_blueprint(accounts.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(admin.bp)

    from innovation_cycle.views import ami, attachments, listings  # issue 3, area C

    app.register_blueprint(attachments.bp)
    app.register_blueprint(ami.bp)
    app.register_blueprint(listings.bp)

    from innovation_cycle.views import needs  # issue 3, area A

    app.register_blueprint(needs.bp)

    from innovation_cycle.views import applications, companies  # issue 3, area B

    app.register_blueprint(companies.bp)
    app.register_blueprint(applications.bp)

    from innovation_cycle.views import notifications  # issue 4

    app.register_blueprint(notifications.bp)

    from innovation_cycle.views import reviews  # issue 7: the selection stage's reviewing

    app.register_blueprint(reviews.bp)

    from innovation_cycle.views import selection  # issue 7, items 6-10

    app.register_blueprint(selection.bp)

    from innovation_cycle.views import commitments, results  # issue 8

    app.register_blueprint(commitments.bp)
    app.register_blueprint(results.bp)
