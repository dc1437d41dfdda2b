"""Plain value classes for the path of a run, without :mod:`dataclasses`.

Importing :mod:`dataclasses` (which imports :mod:`inspect`, :mod:`ast` and :mod:`dis`)
and building a dozen classes with it cost ``kleio python ...`` a sixth of its start-up.
The classes a run needs write their ``__init__`` by hand and take equality, a
representation and :meth:`Value.replace` from :class:`Value`, which reads their
field names from ``FIELDS``. Commands that never run a script keep using dataclasses.
"""

from __future__ import annotations

from typing import Any


class Value:
    """A value made of the attributes named in ``FIELDS``, in that order."""

    FIELDS: tuple[str, ...] = ()

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.FIELDS)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.FIELDS)
        return f"{type(self).__name__}({fields})"

    def replace(self, **changes: Any) -> Any:
        """A copy with ``changes``, as :func:`dataclasses.replace` makes one."""
        return type(self)(**{**{name: getattr(self, name) for name in self.FIELDS}, **changes})
