"""The first trials by a statistic, found without reading every trial
(:mod:`kleio.core.reading.ranking`), print what the general path prints: the same rows in
the same order (ties, trials without the key, NaN, lost trials, branches' views), byte
for byte, on random journals."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kleio.core.model.catalogue import open_journal
from kleio.core.model.trial import TrialSpec, new_trial_document
from kleio.core.reading import ranking
from kleio.store.base import Event
from kleio.store.keys import event_key
from tests.helpers import clean_environment, invoke

NOW = 1_800_000_000.0
#: Values a statistic takes: ties, NaN, integers, text, booleans.
VALUES = st.sampled_from([0.5, 0.25, 0.25, 1, 2, -3.0, math.nan, math.inf, "text", True, None])
STATUSES = ["new", "completed", "broken", "interrupted", "running", "reserved"]
SORTS = ["loss:min", "-loss:max", "loss:last", "acc:count", "-loss:first", "acc:min", "-acc:last"]


@st.composite
def journals(draw):
    """Trials: (created, status, fresh heartbeat, parent index or None, tags, points)."""
    count = draw(st.integers(1, 14))
    trials = []
    for index in range(count):
        points = draw(st.lists(st.fixed_dictionaries({"loss": VALUES, "acc": VALUES}), max_size=4))
        trials.append(
            (
                draw(st.sampled_from([NOW - 300, NOW - 200, NOW - 100 - index])),  # ties
                draw(st.sampled_from(STATUSES)),
                draw(st.booleans()),
                draw(st.none() | st.integers(0, index - 1)) if index else None,
                draw(st.sampled_from([["a"], ["a", "b"], []])),
                [{k: v for k, v in p.items() if v is not None} for p in points],
            )
        )
    return trials


def _fill(address: str, trials) -> None:
    made: list[str] = []
    with open_journal(address) as store:
        for index, (created, status, fresh, parent, tags, points) in enumerate(trials):
            refers = {"parent": made[parent], "time": NOW - 50} if parent is not None else {}
            spec = TrialSpec("p", ["python", "t.py", "--i", str(index)], {"i": index}, refers)
            document = new_trial_document(spec, status=status, tags=tags)
            document.update(created=created, started=NOW - 400, run_time=1.5)
            document["heartbeat"] = NOW - (1 if fresh else 3600)
            document["study"] = f"s{index % 3}"
            store.create_trial(document)
            made.append(document["_id"])
            store.append_events(
                [
                    Event(document["_id"], "statistic", event_key(t, "w", t), t, point)
                    for t, point in enumerate(points)
                ]
            )


@settings(
    max_examples=40,
    deadline=None,
)
@given(
    trials=journals(),
    sort=st.lists(st.sampled_from(SORTS), min_size=1, max_size=2, unique=True),
    limit=st.integers(1, 16),
    command=st.sampled_from(["compare", "ls"]),
    selection=st.sampled_from([[], ["--status", "lost"], ["--tags", "b"], ["--format", "json"]]),
)
def test_the_first_trials_by_a_statistic_print_as_the_general_path_prints(
    tmp_path_factory, trials, sort, limit, command, selection
):
    folder: Path = tmp_path_factory.mktemp("ranked")
    address = str(folder / "kleio.db")
    _fill(address, trials)
    env = clean_environment(folder / "home", KLEIO_DB_ADDRESS=address, COLUMNS="200")
    argv = [command, "--sort", ",".join(sort), "-n", str(limit), *selection]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("kleio.core.model.clock.now", lambda: NOW)
        fast = invoke(*argv, env=env)
        patch.setattr(ranking, "ranked_trials", lambda *args: None)  # the general path
        slow = invoke(*argv, env=env)
    assert (fast.returncode, fast.stdout, fast.stderr) == (
        slow.returncode,
        slow.stdout,
        slow.stderr,
    )


def test_the_first_trials_by_a_statistic_read_no_other_trials_document(tmp_path, monkeypatch):
    # 30 trials, the first 3 by loss:min shown: 3 documents read whole, the 30 listings.
    address = str(tmp_path / "kleio.db")
    _fill(address, [(NOW - i, "completed", True, None, [], [{"loss": i}]) for i in range(30)])
    env = clean_environment(tmp_path / "home", KLEIO_DB_ADDRESS=address)
    read: list[str] = []
    from kleio.store.sqlite.store import SQLiteStore

    original = SQLiteStore.get_trial
    monkeypatch.setattr(
        SQLiteStore, "get_trial", lambda store, trial: read.append(trial) or original(store, trial)
    )
    extracted = SQLiteStore._extracted_fields
    monkeypatch.setattr(
        SQLiteStore,
        "_extracted_fields",
        lambda *args: pytest.fail("every trial's document read"),
    )
    shown = invoke("compare", "--sort", "loss:min", "-n", "3", "--format", "csv", env=env)
    assert shown.returncode == 0, shown.stderr
    assert len(shown.stdout.decode().splitlines()) == 1 + 3
    assert len(read) == 3
    monkeypatch.setattr(SQLiteStore, "_extracted_fields", extracted)


@settings(max_examples=25, deadline=None)
@given(trials=journals(), best=st.sampled_from([None, *SORTS]))
def test_a_studys_best_trial_by_a_statistic_is_the_general_paths(tmp_path_factory, trials, best):
    folder: Path = tmp_path_factory.mktemp("studies")
    address = str(folder / "kleio.db")
    _fill(address, trials)
    env = clean_environment(folder / "home", KLEIO_DB_ADDRESS=address, COLUMNS="200")
    argv = ["studies", "--format", "json", *([f"--best={best}"] if best else [])]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("kleio.core.model.clock.now", lambda: NOW)
        fast = invoke(*argv, env=env)
        patch.setattr(ranking, "ranked_trials", lambda *args: None)  # the general path
        slow = invoke(*argv, env=env)
    assert (fast.returncode, fast.stdout, fast.stderr) == (
        slow.returncode,
        slow.stdout,
        slow.stderr,
    )
