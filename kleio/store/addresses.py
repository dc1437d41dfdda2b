"""Database addresses made safe to print: their user name and password masked."""

from __future__ import annotations

import re

#: From a scheme's ``://`` to the last ``@``: the user name and password of an address,
#: whatever they hold (an unescaped ``@``, ``/`` or ``:`` included).
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>.*)@", re.DOTALL)
#: What separates the parts of an address.
_SEPARATORS = re.compile(r"[:@/?#&=,;%+\s]+")


def mask_address(address: str) -> str:
    """The address with everything between ``://`` and the last ``@`` replaced by
    ``***``, safe to print: a malformed address (``mongodb://alice:p@ss/wd@host``) does
    not show part of its password either. Text without credentials is returned as is."""
    return _USERINFO.sub(r"\g<scheme>***@", address, count=1)


def without_secrets(text: str, address: str) -> str:
    """``text`` (a driver's error message about ``address``) with the address's user
    name and password, and any fragment of them a parser may have cut out and quoted,
    replaced by ``***``."""
    found = _USERINFO.search(address)
    if found is None or not text:
        return text
    from urllib.parse import unquote

    userinfo = found["userinfo"]
    pieces = {userinfo, unquote(userinfo), *_SEPARATORS.split(userinfo)}
    pieces |= {unquote(piece) for piece in pieces}
    for piece in sorted((p for p in pieces if len(p) >= 3), key=len, reverse=True):
        text = text.replace(piece, "***")
    return text
