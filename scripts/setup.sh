#!/usr/bin/env bash
# Prepare a checkout: .venv with the project installed, DSFR assets, compiled translations.
#   scripts/setup.sh          the application (what the demo needs)
#   scripts/setup.sh dev      + test tools (pytest, ruff, aiosmtpd, playwright) and, with npm, axe-core and the
#                             DSFR assets for the browser walk
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
  # The browser walk (tests/browser) needs axe-core (an npm dev dependency) and the DSFR assets.
  if command -v npm >/dev/null 2>&1; then
    if [ ! -f node_modules/axe-core/axe.min.js ]; then
      DSFR_ACCEPT_LICENSE=1 npm ci --no-audit --no-fund --loglevel=error
    fi
    .venv/bin/python scripts/install_dsfr.py
  else
    echo "npm not found: the browser walk (tests/browser) will be skipped." >&2
  fi
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
