"""Documents as SQLite keeps them: field paths read and changed in a document held as
JSON text, the same paths for SQLite's JSON functions, and the listing kept beside each
document (see :class:`kleio.store.base.Catalogue`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from kleio.codec import compact_json as _dumps
from kleio.store.base import UNSET


def get_path(document: Mapping[str, Any], path: str) -> Any:
    """The value at a field path (``"worker.token"``); None where a part is missing."""
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def set_path(document: dict, path: str, value: Any) -> None:
    """Set the value at a field path, making the documents on the way; :data:`UNSET`
    removes the field."""
    *parents, last = path.split(".")
    for part in parents:
        child = document.get(part)
        if not isinstance(child, dict):
            if value is UNSET:
                return
            child = document[part] = {}
        document = child
    if value is UNSET:
        document.pop(last, None)
    else:
        document[last] = value


def json_path(field: str) -> str:
    """A field path as SQLite's JSON functions take it (``$."worker"."token"``)."""
    return "$" + "".join(f'."{part}"' for part in field.split("."))


def json_param(value: Any) -> Any:
    """A metadata value as ``json_extract`` returns it, for an equality test."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (list, dict)):
        return _dumps(value)
    return value


def listing(document: Mapping[str, Any], listed: Sequence[str]) -> str:
    """The listing kept beside a document: the JSON object of its id and those of the
    ``listed`` fields it holds (not None), in their order."""
    kept = {name: document[name] for name in listed if document.get(name) is not None}
    return _dumps({"_id": document["_id"], **kept})


#: group_concat's own ORDER BY, where SQLite knows it (3.44): listings joined in order.
LISTING_ORDER = " ORDER BY created DESC, id" if sqlite3.sqlite_version_info >= (3, 44) else ""
