"""An adaptive study's definition: what ``kleio sweep --optimize`` asks workers to search.

A study whose points a sampler chooses (Optuna's, :mod:`kleio.integrations.optuna`)
saves no trial up front: ``kleio sweep --optimize loss:min --budget 50 COMMAND`` writes
its :class:`Search` (the command with its sweep expressions, where it runs, the
objective, the budget, the sampler) and each ``kleio run --study NAME`` worker asks the
sampler for a point, runs its trial, and tells the sampler the trial's value.

The definition is the event of kind :data:`KIND` and key ``sequence_key(0)`` of the
study's log (:func:`~kleio.core.model.trial.study_log_id`), beside the sampler's own
log. Appending an event is idempotent per key, so two sweeps of one name at once make
one definition: the second reads the first back and compares. It is readable without
Optuna, so a worker knows for one read (no import of Optuna) whether its study is
adaptive, and ``kleio studies`` knows its objective.

The objective is a statistic summary as ``--sort`` reads it (``loss:min``, ``acc:max``,
``loss`` for ``loss:last``), the lowest sought, or with a leading ``-`` the highest
(``-acc:max``): ``kleio studies --best`` reads it the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from kleio.core.model import clock
from kleio.core.model.errors import KleioError, SettingsError
from kleio.core.model.trial import study_log_id
from kleio.store.base import Event, Store
from kleio.store.keys import sequence_key
from kleio.value import Value

#: The kind of the definition's event in the study's log.
KIND = "search"
#: The samplers a study may use (Optuna's TPE, random, CMA-ES and quasi-Monte Carlo).
SAMPLERS = ("tpe", "random", "cmaes", "qmc")
#: The most points one study may try: as many as one sweep may save.
MAX_BUDGET = 100_000
#: The summaries an objective may name (those of ``--sort``).
_AGGREGATES = ("last", "first", "min", "max", "count")
#: The definition's format, so a later Kleio reads this one.
_FORMAT = 1


class Search(Value):
    """An adaptive study: its ``study`` name, the ``command`` (argv with its sweep
    expressions), the ``cwd`` and ``project`` its trials run with, the ``objective`` as
    written without its sign (``loss:min``), ``maximize`` (whether the highest is
    sought), the ``budget`` (points tried, failed ones included), the ``sampler`` and
    its ``seed`` (None: not reproducible)."""

    FIELDS = (
        "study",
        "command",
        "cwd",
        "project",
        "objective",
        "maximize",
        "budget",
        "sampler",
        "seed",
    )

    def __init__(
        self,
        study: str,
        command: Sequence[str],
        cwd: str,
        project: str | None,
        objective: str,
        maximize: bool,
        budget: int,
        sampler: str = "tpe",
        seed: int | None = None,
    ):
        self.study, self.command, self.cwd, self.project = study, list(command), cwd, project
        self.objective, self.maximize, self.budget = objective, maximize, budget
        self.sampler, self.seed = sampler, seed

    def __hash__(self) -> int:
        return hash((self.study, tuple(self.command), self.objective, self.budget))

    @property
    def direction(self) -> str:
        """Optuna's word for the direction: ``minimize`` or ``maximize``."""
        return "maximize" if self.maximize else "minimize"

    @property
    def best_key(self) -> str:
        """The objective as ``--sort`` and ``kleio studies --best`` take it."""
        return f"-{self.objective}" if self.maximize else self.objective

    def statistic(self) -> tuple[str, str]:
        """The statistic key and the summary the objective reads: ``("loss", "min")``."""
        return statistic_of(self.objective)

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: getattr(self, name) for name in self.FIELDS}
        data["format"] = _FORMAT
        return data

    @classmethod
    def from_data(cls, data: Any) -> Search:
        """The definition a study's log holds; a damaged one is a one-line error."""
        try:
            fields = {name: data[name] for name in cls.FIELDS}
            search = cls(**fields)
            if (
                not isinstance(search.study, str)
                or not all(isinstance(word, str) for word in search.command)
                or not isinstance(search.cwd, str)
                or not isinstance(search.budget, int)
                or search.sampler not in SAMPLERS
            ):
                raise TypeError
        except (KeyError, TypeError):
            name = data.get("study") if isinstance(data, dict) else None
            raise KleioError(f"the definition of study {name!r} is damaged") from None
        return search

    def describe(self) -> str:
        """One line: the objective, its direction, the budget and the sampler."""
        seed = "" if self.seed is None else f", seed {self.seed}"
        return (
            f"{self.direction} {self.objective} over {self.budget:,} trials "
            f"({self.sampler} sampler{seed})"
        )


def parse_objective(text: str) -> tuple[str, bool]:
    """``"-acc:max"`` -> ``("acc:max", True)``: the objective and whether it is maximised.
    A key with an unknown summary is a one-line :class:`SettingsError`."""
    stripped = text.strip()
    maximize = stripped.startswith("-")
    key = stripped[1:].strip() if maximize or stripped.startswith("+") else stripped
    if not key:
        raise SettingsError(f"bad --optimize {text!r}: no statistic named")
    name, colon, wanted = key.rpartition(":")
    if colon and (wanted not in _AGGREGATES or not name):
        raise SettingsError(
            f"bad --optimize {text!r}: expected a statistic and a summary among "
            f"{', '.join(_AGGREGATES)} (loss:min; -acc:max for the highest)"
        )
    return key, maximize


def statistic_of(objective: str) -> tuple[str, str]:
    """The statistic key and summary of an objective: ``loss`` is ``loss:last``."""
    name, colon, wanted = objective.rpartition(":")
    return (name, wanted) if colon else (objective, "last")


def objective_value(value: Any) -> float | None:
    """The value a sampler is told: a finite number, else None (the trial failed)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def read_search(store: Store, study: str) -> Search | None:
    """The definition of ``study``, or None for a study of saved points (one read)."""
    event = next(store.read_events(study_log_id(study), [KIND], page_size=1), None)
    if event is None:
        return None
    return Search.from_data(event.data)


def save_search(store: Store, search: Search) -> tuple[Search, bool]:
    """Write the definition of ``search.study``, unless it has one: returns the
    definition the study has and whether it was written now. A study defined otherwise
    is a one-line error naming what differs."""
    event = Event(study_log_id(search.study), KIND, sequence_key(0), clock.now(), search.to_data())
    made = store.append_events([event]) == 1
    stored = read_search(store, search.study)
    assert stored is not None  # just appended, and events are never removed from a log
    if stored != search:
        differ = [name for name in Search.FIELDS if getattr(stored, name) != getattr(search, name)]
        raise KleioError(
            f"study {search.study} exists with another definition ({', '.join(differ)} "
            "differ): give another --study NAME"
        )
    return stored, made
