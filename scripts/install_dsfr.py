#!/usr/bin/env python3
"""Install the French State design system (DSFR) assets into innovation_cycle/static/dsfr/.

The npm package is pinned in package.json / package-lock.json; `npm ci` fetches exactly that version, then only
the files the pages load are copied (about 7 MB instead of the package's 60). The copy keeps the package's own
dist/ layout so the relative url() references inside the CSS (fonts, icons) resolve; the script checks that
they do and fails otherwise, rather than leaving pages with missing icons.

Usage: python3 scripts/install_dsfr.py [--force]
Does nothing when the pinned version is already in place (innovation_cycle/static/dsfr/VERSION); --force
reinstalls. Reuses node_modules/ when it already holds the pinned version.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "node_modules" / "@gouvfr" / "dsfr"
DIST = PACKAGE / "dist"
TARGET = ROOT / "innovation_cycle" / "static" / "dsfr"

FILES = [
    "dsfr.min.css",
    "dsfr.module.min.js",
    "dsfr.nomodule.min.js",
    "utility/icons/icons.min.css",
]
DIRECTORIES = ["fonts", "icons", "favicon"]
CSS_WITH_URLS = ["dsfr.min.css", "utility/icons/icons.min.css"]
URL = re.compile(r"url\(\s*['\"]?([^'\")]+)['\"]?\s*\)")


def pinned_version() -> str:
    return json.loads((ROOT / "package.json").read_text())["dependencies"]["@gouvfr/dsfr"]


def installed_version() -> str | None:
    manifest = PACKAGE / "package.json"
    return json.loads(manifest.read_text())["version"] if manifest.exists() else None


def npm_ci() -> None:
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm is required to install the DSFR assets (or run with STATE_BRANDING=0 for the neutral theme).")
    # The DSFR's preinstall script asks to accept its terms of use; the variable answers it non-interactively.
    env = {**os.environ, "DSFR_ACCEPT_LICENSE": "1"}
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=ROOT, env=env, check=True)


def copy_assets() -> None:
    if TARGET.exists():
        shutil.rmtree(TARGET)
    for name in FILES:
        destination = TARGET / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(DIST / name, destination)
    for name in DIRECTORIES:
        shutil.copytree(DIST / name, TARGET / name)
    (TARGET / "VERSION").write_text(installed_version() + "\n")


def missing_references() -> list[str]:
    """Relative url() targets of the copied CSS that do not exist in the copy."""
    missing = []
    for name in CSS_WITH_URLS:
        css = TARGET / name
        if not css.exists():
            missing.append(name)
            continue
        for ref in set(URL.findall(css.read_text(encoding="utf-8"))):
            if ref.startswith(("data:", "http:", "https:", "#")):
                continue
            path = (css.parent / ref.split("?")[0].split("#")[0]).resolve()
            if not path.exists():
                missing.append(f"{name}: {ref}")
    return sorted(missing)


def size_of(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def copied_version() -> str | None:
    stamp = TARGET / "VERSION"
    return stamp.read_text().strip() if stamp.exists() else None


def main() -> int:
    wanted = pinned_version()
    if "--force" not in sys.argv and copied_version() == wanted and not missing_references():
        print(f"DSFR {wanted} already installed in {TARGET.relative_to(ROOT)}.")
        return 0
    if "--force" in sys.argv or installed_version() != wanted:
        npm_ci()
    if installed_version() != wanted:
        sys.exit(f"node_modules holds DSFR {installed_version()}, package.json pins {wanted}.")
    copy_assets()
    missing = missing_references()
    if missing:
        print("DSFR assets: unresolved references:\n  " + "\n  ".join(missing[:20]), file=sys.stderr)
        return 1
    print(f"DSFR {wanted} installed in {TARGET.relative_to(ROOT)} ({size_of(TARGET) / 1e6:.1f} MB).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
