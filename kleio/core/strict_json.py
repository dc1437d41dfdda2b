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
