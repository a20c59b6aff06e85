"""Redirect targets taken from the request are kept on this site (microblog's open-redirect guard)."""

from __future__ import annotations

from urllib.parse import urlsplit


def safe_next(target: str | None) -> str | None:
    if not target:
        return None
    try:
        parts = urlsplit(target)
    except ValueError:  # "//[" is an invalid IPv6 host to urlsplit (found by Hypothesis): not a path of ours
        return None
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    # A control character (CR/LF makes werkzeug refuse the Location header; browsers drop tabs and newlines,
    # turning "/\t/evil.example" into "//evil.example") or a backslash: not a path of ours.
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return None
    return target
