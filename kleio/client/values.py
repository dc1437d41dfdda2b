"""What a statistic or metadata value may be, checked at the call that logs it.

Values are what every backend can store: ``int`` within 64 bits, ``float`` (NaN and
infinities kept), ``str`` of valid Unicode, ``bool``, ``None``, and lists and dicts of
these with ``str`` keys; numpy scalars and 0-d arrays are converted. Anything else is a
``TypeError`` naming the key, raised in the script at the call, never later in the
writing thread.
"""

from __future__ import annotations

from typing import Any

_INT_BOUND = 1 << 63
_NOT_JOURNALLED = (
    "use int, float, str, bool, None, or lists and dicts of these "
    "(numpy scalars and 0-d arrays are converted)"
)


#: Keys already found journalable (a set lookup is cheaper than checking again).
_GOOD_KEYS: set[str] = set()


def _check_text(key: str, text: str, what: str) -> None:
    """TypeError for text no database can hold: lone surrogates, or NUL in a key."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise TypeError(f"statistic {key!r}: {what} {text!r} is not valid Unicode") from None
    if what == "key" and "\x00" in text:
        raise TypeError(f"statistic {key!r}: a key cannot contain the NUL character")


def _check_key(key: str) -> None:
    _check_text(key, key, "key")
    if len(_GOOD_KEYS) < 10_000:
        _GOOD_KEYS.add(key)


def checked(key: str, value: Any) -> Any:
    """``value`` as it will be journalled (a copy of lists and dicts), or TypeError."""
    kind = type(value)
    if kind is str:
        if not value.isascii():
            _check_text(key, value, "text")
        return value
    if kind is float or kind is bool or value is None:
        return value
    if kind is int or isinstance(value, int) and not isinstance(value, bool):
        value = int(value)
        if not -_INT_BOUND <= value < _INT_BOUND:
            raise TypeError(f"statistic {key!r}: {value} does not fit in 64 bits")
        return value
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return checked(key, str(value))
    if kind is list or kind is tuple:
        return [checked(key, item) for item in value]
    if kind is dict:
        copy = {}
        for name, item in value.items():
            if not isinstance(name, str):
                raise TypeError(f"statistic {key!r}: dict keys must be str, not {name!r}")
            _check_text(key, name, "key")
            copy[name] = checked(key, item)
        return copy
    module = getattr(kind, "__module__", "") or ""
    if (
        module.split(".")[0] == "numpy"
        and getattr(value, "ndim", 0) == 0
        and hasattr(value, "item")
    ):
        return checked(key, value.item())
    raise TypeError(f"statistic {key!r}: {kind.__name__} cannot be journalled; {_NOT_JOURNALLED}")


def checked_values(values: dict[str, Any]) -> dict[str, Any]:
    for key, value in values.items():
        if key not in _GOOD_KEYS:
            _check_key(key)
        kind = type(value)
        if (
            kind is float
            or kind is bool
            or value is None
            or (kind is str and value.isascii())
            or (kind is int and -_INT_BOUND <= value < _INT_BOUND)
        ):
            continue
        values[key] = checked(key, value)
    return values
