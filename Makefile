# Shortcuts for the scripts in scripts/ (the scripts are the source of truth).
.PHONY: demo test setup dsfr i18n-extract i18n-update i18n-compile

demo:
	./scripts/demo.sh

test:
	./scripts/test.sh

setup:
	./scripts/setup.sh

dsfr:
	python3 scripts/install_dsfr.py

i18n-extract:
	./scripts/i18n.sh extract

i18n-update:
	./scripts/i18n.sh update

i18n-compile:
	./scripts/i18n.sh compile
