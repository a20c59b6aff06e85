#!/usr/bin/env python3
"""Install the French State's front-end assets: the design system (DSFR) into innovation_cycle/static/dsfr/, and
its chart component (DSFR Chart, the bilan's charts) into innovation_cycle/static/dsfr-chart/.

The npm packages are pinned in package.json / package-lock.json; `npm ci` fetches exactly those versions, then
only the files the pages load are copied (about 7 MB of the DSFR's 60; 0.55 MB of DSFR Chart's 42 MB). The DSFR
copy keeps the package's own dist/ layout so the relative url() references inside the CSS (fonts, icons)
resolve; the script checks that they do and fails otherwise, rather than leaving pages with missing icons.

DSFR Chart ships every chart type in one bundle (DSFRChart, 542 kB with Vue and Chart.js, 176 kB gzipped) and
each type in its own. The bilan only draws bar charts, but the single-type bundles of 2.0.4 hand
`{shadowRoot: false}` to customElements.define() instead of Vue's defineCustomElement(): their charts render
into a shadow root the component's own stylesheet cannot reach (the legend loses its colour keys). So the whole
bundle is copied, minified UMD build, renamed `.js`: Flask would serve `.cjs` as application/octet-stream,
which browsers refuse to run as a script under `X-Content-Type-Options: nosniff`.

Usage: python3 scripts/install_dsfr.py [--force]
Does nothing when the pinned versions are already in place (the VERSION file of each copy); --force
reinstalls. Reuses node_modules/ when it already holds the pinned versions.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "innovation_cycle" / "static"
URL = re.compile(r"url\(\s*['\"]?([^'\")]+)['\"]?\s*\)")


@dataclass(frozen=True)
class Assets:
    """One npm package's files the pages load: source (relative to the package) → copy (relative to target)."""

    package: str
    target: Path
    files: dict[str, str]
    directories: list[str] = field(default_factory=list)
    css_with_urls: list[str] = field(default_factory=list)

    @property
    def folder(self) -> Path:
        return ROOT / "node_modules" / self.package


DSFR = Assets(
    package="@gouvfr/dsfr",
    target=STATIC / "dsfr",
    files={f"dist/{name}": name for name in ("dsfr.min.css", "dsfr.module.min.js", "dsfr.nomodule.min.js",
                                              "utility/icons/icons.min.css")},
    directories=["fonts", "icons", "favicon"],
    css_with_urls=["dsfr.min.css", "utility/icons/icons.min.css"],
)
DSFR_CHART = Assets(
    package="@gouvfr/dsfr-chart",
    target=STATIC / "dsfr-chart",
    files={"dist/DSFRChart/DSFRChart.umd.cjs": "dsfr-chart.umd.js", "dist/DSFRChart/DSFRChart.css": "dsfr-chart.css",
           "LICENSE": "LICENSE"},
    css_with_urls=["dsfr-chart.css"],
)
PACKAGES = [DSFR, DSFR_CHART]


def pinned_version(assets: Assets) -> str:
    return json.loads((ROOT / "package.json").read_text())["dependencies"][assets.package]


def installed_version(assets: Assets) -> str | None:
    manifest = assets.folder / "package.json"
    return json.loads(manifest.read_text())["version"] if manifest.exists() else None


def npm_ci() -> None:
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm is required to install the DSFR assets (or run with STATE_BRANDING=0 for the neutral theme).")
    # The DSFR's preinstall script asks to accept its terms of use; the variable answers it non-interactively.
    env = {**os.environ, "DSFR_ACCEPT_LICENSE": "1"}
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=ROOT, env=env, check=True)


def copy_assets(assets: Assets) -> None:
    if assets.target.exists():
        shutil.rmtree(assets.target)
    for source, name in assets.files.items():
        destination = assets.target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(assets.folder / source, destination)
    for name in assets.directories:
        shutil.copytree(assets.folder / "dist" / name, assets.target / name)
    (assets.target / "VERSION").write_text(installed_version(assets) + "\n")


def missing_references(assets: Assets) -> list[str]:
    """Copied files that are missing, and relative url() targets of the copied CSS that do not exist."""
    missing = [name for name in assets.files.values() if not (assets.target / name).exists()]
    for name in assets.css_with_urls:
        css = assets.target / name
        if not css.exists():
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


def copied_version(assets: Assets) -> str | None:
    stamp = assets.target / "VERSION"
    return stamp.read_text().strip() if stamp.exists() else None


def main() -> int:
    force = "--force" in sys.argv
    stale = [a for a in PACKAGES
             if force or copied_version(a) != pinned_version(a) or missing_references(a)]
    for assets in PACKAGES:
        if assets not in stale:
            print(f"{assets.package} {pinned_version(assets)} already installed in "
                  f"{assets.target.relative_to(ROOT)}.")
    if not stale:
        return 0
    if force or any(installed_version(a) != pinned_version(a) for a in stale):
        npm_ci()
    status = 0
    for assets in stale:
        wanted = pinned_version(assets)
        if installed_version(assets) != wanted:
            sys.exit(f"node_modules holds {assets.package} {installed_version(assets)}, package.json pins {wanted}.")
        copy_assets(assets)
        missing = missing_references(assets)
        if missing:
            print(f"{assets.package} assets: unresolved references:\n  " + "\n  ".join(missing[:20]),
                  file=sys.stderr)
            status = 1
            continue
        print(f"{assets.package} {wanted} installed in {assets.target.relative_to(ROOT)} "
              f"({size_of(assets.target) / 1e6:.2f} MB).")
    return status


if __name__ == "__main__":
    sys.exit(main())
