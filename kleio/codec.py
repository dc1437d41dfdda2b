"""The JSON codec of Kleio: every JSON text the stores write and read, and the JSON
written for people's programs, are made by the functions here.

Two encoders serve it: CPython's C encoder, called directly (:func:`json_encoder`), and
orjson, four times as fast again for the many values of a page of statistics but
imported only for :data:`BULK` values or more (20 ms off the start-up path of a run).
orjson writes NaN and infinities as ``null``, refuses integers beyond 64 bits and
writes some floats otherwise than ``repr`` (``0.00001`` for ``1e-05``): each function
says what it promises of its text, and falls back to the standard library wherever
orjson's text would break that promise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

#: Values from which orjson is worth importing: a run's first few events (its start, its
#: first lines of output) are written without it, off the start-up path.
BULK = 100


def orjson_module() -> Any:
    """orjson, imported on first use (False without its wheel): 20 ms that only a process
    journalling or reading many events spends (``kleio_logger`` imports it before the
    script's threads start)."""
    global _ORJSON
    if _ORJSON is None:
        try:
            import orjson
        except ImportError:  # an interpreter without its wheel: the standard library
            orjson = False
        _ORJSON = orjson
    return _ORJSON


_ORJSON: Any = None


def json_encoder(
    separators: tuple[str, str] = (",", ":"),
    default: Callable[[Any], Any] | None = None,
    allow_nan: bool = True,
) -> Callable[[Any], str]:
    """A function giving ``json.dumps(value, ensure_ascii=False, separators=separators,
    default=default, allow_nan=allow_nan)``, as fast as CPython allows.

    Calling the C encoder directly costs half of ``JSONEncoder.encode`` (whose Python
    wrapper dominates for small dicts), and ``json.dumps`` with options would also build
    a new encoder per call. No check for circular references is made: values are what
    JSON decoding gives or what a script logs.
    """
    encoder = json.JSONEncoder(
        separators=separators, ensure_ascii=False, default=default, allow_nan=allow_nan
    )
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # another Python implementation: the portable way
        return encoder.encode
    item_separator, key_separator = separators
    chunks = make(
        None,
        encoder.default,
        json.encoder.encode_basestring,
        None,
        key_separator,
        item_separator,
        False,
        False,
        allow_nan,
    )
    join = "".join

    def dumps(value: Any) -> str:
        return join(chunks(value, 0))

    return dumps


#: Compact JSON text of a value, NaN and infinities allowed: the text every store keeps.
compact_json = json_encoder()


def compact_texts(values: Iterable[Any]) -> list[str]:
    """:func:`compact_json` of each value, four times as fast for many statistics.

    Each text decodes to its value (NaN, infinities and ``-0.0`` included); orjson may
    write a float otherwise (``0.00001``). A value orjson writes with ``null`` (rare in
    statistics: NaN, an infinity, None) is written by the standard library, as is
    anything orjson refuses (integers beyond 64 bits), so the errors are
    :func:`compact_json`'s.
    """
    values = values if isinstance(values, list) else list(values)
    orjson = orjson_module() if len(values) >= BULK else None
    if not orjson:
        return list(map(compact_json, values))
    dumps, texts = orjson.dumps, []
    append = texts.append
    for value in values:
        try:
            text = dumps(value)
        except TypeError:
            append(compact_json(value))
            continue
        append(compact_json(value) if b"null" in text else text.decode())
    return texts


def compact_array(values: list[Any]) -> str:
    """The JSON array of ``values`` (compact, NaN and infinities kept), decoding to them.

    orjson writes a large array in one call; an array it writes with ``null`` or refuses
    is joined from :func:`compact_texts`, which also raises the errors
    :func:`compact_json` raises."""
    orjson = orjson_module() if len(values) >= BULK else None
    if not orjson:
        return compact_json(values)
    try:
        text = orjson.dumps(values)
    except TypeError:
        text = b"null"
    return text.decode() if b"null" not in text else f"[{','.join(compact_texts(values))}]"


def decode_array(text: str, count: int = BULK) -> list[Any]:
    """The values of a JSON array of ``count`` values (as many as :data:`BULK` when not
    known), NaN and infinities included: by orjson for many (a third faster than one
    call per value), by the standard library for a few (orjson is not imported for
    them) or when the array holds NaN or an infinity, which orjson refuses. Integers
    are the store's, within 64 bits: orjson reads a longer one as a float."""
    orjson = orjson_module() if count >= BULK else None
    if orjson:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:  # NaN, Infinity: not JSON to orjson
            pass
    return json.loads(text)


def spaced_rows(rows: list[dict], between: str) -> str | None:
    """``json.dumps(row, ensure_ascii=False, separators=(", ", ": "))`` of each row,
    joined by ``between``, written by orjson at once where its text can be made exactly
    that; None otherwise (without orjson too), for the caller to encode row by row.

    orjson's compact text becomes the standard library's by spacing its separators and
    rewriting the only floats it writes otherwise than ``repr`` (``0.00001``, ``1e-7``
    for ``1e-05``, ``1e-07``), where that is certain: rows of numbers and booleans only,
    whose keys hold none of ``,:{}[]\\`` nor such a float (so every colon ends a key,
    every comma separates items, ``},{`` separates rows, and every ``e-`` or ``0.0000``
    is in a number). Any other page (text values, lists, dicts in dicts, None, NaN and
    infinities, which orjson writes as ``null``), and any value orjson refuses, is not.
    """
    orjson = orjson_module()
    if not orjson:
        return None
    try:
        text = orjson.dumps(rows)
    except TypeError:  # orjson.JSONEncodeError: beyond 64 bits, a lone surrogate
        return None
    if not _only_numbers(text, rows):
        return None
    if b"e-" in text or b"0.0000" in text:
        text = _floats_as_repr(text)
        if not text:
            return None
    # Colons and commas are all separators: keys hold none.
    spaced = text[1:-1].replace(b":", b": ").replace(b",", b", ")
    return spaced.replace(b"}, {", ("}" + between + "{").encode()).decode()


#: What a key of a page :func:`spaced_rows` writes at once may not hold. Patterns are
#: compiled on first use (re keeps them): a run that never reads a page spends nothing.
_UNSAFE_IN_KEYS = r"[,:{}\\\[\]]|e-|0\.0000"


def _only_numbers(text: bytes, rows: list[dict]) -> bool:
    """Whether orjson's ``text`` of the dicts ``rows`` holds numbers and booleans only,
    keyed by plain keys (see :func:`spaced_rows`)."""
    return (
        text.startswith(b"[{")
        and b"\\" not in text
        and b"null" not in text
        and text.find(b"[", 1) < 0
        and text.count(b'"') == 2 * sum(map(len, rows))  # no text but the keys
        and not any(map(re.compile(_UNSAFE_IN_KEYS).search, set().union(*rows)))
    )


#: An exponent of two digits or more after ``e-`` became ``e-0``.
_PADDED_TOO_MUCH = rb"e-0([0-9][0-9])"
_DIGITS = b"0123456789"


def _floats_as_repr(text: bytes) -> bytes:
    """orjson's ``text`` of rows of numbers (see :func:`_only_numbers`) with the floats
    below 1e-4 as ``repr`` writes them; empty if one is not as orjson writes it."""
    if b"e-" in text:  # 1e-7 -> 1e-07 (1e-10 stays)
        text = re.sub(_PADDED_TOO_MUCH, rb"e-\1", text.replace(b"e-", b"e-0"))
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
