"""Adaptive studies: workers that ask Optuna for the next point and tell it the trial's value.

``kleio sweep --optimize loss:min --budget 50 COMMAND`` defines the study
(:mod:`kleio.core.model.search`) and creates its Optuna study in the journal
(:func:`create_study`); every ``kleio run --study NAME`` then runs :func:`optimize`:

1. ask Optuna for a point (its trial number is its place in the study);
2. stop when that number reaches the budget: the surplus ask (two workers asking for
   the last point at once) is told failed, with the user attribute ``kleio_skipped``,
   and runs nothing; Optuna has no state for "not run", and a failed trial is one no
   sampler learns from;
3. write the point's values into the command (:func:`~kleio.core.model.sweep.substitute`)
   and find or make its trial in the study, as the plain command would: its id goes in
   the Optuna trial's user attribute ``kleio_trial``;
4. run it, unless it completed before (its value is told at once, nothing runs twice);
   a trial another worker holds (two asks gave one point) is waited for;
5. tell Optuna the objective's summary of the trial, or that it failed: broken,
   interrupted, or completed without the statistic.

Before each ask a worker settles the Optuna trials left running whose Kleio trial ended
without a tell (a worker killed): failed if it is lost, broken or interrupted, its value
if it completed, failed if no Kleio trial took it within the lease. So a killed worker
never holds a point of the budget for ever.

Parallel workers and seeds: TPE runs with ``constant_liar`` (a point being evaluated
counts as a bad one, so two workers do not ask for the same region at once), and with
``--sample-seed S`` each trial's sampler is seeded with ``S`` and its number: the
points of a study depend on the seed and on what the trials before found, never on
which worker asks (workers sharing one seed would otherwise draw the same points).
"""

from __future__ import annotations

import datetime
import os
import signal
import time

from kleio.integrations import OPTUNA, missing

try:
    import optuna
    from optuna.distributions import (
        BaseDistribution,
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.samplers import BaseSampler
    from optuna.trial import FrozenTrial, TrialState
except ImportError as error:  # not installed: one line, not a traceback
    raise missing(OPTUNA, error, "optuna") from None

from kleio.core.model import status as st
from kleio.core.model.errors import KleioError, TrialNotReservable
from kleio.core.model.search import Search, objective_value
from kleio.core.model.sweep import Dimension, substitute, swept
from kleio.core.model.trial import short_id
from kleio.core.reading.summaries import aggregate, view_summaries
from kleio.core.running.signals import stopping_signals
from kleio.core.running.study import join_study
from kleio.integrations.optuna import journal_storage
from kleio.store.base import Store

__all__ = ["create_study", "optimize", "search_space", "study_progress"]

#: The user attributes of an Optuna trial: its Kleio trial, and why it ran nothing.
TRIAL_ATTRIBUTE = "kleio_trial"
SKIPPED_ATTRIBUTE = "kleio_skipped"
#: Seconds between two looks at a trial another worker runs (one read each).
WAIT = 1.0

optuna.logging.set_verbosity(optuna.logging.WARNING)


# -- the study --------------------------------------------------------------------------
def search_space(search: Search) -> dict[str, tuple[Dimension, BaseDistribution]]:
    """Optuna's distribution of each swept word, by parameter name (the option's key;
    ``key@INDEX`` for a key swept twice): uniform and loguniform are floats (log for the
    latter), randint and a regular range integers, lists, choices, linspace and logspace
    categorical (their values as written)."""
    dimensions = swept(search.command)
    names = [dimension.name for dimension in dimensions]
    space = {}
    for dimension in dimensions:
        name = dimension.name
        if names.count(name) > 1:
            name = f"{name}@{dimension.index}"
        space[name] = (dimension, _distribution(dimension))
    return space


def _distribution(dimension: Dimension) -> BaseDistribution:
    if dimension.random:
        kind, *bounds = dimension.distribution  # type: ignore[misc]
        if kind == "uniform":
            return FloatDistribution(bounds[0], bounds[1])
        if kind == "loguniform":
            return FloatDistribution(bounds[0], bounds[1], log=True)
        if kind == "randint":
            return IntDistribution(bounds[0], bounds[1])
        return CategoricalDistribution(bounds)
    values = dimension.values
    assert values is not None
    if dimension.kind == "range":
        first, last = int(values[0]), int(values[-1])
        step = abs(int(values[1]) - first) if len(values) > 1 else 1
        return IntDistribution(min(first, last), max(first, last), step=step)
    return CategoricalDistribution(list(values))


def _sampler(search: Search) -> BaseSampler:
    """The study's sampler; one whose library is missing is a one-line error."""
    needs = {"cmaes": "cmaes", "qmc": "scipy"}.get(search.sampler)
    if needs is not None:
        try:
            __import__(needs)
        except ImportError:
            raise KleioError(
                f"the {search.sampler} sampler needs {needs}: pip install {needs}"
            ) from None
    if search.sampler == "qmc":  # one scrambled sequence: the seed must stay the same
        return optuna.samplers.QMCSampler(seed=search.seed)
    return _TrialSeeded(search.sampler, search.seed)


def _make_sampler(name: str, seed: int | None) -> BaseSampler:
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.CmaEsSampler(seed=seed)


class _TrialSeeded(BaseSampler):
    """A sampler seeded for each trial with the study's seed and the trial's number (see
    the module documentation); without a seed, one sampler seeded by the system."""

    def __init__(self, name: str, seed: int | None):
        self._name, self._seed = name, seed
        self._inner = _make_sampler(name, seed)

    def before_trial(self, study, trial: FrozenTrial) -> None:
        if self._seed is not None:  # 2**32: numpy's seeds; 1,000,003: a prime spreading them
            self._inner = _make_sampler(self._name, (self._seed * 1_000_003 + trial.number) % 2**32)
        self._inner.before_trial(study, trial)

    def infer_relative_search_space(self, study, trial):
        return self._inner.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._inner.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values) -> None:
        self._inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._inner.reseed_rng()


