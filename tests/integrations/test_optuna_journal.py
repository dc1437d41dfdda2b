"""Optuna's journal in a Kleio journal: one order of logs every worker agrees on, each
log once, and a study several processes optimize at once."""

from __future__ import annotations

import importlib
import itertools
import multiprocessing
import sys

import optuna
import pytest

from kleio.core.curation.removal import collect_garbage
from kleio.core.model.errors import KleioError
from kleio.core.model.trial import study_log_id
from kleio.integrations.optuna import KIND, KleioJournalBackend, journal_storage
from kleio.store.base import Event, StoreUnavailable
from kleio.store.keys import event_key, sequence_key

SPAWN = multiprocessing.get_context("spawn")

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _logs(count: int, start: int = 0) -> list[dict]:
    return [{"op_code": 4, "worker_id": "w", "n": start + i} for i in range(count)]


def test_logs_are_read_back_in_order_from_any_number(store):
    backend = KleioJournalBackend(store, "s")
    backend.append_logs(_logs(3))
    backend.append_logs(_logs(12, start=3))
    assert backend.read_logs(0) == _logs(15)
    assert backend.read_logs(10) == _logs(5, start=10)
    assert backend.read_logs(15) == []
    assert KleioJournalBackend(store, "other").read_logs(0) == []


def test_a_writer_behind_the_others_appends_after_them_never_before(store):
    """A writer that last read log 0 appends after the logs others appended meanwhile: a
    reader that read up to them never finds a log inserted before."""
    behind, ahead = KleioJournalBackend(store, "s"), KleioJournalBackend(store, "s")
    behind.append_logs([{"by": "behind", "n": 0}])
    ahead.append_logs([{"by": "ahead", "n": i} for i in range(1, 40)])
    seen = ahead.read_logs(0)
    behind.append_logs([{"by": "behind", "n": 40}, {"by": "behind", "n": 41}])
    logs = KleioJournalBackend(store, "s").read_logs(0)
    assert logs[:40] == seen
    assert [log["n"] for log in logs] == list(range(42))


def _put(store, slot: int, data) -> None:
    """An event written at ``slot`` of the log of study ``s`` by another program."""
    store.append_events([Event(study_log_id("s"), KIND, sequence_key(slot), 1.0, data)])


def test_a_reader_never_reads_past_a_gap_and_the_next_writer_fills_it(store):
    _put(store, 1, {"token": "t", "log": {"n": 1}})
    backend = KleioJournalBackend(store, "s")
    assert backend.read_logs(0) == []
    backend.append_logs([{"n": 0}])
    assert backend.read_logs(0) == [{"n": 0}, {"n": 1}]


def test_a_damaged_log_is_said_in_one_line(store):
    KleioJournalBackend(store, "s").append_logs(_logs(1))
    _put(store, 1, {"token": "t"})
    with pytest.raises(KleioError, match="log of study 's' is damaged at entry 1"):
        KleioJournalBackend(store, "s").read_logs(0)


class _LosingStore:
    """A store whose first append that lands raises, as a MongoDB connection dropped
    after the server applied the write."""

    def __init__(self, store):
        self._store, self.lost = store, 0

    def __getattr__(self, name):
        return getattr(self._store, name)

    def append_events(self, events):
        new = self._store.append_events(events)
        if new and not self.lost:
            self.lost += 1
            raise StoreUnavailable("connection closed")
        return new


def test_an_append_that_landed_but_failed_is_not_appended_twice(store, monkeypatch):
    monkeypatch.setattr("kleio.integrations.optuna.RETRY_DELAY", 0.01)
    KleioJournalBackend(store, "s").append_logs(_logs(2))
    losing = _LosingStore(store)
    KleioJournalBackend(losing, "s").append_logs(_logs(1, start=2))
    assert losing.lost == 1
    assert KleioJournalBackend(store, "s").read_logs(0) == _logs(3)


def test_an_unreachable_store_is_tried_again_then_said(store, monkeypatch):
    monkeypatch.setattr("kleio.integrations.optuna.RETRY_DELAY", 0.01)

    class Down(_LosingStore):
        def append_events(self, events):
            self.lost += 1
            raise StoreUnavailable("no server")

    down = Down(store)
    with pytest.raises(StoreUnavailable):
        KleioJournalBackend(down, "s").append_logs(_logs(1))
    assert down.lost == 5
    assert KleioJournalBackend(store, "s").read_logs(0) == []


