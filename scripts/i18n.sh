#!/usr/bin/env bash
# Translation catalogs. French is the source language (msgids are French); English is the one catalog.
#   scripts/i18n.sh extract     write innovation_cycle/translations/messages.pot from the code and templates
#   scripts/i18n.sh update      extract, then merge new strings into every translations/<lang>/LC_MESSAGES/messages.po
#   scripts/i18n.sh compile     build the .mo files the application loads (git-ignored)
#   scripts/i18n.sh init LANG   start a catalog for a new language
set -euo pipefail
cd "$(dirname "$0")/.."

PYBABEL="${PYBABEL:-.venv/bin/pybabel}"
[ -x "$PYBABEL" ] || PYBABEL=pybabel
TRANSLATIONS=innovation_cycle/translations
POT="$TRANSLATIONS/messages.pot"

# Keywords on top of pybabel's defaults (_, gettext, ngettext, pgettext...): lazy_gettext and its usual alias _l
# (forms build their messages at import time), lazy_ngettext / _ln for lazy plurals.
extract() {
  mkdir -p "$TRANSLATIONS"
  "$PYBABEL" -q extract -F babel.cfg -k lazy_gettext -k _l -k "lazy_ngettext:1,2" -k "_ln:1,2" --sort-by-file \
    --project=innovation-cycle --copyright-holder="ORCP Hauts-de-France" -o "$POT" \
    .
}

case "${1:-}" in
  extract) extract ;;
  update) extract && "$PYBABEL" -q update -i "$POT" -d "$TRANSLATIONS" --no-fuzzy-matching ;;
  compile) "$PYBABEL" -q compile -d "$TRANSLATIONS" && echo "Translations compiled." ;;
  init) extract && "$PYBABEL" -q init -i "$POT" -d "$TRANSLATIONS" -l "${2:?language code}" ;;
  *) echo "usage: $0 extract|update|compile|init LANG" >&2; exit 2 ;;
esac
