"""Keeping secrets out of the journal."""

from __future__ import annotations

import re

#: Parts of variable names whose values are never stored.
SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL", "AUTH")

_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


def is_secret_name(name: str) -> bool:
    upper = name.upper()
    return any(word in upper for word in SECRET_WORDS)


def without_credentials(text: str) -> str:
    """URLs in ``text`` with their ``user:password@`` part replaced by ``***@``."""
    return _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}***@", text)


def safe_environment(environ: dict[str, str], names) -> dict[str, str]:
    """The variables among ``names`` that are set, except secret ones; URLs unmasked of
    their credentials."""
    return {
        name: without_credentials(environ[name])
        for name in names
        if name in environ and not is_secret_name(name)
    }
