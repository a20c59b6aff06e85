#!/usr/bin/env bash
# Prepare a checkout: .venv with the project installed, DSFR assets, compiled translations.
#   scripts/setup.sh          the application (what the demo needs)
#   scripts/setup.sh dev      + test tools (pytest, ruff, aiosmtpd); no DSFR assets, tests do not need them
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "Python 3.11 or newer is required (found: $("$PYTHON" --version 2>&1))." >&2; exit 1; }
  echo "Creating .venv"
  "$PYTHON" -m venv .venv
fi

if [ "${1:-}" = "dev" ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'
else
  .venv/bin/pip install --quiet --disable-pip-version-check -e .
  if command -v npm >/dev/null 2>&1; then
    .venv/bin/python scripts/install_dsfr.py
  elif [ "${STATE_BRANDING:-1}" != "0" ]; then
    echo "npm not found: the DSFR assets cannot be installed. Install Node.js/npm, or run with STATE_BRANDING=0 (neutral theme)." >&2
    exit 1
  fi
fi
./scripts/i18n.sh compile
