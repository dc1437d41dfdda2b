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
from typing import Any

from kleio.codec import json_encoder, spaced_rows

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
    :func:`json_text` for a million small rows: the codec's encoder
    (:func:`~kleio.codec.json_encoder`), and :func:`json_ready` only for a row
    holding NaN or an infinity."""
    encode_strictly = json_encoder((", ", ": "), default=str, allow_nan=False)

    def encode(value: Any) -> str:
        try:
            return encode_strictly(value)
        except ValueError:  # NaN or an infinity somewhere in it
            return encode_strictly(json_ready(value))

    return encode


#: Between two rows of a JSON listing (see :func:`rows_encoder`).
ROW_SEPARATOR = ",\n  "


def rows_encoder():
    """A function giving the strict JSON of each row of a list, as :func:`row_encoder`
    gives it, joined by :data:`ROW_SEPARATOR`; for rows of what JSON decoding gives
    (dicts with text keys, lists, text, numbers, booleans, None), such as statistics
    read from the journal. Several times as fast for a page of statistics: a page of
    numbers is written at once by :func:`~kleio.codec.spaced_rows`, any other
    row by row."""
    encode = row_encoder()
    join = ROW_SEPARATOR.join

    def encode_rows(rows: list) -> str:
        text = spaced_rows(rows, ROW_SEPARATOR)
        return text if text is not None else join(map(encode, rows))

    return encode_rows
