"""What a statistic or metadata value may be, checked at the call that logs it.

Values are what every backend can store: ``int`` within 64 bits, ``float`` (NaN and
infinities kept), ``str`` of valid Unicode, ``bool``, ``None``, and lists and dicts of
these with ``str`` keys; numpy scalars and 0-d arrays are converted. MongoDB's limits
hold for every backend, so a trial can move between them: lists and dicts nest at most
:data:`MAX_NESTING` levels, one call's values take at most :data:`MAX_STATISTIC_BYTES`
once encoded, and no key starts with ``$`` or contains the NUL character. Anything else
is a ``TypeError`` naming the key, raised in the script at the call, never later in the
writing thread.
"""

from __future__ import annotations

from typing import Any

_INT_BOUND = 1 << 63
_NOT_JOURNALLED = (
    "use int, float, str, bool, None, or lists and dicts of these "
    "(numpy scalars and 0-d arrays are converted)"
)
#: MongoDB refuses documents nested over 100 levels; an event wraps a value in at most
#: four (the event, its data, an artifact's metadata and attributes).
MAX_NESTING = 90
#: MongoDB's largest document is 16 MiB; an event's own fields take far less than 64 KiB.
MAX_STATISTIC_BYTES = 16 * 1024 * 1024 - 64 * 1024

#: Keys already found journalable (a set lookup is cheaper than checking again).
_GOOD_KEYS: set[str] = set()
#: Keys longer than this are checked at every call, so a cached key is small.
_SHORT_KEY = 1024
#: ASCII strings shorter than this take the fast path; their size is bounded, not summed.
_SHORT_TEXT = 4096
#: What one fast-path value (with its key) may take once encoded, at most.
_SHORT_ITEM = _SHORT_KEY + _SHORT_TEXT + 16


def _check_text(key: str, text: str, what: str) -> int:
    """The UTF-8 size of ``text``; TypeError for text no database can hold: lone
    surrogates, or a key with NUL or starting with ``$`` (MongoDB before 5.0)."""
    try:
        size = len(text.encode("utf-8")) if not text.isascii() else len(text)
    except UnicodeEncodeError:
        raise TypeError(f"statistic {key!r}: {what} {text!r} is not valid Unicode") from None
    if what == "key":
        if "\x00" in text:
            raise TypeError(f"statistic {key!r}: a key cannot contain the NUL character")
        if text.startswith("$"):
            raise TypeError(f"statistic {key!r}: a key cannot start with '$' ({text[:40]!r})")
    return size


def _check_key(key: str) -> int:
    size = _check_text(key, key, "key")
    if len(_GOOD_KEYS) < 10_000 and len(key) <= _SHORT_KEY:
        _GOOD_KEYS.add(key)
    return size


def _too_large(key: str) -> TypeError:
    return TypeError(
        f"statistic {key!r}: the values of one call take more than "
        f"{MAX_STATISTIC_BYTES / 2**20:.2f} MB once encoded (MongoDB's document limit); "
        "log large data as an artifact"
    )


def checked(key: str, value: Any, depth: int = 0) -> tuple[Any, int]:
    """``value`` as it will be journalled (a copy of lists and dicts) and its encoded
    size in bytes (BSON's, an upper bound of JSON's), or TypeError."""
    kind = type(value)
    if kind is float:
        return value, 8
    if kind is str:
        return value, 5 + (len(value) if value.isascii() else _check_text(key, value, "text"))
    if kind is int and -_INT_BOUND <= value < _INT_BOUND or kind is bool or value is None:
        return value, 8
    if isinstance(value, int) and not isinstance(value, bool):
        value = int(value)
        if not -_INT_BOUND <= value < _INT_BOUND:
            raise TypeError(f"statistic {key!r}: {value} does not fit in 64 bits")
        return value, 8
    if isinstance(value, float):
        return float(value), 8
    if isinstance(value, str):
        return checked(key, str(value), depth)
    if kind is list or kind is tuple or kind is dict:
        if depth >= MAX_NESTING:
            raise TypeError(
                f"statistic {key!r}: lists and dicts nested more than {MAX_NESTING} levels "
                "cannot be journalled (MongoDB's limit)"
            )
        return _checked_container(key, value, depth + 1)
    module = getattr(kind, "__module__", "") or ""
    if (
        module.split(".")[0] == "numpy"
        and getattr(value, "ndim", 0) == 0
        and hasattr(value, "item")
    ):
        return checked(key, value.item(), depth)
    raise TypeError(f"statistic {key!r}: {kind.__name__} cannot be journalled; {_NOT_JOURNALLED}")


def _checked_container(key: str, value: list | tuple | dict, depth: int) -> tuple[Any, int]:
    size = 5  # length and terminator
    if type(value) is dict:
        copy = {}
        for name, item in value.items():
            if type(name) is not str:
                if not isinstance(name, str):
                    raise TypeError(f"statistic {key!r}: dict keys must be str, not {name!r}")
                name = str(name)
            copy[name], item_size = checked(key, item, depth)
            size += 2 + _check_text(key, name, "key") + item_size
            if size > MAX_STATISTIC_BYTES:
                raise _too_large(key)
        return copy, size
    items = []
    for index, item in enumerate(value):
        item, item_size = checked(key, item, depth)
        items.append(item)
        size += 2 + len(str(index)) + item_size
        if size > MAX_STATISTIC_BYTES:
            raise _too_large(key)
    return items, size


def checked_values(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` made journalable in place (see the module documentation)."""
    # A training loop's numbers under keys seen before, checked first with the least
    # work (a tenth of a call to log_statistic). Their size needs no counting: at most
    # 10,000 keys are known, 1,024 characters each, far below the bound.
    for key, value in values.items():
        kind = type(value)
        if (kind is float or (kind is int and -_INT_BOUND <= value < _INT_BOUND)) and (
            key in _GOOD_KEYS
        ):
            continue
        return _checked_in_full(values)
    return values


def _checked_in_full(values: dict[str, Any]) -> dict[str, Any]:
    heavy = 0  # encoded bytes of the values checked in full
    for key, value in values.items():
        if key not in _GOOD_KEYS:
            heavy += _check_key(key)
        kind = type(value)
        if (
            kind is float
            or kind is bool
            or value is None
            or (kind is str and len(value) < _SHORT_TEXT and value.isascii())
            or (kind is int and -_INT_BOUND <= value < _INT_BOUND)
        ):
            continue
        values[key], size = checked(key, value)
        heavy += size
        if heavy > MAX_STATISTIC_BYTES:
            raise _too_large(key)
    if heavy + len(values) * _SHORT_ITEM > MAX_STATISTIC_BYTES:
        _check_total(values)  # only for thousands of keys: the bound above is loose
    return values


def _check_total(values: dict[str, Any]) -> None:
    total = 0
    for key, value in values.items():
        total += 2 + _check_text(key, key, "key") + checked(key, value)[1]
        if total > MAX_STATISTIC_BYTES:
            raise _too_large(key)
