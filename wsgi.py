"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

from innovation_cycle import create_app

app = create_app()