def test_garbage_collection_keeps_a_study_log_and_removes_orphans(store):
    """A study's log belongs to no trial document: ``kleio gc`` keeps it all the same, and
    still removes the events of a trial that no longer exists."""
    KleioJournalBackend(store, "s").append_logs(_logs(3))
    store.append_events([Event("f" * 32, "stdout", event_key(1.0, "w", 0), 1.0, {"b": "x"})])
    collected = collect_garbage(store)
    assert collected.orphan_trials == ["f" * 32]
    assert KleioJournalBackend(store, "s").read_logs(0) == _logs(3)
    assert store.count_events(study_log_id("s"), [KIND]) == 3


def test_without_optuna_importing_the_backend_says_how_to_install_it(monkeypatch):
    monkeypatch.delitem(sys.modules, "kleio.integrations.optuna")
    monkeypatch.setitem(sys.modules, "optuna.storages", None)
    with pytest.raises(KleioError, match=r"pip install 'kleio\[optuna\]'") as raised:
        importlib.import_module("kleio.integrations.optuna")
    assert "\n" not in str(raised.value)


def test_a_study_needs_a_name(store):
    with pytest.raises(KleioError, match="a study needs a name"):
        journal_storage(store, "")


def test_workers_ask_and_tell_through_separate_storages(store):
    """What a study's worker does: create the study (or load it) with attributes that
    describe it, ask for a point, tell its value or its failure; another worker sees it."""
    first = optuna.create_study(
        study_name="s", storage=journal_storage(store, "s"), load_if_exists=True
    )
    first.set_user_attr("command", ["python", "train.py", "--lr", "{lr}"])
    second = optuna.create_study(
        study_name="s", storage=journal_storage(store, "s"), load_if_exists=True
    )
    assert second.user_attrs == {"command": ["python", "train.py", "--lr", "{lr}"]}
    lr = optuna.distributions.FloatDistribution(1e-4, 1.0, log=True)
    asked = [first.ask({"lr": lr}), second.ask({"lr": lr})]
    assert sorted(trial.number for trial in asked) == [0, 1]
    second.tell(asked[0].number, 0.25)
    first.tell(asked[1].number, state=optuna.trial.TrialState.FAIL)
    for study in (first, second):
        trials = study.get_trials(deepcopy=False)
        assert [t.state.name for t in trials] == ["COMPLETE", "FAIL"]
        assert study.best_value == 0.25


def _optimize(address: str, db_name: str, trials: int, go) -> None:
    import optuna

    from kleio.core.model.catalogue import open_journal
    from kleio.integrations.optuna import journal_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store = open_journal(address, db_name)
    go.wait(60)
    study = optuna.create_study(
        study_name="quadratic",
        storage=journal_storage(store, "quadratic"),
        sampler=optuna.samplers.TPESampler(n_startup_trials=5),
        load_if_exists=True,
    )
    study.optimize(lambda trial: (trial.suggest_float("x", -10, 10) - 2) ** 2, n_trials=trials)
    store.close()


@pytest.mark.slow
def test_two_processes_optimize_one_study_at_once(shared_backend):
    go, each = SPAWN.Event(), 25
    workers = [
        SPAWN.Process(
            target=_optimize, args=(shared_backend.address, shared_backend.db_name, each, go)
        )
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    go.set()
    for worker in workers:
        worker.join(300)
        assert worker.exitcode == 0
    study = optuna.load_study(
        study_name="quadratic", storage=journal_storage(shared_backend.store, "quadratic")
    )
    trials = study.get_trials(deepcopy=False)
    assert sorted(trial.number for trial in trials) == list(range(2 * each))
    assert all(trial.state == optuna.trial.TrialState.COMPLETE for trial in trials)
    assert len({trial._trial_id for trial in trials}) == 2 * each
    assert abs(study.best_params["x"] - 2) < 0.5  # 50 trials of TPE over [-10, 10]
    # The workers made their trials at the same time, not one after the other.
    makers = [
        log["worker_id"].rsplit("-", 1)[0]
        for log in KleioJournalBackend(shared_backend.store, "quadratic").read_logs(0)
        if log["op_code"] == 4  # optuna's JournalOperation.CREATE_TRIAL
    ]
    assert len(set(makers)) == 2
    assert sum(a != b for a, b in itertools.pairwise(makers)) >= 2