def _open(store: Store, search: Search) -> optuna.Study:
    return optuna.create_study(
        study_name=search.study,
        storage=journal_storage(store, search.study),
        direction=search.direction,
        sampler=_sampler(search),
        load_if_exists=True,
    )


def create_study(store: Store, search: Search) -> optuna.Study:
    """The Optuna study of ``search`` in the journal, made if it is not (its definition
    in the study's user attributes too, for Optuna's own tools)."""
    study = _open(store, search)
    if study.user_attrs.get("kleio") is None:
        study.set_user_attr("kleio", search.to_data())
    return study


def study_progress(study: optuna.Study) -> int:
    """How many points of the study were told (completed or failed)."""
    return sum(trial.state.is_finished() for trial in study.get_trials(deepcopy=False))


# -- the worker -------------------------------------------------------------------------
def optimize(runner, search: Search) -> int:
    """``kleio run --study NAME`` for an adaptive study (see the module documentation):
    points until the budget is spent. Returns 0 if every trial this worker ran completed,
    1 otherwise, 128 + N when a stopping signal N ended it."""
    if not os.path.isdir(search.cwd):
        raise KleioError(f"study {search.study} runs in {search.cwd}, which is not a folder here")
    study = _open(runner.store, search)
    space = search_space(search)
    worker = _Worker(runner, search, study, space)
    with stopping_signals(runner.stop):
        worker.work()
    return worker.finish()


