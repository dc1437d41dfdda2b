"""Which names hold secrets, and URLs with their secrets masked: one rule for every layer.

The store prints database addresses (its error messages, ``kleio gc``, the dashboard's
header) and the core records command lines, git remotes and variables; both must agree
on what is secret, and the store may not import the core: the rule lives here, beside
the layers, and imports nothing of Kleio.

A name is secret when one of its words (split at ``_``, ``-``, ``.`` and at camelCase,
any case) is in :data:`SECRET_WORDS`, ends with one of :data:`SECRET_ENDINGS`, or
contains one of :data:`SECRET_PARTS`. Whole words only for the short ones, so that
``--max-tokens``, ``--tokenizer``, ``--num-keys``, ``--passes``, ``--bypass`` or
``--author`` stay visible; and a name whose last word is one of :data:`KIND_WORDS`
names what kind of secret is used, not the secret (MongoDB's ``authSource=admin``,
``--auth-mechanism``, ``--key-type``).

A URL is masked in two places: everything from ``://`` to the last ``@`` (its user name
and password, whatever they hold), and the value of every parameter of its query or
fragment (``?access_token=...``, ``#id_token=...``, ``&tlsCertificateKeyFilePassword=...``)
whose name is secret.
"""

from __future__ import annotations

import functools
import re

#: What Kleio shows and stores in place of a secret.
MASK = "***"
#: Words of a name that make its value secret (whole words: ``--keys`` is not secret).
SECRET_WORDS = frozenset(
    {"TOKEN", "KEY", "AUTH", "PASS", "PW", "PWD", "COOKIE", "COOKIES", "BEARER", "JWT"}
)
#: Endings of a word that make it secret: words run together (``GITHUBTOKEN``, ``OAUTH``).
SECRET_ENDINGS = ("TOKEN", "AUTH")
#: Parts of a word that make it secret wherever they are (``DBPASSWORD``, ``APIKEY``).
SECRET_PARTS = (
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "SECRET",
    "CREDENTIAL",
    "APIKEY",
    "AUTHORIZATION",
    "SIGNATURE",
)
#: Last words of a name that say what kind of secret is used, a value worth seeing.
KIND_WORDS = frozenset({"SOURCE", "MECHANISM", "METHOD", "TYPE", "MODE"})

_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
#: From a scheme's ``://`` to the last ``@``: the user name and password of an address,
#: whatever they hold (an unescaped ``@``, ``/`` or ``:`` included).
_USERINFO = r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>.*)@"
#: A parameter of a query or a fragment: ``NAME=VALUE`` after ``?``, ``#``, ``&`` or
#: ``;``; its value ends where the next parameter, a space or a quote begins.
_PARAMETER = r"(?P<name>(?<=[?#&;])[^=?#&;\s'\"<>]+)=(?P<value>[^?#&;\s'\"<>]*)"


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled when first used, once: each of these costs some 0.15 ms to
    compile, and the words of most command lines hold no URL (a run's start imports
    this module). ``re.DOTALL``: a user name or password may hold a line break."""
    return re.compile(pattern, re.DOTALL)


def is_secret_name(name: str) -> bool:
    """Whether values under this name (a variable, an option, a configuration key, a
    parameter of a URL) are secret."""
    if "%" in name:
        from urllib.parse import unquote  # a rare name: urllib.parse stays off start-up

        name = unquote(name)
    words = [found.upper() for found in _WORDS.findall(name)]
    if len(words) > 1 and words[-1] in KIND_WORDS:
        return False
    return any(
        word in SECRET_WORDS
        or word.endswith(SECRET_ENDINGS)
        or any(part in word for part in SECRET_PARTS)
        for word in words
    )


def mask_url(text: str) -> str:
    """``text`` (an address, a word of a command line, a message) with the credentials
    of its URLs and the values of their secret parameters replaced by :data:`MASK`: a
    malformed address (``mongodb://alice:p@ss/wd@host``) does not show part of its
    password either. Text without them is returned as is."""
    masked = (
        _compiled(_USERINFO).sub(rf"\g<scheme>{MASK}@", text, count=1) if "://" in text else text
    )
    start = _query_start(masked)
    if start < 0:
        return masked
    return masked[:start] + _compiled(_PARAMETER).sub(_masked_parameter, masked[start:])


def secrets_in_url(text: str) -> list[str]:
    """The secrets :func:`mask_url` hides in ``text``: its user information and the
    values of its secret parameters, as written."""
    found = _compiled(_USERINFO).search(text) if "://" in text else None
    secrets = [found["userinfo"]] if found else []
    start = _query_start(text)
    if start >= 0:
        secrets += [
            parameter["value"]
            for parameter in _compiled(_PARAMETER).finditer(text, start)
            if parameter["value"] and is_secret_name(parameter["name"])
        ]
    return secrets


def holds_mask(text: str) -> bool:
    """Whether ``text`` holds a secret Kleio masked already (a stored command line given
    back): its real value is unknown."""
    return f"://{MASK}@" in text or MASK in secrets_in_url(text)


def _query_start(text: str) -> int:
    """Where the parameters of a URL in ``text`` may begin (its first ``?`` or ``#``), -1
    when it has none: ``a;key=b`` alone is no URL's parameter."""
    if "=" not in text:
        return -1
    found = [index for index in (text.find("?"), text.find("#")) if index >= 0]
    return min(found, default=-1)


def _masked_parameter(parameter: re.Match[str]) -> str:
    if parameter["value"] and is_secret_name(parameter["name"]):
        return f"{parameter['name']}={MASK}"
    return parameter[0]
