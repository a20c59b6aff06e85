"""Command-line entry points: `flask --app wsgi create-admin EMAIL`, `flask --app wsgi seed-demo`."""

from flask import Flask


def init_app(app: Flask) -> None:
    pass
