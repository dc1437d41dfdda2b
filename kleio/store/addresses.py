"""Database addresses made safe to print: their user name, their password and the
values of their secret options (``tlsCertificateKeyFilePassword=``) masked, by the rule
the core applies to command lines (:mod:`kleio.redaction`)."""

from __future__ import annotations

import re

from kleio.redaction import mask_url, secrets_in_url

#: What separates the parts of an address.
_SEPARATORS = re.compile(r"[:@/?#&=,;%+\s]+")


def mask_address(address: str) -> str:
    """The address with everything between ``://`` and the last ``@``, and the values of
    its secret options, replaced by ``***``, safe to print: a malformed address
    (``mongodb://alice:p@ss/wd@host``) does not show part of its password either. Text
    without credentials is returned as is."""
    return mask_url(address)


def without_secrets(text: str, address: str) -> str:
    """``text`` (a driver's error message about ``address``) with the address's user
    name and password and the values of its secret options, and any fragment of them a
    parser may have cut out and quoted, replaced by ``***``."""
    secrets = secrets_in_url(address)
    if not secrets or not text:
        return text
    from urllib.parse import unquote

    pieces = set()
    for secret in secrets:
        pieces |= {secret, unquote(secret), *_SEPARATORS.split(secret)}
    pieces |= {unquote(piece) for piece in pieces}
    for piece in sorted((p for p in pieces if len(p) >= 3), key=len, reverse=True):
        text = text.replace(piece, "***")
    return text
