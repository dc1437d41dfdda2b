"""Groups of trials: the points of a study, each repeated over seeds, read as one.

A study runs each setting of its swept keys several times with different seeds; the
question it answers is which setting is best beyond the noise of the seed. Trials are
grouped by the values of some configuration keys (``--group-by lr``), or of every key
but the seeds (``--group-by '*'``); each group is described by the number of its trials
and aggregates of their numbers (the mean and the standard deviation by default).

``kleio compare --group-by``, ``kleio plot --group-by``, ``kleio.compare(group_by=...)``
and the dashboard share these definitions, so that they agree on every number.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kleio.core.model.errors import SettingsError
from kleio.core.model.trial import canonical_json

#: ``--group-by '*'``: every configuration key but the seeds.
EVERY_KEY = "*"
#: The configuration keys that name seeds, besides those given by ``--seed-key``: a key
#: of this name, or ending in ``.`` and this name (``training.seed``).
SEED = "seed"
#: What a group's column may show of its trials' values.
GROUP_AGGREGATES = ("mean", "std", "min", "max", "median")
#: What it shows when not said: the mean and its spread.
DEFAULT_GROUP_AGGREGATES = ("mean", "std")


def is_seed(key: str, seed_keys: Iterable[str] = ()) -> bool:
    """Whether a configuration key names a seed: ``seed``, ``*.seed``, or one given."""
    return key == SEED or key.endswith("." + SEED) or key in set(seed_keys)


def grouping_keys(
    group_by: Sequence[str], configuration_keys: Sequence[str], seed_keys: Iterable[str] = ()
) -> list[str]:
    """The configuration keys trials are grouped by: those of ``group_by``, in its
    order, with :data:`EVERY_KEY` standing for every key of ``configuration_keys`` but
    the seeds (:func:`is_seed`). A key named twice counts once."""
    seeds = list(seed_keys)
    keys: list[str] = []
    for name in group_by:
        if name == EVERY_KEY:
            keys += [key for key in configuration_keys if not is_seed(key, seeds)]
        else:
            keys.append(name)
    return list(dict.fromkeys(keys))


#: A key a trial does not hold, in a group's values: such trials form groups of their own.
ABSENT = object()


def group_of(configuration: Mapping[str, Any], keys: Sequence[str]) -> tuple[str, ...]:
    """What tells a trial's group: the canonical JSON of its value of each key (``1``
    and ``1.0`` are one group, as they are one trial's identity); ``"-"`` where it has
    none (not valid JSON: no value reads so)."""
    return tuple(
        canonical_json(configuration[key]) if key in configuration else "-" for key in keys
    )


def parse_group_aggregates(text: str | None) -> list[str]:
    """``"mean,std"`` -> ``["mean", "std"]``; None: the default; an unknown one is an error."""
    if text is None:
        return list(DEFAULT_GROUP_AGGREGATES)
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in GROUP_AGGREGATES]
    if unknown or not names:
        said = f"unknown aggregate {unknown[0]!r}" if unknown else "no aggregate given"
        raise SettingsError(f"{said}: choose among {', '.join(GROUP_AGGREGATES)}")
    return list(dict.fromkeys(names))


def numbers_of(values: Iterable[Any]) -> list[float]:
    """The values that are numbers (not booleans, not NaN): what a group aggregates."""
    return [
        float(value)
        for value in values
        if isinstance(value, (int, float))
        and not isinstance(value, bool)
        and not (isinstance(value, float) and math.isnan(value))
    ]


def aggregate_group(values: Iterable[Any], how: str) -> float | None:
    """One aggregate of a group's values (:data:`GROUP_AGGREGATES`) over those that are
    numbers; None when none is. ``std`` is the population standard deviation (numpy's
    ``std`` by default, ``ddof=0``): 0 for a group of one trial."""
    numbers = numbers_of(values)
    if not numbers:
        return None
    if how == "mean":
        return math.fsum(numbers) / len(numbers)
    if how == "std":
        mean = math.fsum(numbers) / len(numbers)
        return math.sqrt(math.fsum((x - mean) ** 2 for x in numbers) / len(numbers))
    if how == "min":
        return min(numbers)
    if how == "max":
        return max(numbers)
    if how == "median":
        ordered = sorted(numbers)
        middle = len(ordered) // 2
        if len(ordered) % 2:
            return ordered[middle]
        return (ordered[middle - 1] + ordered[middle]) / 2
    raise ValueError(f"unknown aggregate {how!r}")