class _Worker:
    def __init__(self, runner, search: Search, study: optuna.Study, space: dict):
        self.runner, self.search, self.study, self.space = runner, search, study, space
        self.store: Store = runner.store
        self.ran = self.failed = 0

    def work(self) -> None:
        budget = self.search.budget
        while self.runner.stopped_by is None:
            self.settle()
            if len(self.study.get_trials(deepcopy=False)) >= budget:
                return
            trial = self.study.ask({name: dist for name, (_, dist) in self.space.items()})
            if trial.number >= budget:
                trial.set_user_attr(SKIPPED_ATTRIBUTE, "over budget")
                self._tell(trial.number, None)
                return
            value = None
            try:
                value = self.evaluate(trial)
            finally:
                self._tell(trial.number, value)

    def evaluate(self, trial: optuna.Trial) -> float | None:
        """Run the point of ``trial`` (or find it run); its objective value, or None."""
        space = self.space.items()
        values = {dimension.index: trial.params[name] for name, (dimension, _) in space}
        argv = substitute(self.search.command, values)
        runner = self.runner
        snapshot = runner.snapshot(argv, self.search.cwd, self.search.project)
        document = runner.save_snapshot(snapshot, quiet=True)
        join_study(self.store, document, self.search.study)
        trial.set_user_attr(TRIAL_ATTRIBUTE, document["_id"])
        while runner.stopped_by is None:
            try:
                code = runner.run(document, completed_is_done=False)
            except TrialNotReservable as refusal:
                if refusal.status in st.ACTIVE:  # another worker runs this point: its value
                    time.sleep(WAIT)
                    continue
                if refusal.status != st.COMPLETED:
                    self.runner.notify(f"point {trial.number}: {refusal}; told failed")
                break
            self.ran += 1
            self.failed += code != 0
            break
        value = self.value_of(document["_id"])
        self._say(trial.number, document["_id"], value)
        return value

    def value_of(self, trial_id: str) -> float | None:
        """The objective of a completed trial; None for any other (a failure)."""
        document = self.store.get_trial(trial_id)
        if document is None or document.get("status") != st.COMPLETED:
            return None
        name, summary = self.search.statistic()
        summaries = view_summaries(self.store, [document])[trial_id]
        return objective_value(aggregate(summaries.get(name), summary))

    def settle(self) -> None:
        """Tell the points of workers that died (see the module documentation)."""
        lease = self.runner.settings.lease
        running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        for frozen in running:
            trial_id = frozen.user_attrs.get(TRIAL_ATTRIBUTE)
            document = self.store.get_trial(trial_id) if isinstance(trial_id, str) else None
            status = None if document is None else st.observed_status(document, lease)
            if status in st.ACTIVE:
                continue
            if status in (None, st.NEW) and not _older(frozen, lease):
                continue  # its worker is between the ask and the run
            value = self.value_of(trial_id) if status == st.COMPLETED else None
            self.runner.notify(
                f"point {frozen.number} ({short_id(trial_id or '') or 'no trial'}, "
                f"{status or 'never started'}): its worker is gone; told "
                + ("its value" if value is not None else "failed")
            )
            self._tell(frozen.number, value)

    def _tell(self, number: int, value: float | None) -> None:
        try:
            if value is None:
                self.study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
            else:
                self.study.tell(number, value, skip_if_finished=True)
        except UpdateFinishedTrialError:
            pass  # another worker settled it at the same moment: told once

    def _say(self, number: int, trial_id: str, value: float | None) -> None:
        shown = "failed" if value is None else f"{self.search.objective} {value:.6g}"
        label = short_id(trial_id)
        self.runner.notify(f"point {number} of {self.search.budget}: trial {label} {shown}")

    def finish(self) -> int:
        failed = f", {self.failed} of them failed" if self.failed else ""
        ran = f"this worker ran {self.ran}{failed}"
        stopped = self.runner.stopped_by
        if stopped is not None:
            name = signal.Signals(stopped).name
            self.runner.notify(f"stopped by {name}: {ran}; the rest wait for another worker")
            return 128 + stopped
        told = study_progress(self.study)
        best = _best(self.study)
        self.runner.notify(
            f"study {self.search.study}: {told} of {self.search.budget} points told; {ran}"
            + (f"; best {self.search.objective} {best.value:.6g} ({_params(best)})" if best else "")
        )
        return 1 if self.failed else 0


def _older(trial: FrozenTrial, lease: float) -> bool:
    """Whether the trial started more than ``lease`` seconds ago (Optuna keeps naive
    local times)."""
    start = trial.datetime_start
    return start is None or (datetime.datetime.now() - start).total_seconds() > lease


def _best(study: optuna.Study) -> FrozenTrial | None:
    try:
        return study.best_trial
    except ValueError:  # no trial completed
        return None


def _params(trial: FrozenTrial) -> str:
    return ", ".join(f"{name}={value}" for name, value in trial.params.items())
