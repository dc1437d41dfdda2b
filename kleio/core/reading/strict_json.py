"""Strict JSON, as the standard defines it, so any reader takes it: what every JSON Kleio
writes for people's programs goes through (the commands' ``--format json``, the
dashboard's answers).

The floats JSON cannot hold are written as strings, ``"NaN"``, ``"Infinity"`` and
``"-Infinity"``: a statistic that diverged stays told apart from a missing one
(``null``).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

#: The strings standing for the floats JSON cannot hold.
NAN, INFINITY, MINUS_INFINITY = "NaN", "Infinity", "-Infinity"


def json_ready(value: Any) -> Any:
    """``value`` with its NaN and infinities (at any depth) as the strings of the
    module's convention; everything else unchanged."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return NAN if math.isnan(value) else INFINITY if value > 0 else MINUS_INFINITY
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    return value


def json_text(value: Any, **options: Any) -> str:
    """Strict JSON of ``value`` (see the module documentation)."""
    return json.dumps(json_ready(value), ensure_ascii=False, allow_nan=False, **options)


def row_encoder():
    """A function giving the strict JSON of a row (``", "`` and ``": "`` between items,
    anything JSON has no type for as its ``str``), several times as fast as
    :func:`json_text` for a million small rows: CPython's C encoder is called directly,
    and :func:`json_ready` runs only for a row holding NaN or an infinity."""
    encoder = json.JSONEncoder(
        ensure_ascii=False, separators=(", ", ": "), default=str, allow_nan=False
    )
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # another Python implementation
        return lambda value: encoder.encode(json_ready(value))
    chunks = make(None, str, json.encoder.encode_basestring, None, ": ", ", ", False, False, False)
    join = "".join

    def encode(value: Any) -> str:
        try:
            return join(chunks(value, 0))
        except ValueError:  # NaN or an infinity somewhere in it
            return encoder.encode(json_ready(value))

    return encode


#: Between two rows of a JSON listing (see :func:`rows_encoder`).
ROW_SEPARATOR = ",\n  "


def rows_encoder():
    """A function giving the strict JSON of each row of a list, as :func:`row_encoder`
    gives it, joined by :data:`ROW_SEPARATOR`; for rows of what JSON decoding gives
    (dicts with text keys, lists, text, numbers, booleans, None), such as statistics
    read from the journal. Several times as fast for a page of statistics.

    orjson encodes the whole page, and its compact text becomes the standard library's
    by spacing its separators (``", "``, ``": "``) and rewriting the only floats it
    writes otherwise than ``repr`` (``0.00001``, ``1e-7`` for ``1e-05``, ``1e-07``),
    where that is certain: rows of numbers and booleans only, whose keys hold none of
    ``,:{}\\`` nor such a float (so every colon ends a key, every comma separates items,
    ``},{`` separates rows, and every ``e-`` or ``0.0000`` is in a number). Any other
    page (text values, lists, dicts in dicts, None, NaN and infinities, which orjson writes
    as ``null``), and any value orjson refuses, is encoded row by row.
    """
    from kleio.store.base import orjson_module

    encode = row_encoder()
    orjson = orjson_module()
    join = ROW_SEPARATOR.join
    between_rows = ("}" + ROW_SEPARATOR + "{").encode()

    def encode_rows(rows: list) -> str:
        if orjson:
            try:
                text = orjson.dumps(rows)
            except TypeError:  # orjson.JSONEncodeError: beyond 64 bits, a lone surrogate
                text = b""
            if _only_numbers(text, rows):
                if b"e-" in text or b"0.0000" in text:
                    text = _floats_as_repr(text)
                if text:  # colons and commas are all separators: keys hold none
                    spaced = text[1:-1].replace(b":", b": ").replace(b",", b", ")
                    return spaced.replace(b"}, {", between_rows).decode()
        return join(map(encode, rows))

    return encode_rows


#: What a key of a page :func:`rows_encoder` spaces at once may not hold.
_UNSAFE_IN_KEYS = re.compile(r"[,:{}\\\[\]]|e-|0\.0000")


def _only_numbers(text: bytes, rows: list[dict]) -> bool:
    """Whether orjson's ``text`` of the dicts ``rows`` holds numbers and booleans only,
    keyed by plain keys (see :func:`rows_encoder`)."""
    return (
        text.startswith(b"[{")
        and b"\\" not in text
        and b"null" not in text
        and text.find(b"[", 1) < 0
        and text.count(b'"') == 2 * sum(map(len, rows))  # no text but the keys
        and not any(map(_UNSAFE_IN_KEYS.search, set().union(*rows)))
    )


#: An exponent of two digits or more after ``e-`` became ``e-0``.
_PADDED_TOO_MUCH = re.compile(rb"e-0([0-9][0-9])")
_DIGITS = b"0123456789"


def _floats_as_repr(text: bytes) -> bytes:
    """orjson's ``text`` of rows of numbers (see :func:`_only_numbers`) with the floats
    below 1e-4 as ``repr`` writes them; empty if one is not as orjson writes it."""
    if b"e-" in text:  # 1e-7 -> 1e-07 (1e-10 stays)
        text = _PADDED_TOO_MUCH.sub(rb"e-\1", text.replace(b"e-", b"e-0"))
    for start in (b":0.0000", b":-0.0000"):  # 0.0000123 -> 1.23e-05
        if start not in text:
            continue
        pieces = text.split(start)
        parts = [pieces[0]]
        sign = start[:-6]
        for piece in pieces[1:]:
            rest = piece.lstrip(_DIGITS)
            end = len(piece) - len(rest)  # the digits after 0.0000
            if not end or piece[0] == 48:  # "0": no float orjson writes: leave the page
                return b""
            if end > 1:
                parts += (sign, piece[:1], b".", piece[1:end], b"e-05", rest)
            else:
                parts += (sign, piece[:1], b"e-05", rest)
        text = b"".join(parts)
    return text
