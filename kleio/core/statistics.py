"""Statistics as a script logged them: a list of dicts in logging order.

There is no special timestamp field (the README's promise): any key, such as ``epoch``,
``step`` or ``loss``, can order or select statistics.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from kleio.core.trial import TrialDocument
from kleio.core.view import read_view
from kleio.store.base import Store


def sort_value(value: Any) -> tuple:
    """Numbers before text before everything else; NaN and missing keys last."""
    if isinstance(value, bool):
        return (0, float(value), "")
    if isinstance(value, (int, float)):
        return (0, value, "") if not math.isnan(value) else (3, 0, "")
    if isinstance(value, str):
        return (1, 0, value)
    if value is None:
        return (3, 0, "")
    return (2, 0, repr(value))


class Statistics(list):
    """A list of statistic dicts with sorting and filtering by any key."""

    def sorted_by(self, *keys: str, reverse: bool = False) -> Statistics:
        """Sorted by ``keys`` (stable); statistics without the first key come last,
        in ascending and descending order alike."""
        if not keys:
            raise TypeError("sorted_by needs at least one key")

        def order(statistic: dict) -> tuple:
            return tuple(
                sort_value(statistic.get(key)) if key in statistic else (4, 0, "") for key in keys
            )

        present = [statistic for statistic in self if keys[0] in statistic]
        absent = [statistic for statistic in self if keys[0] not in statistic]
        return Statistics(sorted(present, key=order, reverse=reverse) + absent)

    def where(self, **equal: Any) -> Statistics:
        """The statistics whose keys equal the given values."""
        missing = object()
        return Statistics(
            s for s in self if all(s.get(key, missing) == value for key, value in equal.items())
        )

    def keys(self) -> list[str]:
        """Every key logged, in order of first appearance."""
        seen: dict[str, None] = {}
        for statistic in self:
            seen.update(dict.fromkeys(statistic))
        return list(seen)

    def column(self, key: str) -> list[Any]:
        """The values of ``key``, None where a statistic lacks it."""
        return [statistic.get(key) for statistic in self]

    def last(self, key: str) -> Any:
        """The last value logged for ``key`` (None if never)."""
        for statistic in reversed(self):
            if key in statistic:
                return statistic[key]
        return None

    def to_pandas(self):
        """A ``pandas.DataFrame``, one row per statistic (pandas must be installed)."""
        try:
            import pandas
        except ImportError:
            raise ImportError("to_pandas() needs pandas: pip install pandas") from None
        return pandas.DataFrame(list(self))


def statistics_of(
    store: Store, document: TrialDocument, where: dict[str, Any] | None = None, segments=None
) -> Statistics:
    """The statistics of the trial's whole view, in logging order."""
    # Statistics are small: large pages save round trips to the database.
    events: Iterable = read_view(store, document, ["statistic"], segments, page_size=10_000)
    statistics = Statistics(event.data for event in events)
    return statistics.where(**where) if where else statistics
