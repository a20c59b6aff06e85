"""The floor of benchmarks/pages.py: a bare Flask + Flask-SQLAlchemy application over the same database, doing
what any listing page must do at the least — one indexed query for 50 rows, a count, a minimal Jinja table.

    gunicorn -w 2 --chdir benchmarks floor_app:app   (DATABASE_URL in the environment)
"""

from __future__ import annotations

import os

from flask import Flask, render_template_string, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import text

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
db = SQLAlchemy(app)

PAGE = """<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Réponses</title></head><body>
<h1>Réponses du cycle {{ cycle }}</h1><p>{{ total }} réponses</p>
<table><thead><tr><th>N°</th><th>Solution</th><th>État</th><th>Déposée le</th></tr></thead><tbody>
{% for row in rows %}<tr><td>{{ row.id }}</td><td>{{ row.solution_name }}</td><td>{{ row.status }}</td>
<td>{{ row.submitted_at.strftime('%d/%m/%Y') if row.submitted_at else '' }}</td></tr>{% endfor %}
</tbody></table></body></html>"""


@app.get("/floor")
def floor():
    cycle = request.args.get("cycle", type=int)
    rows = db.session.execute(text(
        "SELECT id, solution_name, status, submitted_at FROM applications WHERE cycle_id = :c "
        "ORDER BY submitted_at DESC, id DESC LIMIT 50"), {"c": cycle}).all()
    total = db.session.execute(text("SELECT count(*) FROM applications WHERE cycle_id = :c"), {"c": cycle}).scalar()
    return render_template_string(PAGE, cycle=cycle, rows=rows, total=total)
