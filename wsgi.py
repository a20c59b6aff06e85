"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

import gc

from innovation_cycle import create_app

app = create_app()

# The application's own objects (modules, templates, routes, metadata) live as long as the process: moved out of
# the collector's reach, each full collection no longer walks them (a fifth of a listing's CPU went to the
# collector; about half of that is saved). Issue 11.
gc.freeze()
