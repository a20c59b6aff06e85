#!/usr/bin/env bash
# The demo, from a fresh checkout: install, migrate, seed the demo convention, serve on http://127.0.0.1:5000.
#   DEMO_PASSWORD=...  password of the demo accounts (default: demo-innovation-2017)
#   PORT=5000          port to listen on
#   DATABASE_URL=...   defaults to SQLite in instance/innovation_cycle.sqlite
# Running it again keeps the data: migrations are idempotent and seed-demo does nothing once the demo exists.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh

export DEMO_MODE=1
.venv/bin/flask --app wsgi db upgrade
.venv/bin/flask --app wsgi seed-demo --password "${DEMO_PASSWORD:-demo-innovation-2017}"

echo
echo "innovation-cycle demo on http://127.0.0.1:${PORT:-5000}  (Ctrl+C to stop)"
echo "Demo accounts (listed in README.md): admin@demo.orcp.fr, acheteur@demo.orcp.fr, pfra@demo.orcp.fr, ugap@demo.orcp.fr,"
echo "comite@demo.orcp.fr, entreprise@demo.orcp.fr — password: ${DEMO_PASSWORD:-demo-innovation-2017}"
exec .venv/bin/flask --app wsgi run --host 127.0.0.1 --port "${PORT:-5000}"
