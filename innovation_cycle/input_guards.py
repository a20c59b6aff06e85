"""Guards every request passes before any view: input no view should ever have to think about.

- `<int:…>` route variables are bounded to the INTEGER range of the primary keys (a larger id is a 404, not a
  database error: PostgreSQL refuses it, SQLite overflows past 2^63).
- A NUL character anywhere in the query string, the form, an uploaded file's name or a URL variable is refused
  with a French 400 page: PostgreSQL refuses to store it (a 500) and SQLite would store it silently, so no form
  may let one through, and one check here covers every form, present and future.
"""

from __future__ import annotations

from flask import Flask, render_template, request
from flask_babel import gettext as _

from innovation_cycle.params import BoundedIntegerConverter


def _holds_nul() -> bool:
    if "\x00" in request.path:
        return True
    for multi in (request.args, request.form):
        for key, values in multi.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                return True
    return any("\x00" in key or "\x00" in (upload.filename or "") for key, upload in request.files.items(multi=True))


def init_app(app: Flask) -> None:
    """Call before the blueprints are registered: the converter applies to the rules added after it."""
    app.url_map.converters["int"] = BoundedIntegerConverter

    @app.before_request
    def refuse_nul_characters():
        if _holds_nul():
            return render_template("errors/error.html", status=400, title=_("Caractère non autorisé"), message=_(
                "Un champ ou l'adresse contient un caractère nul, que l'application refuse. Retirez-le (il vient "
                "souvent d'un copier-coller) et recommencez.")), 400
        return None
