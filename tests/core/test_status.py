"""The status machine: every transition is a compare-and-set."""

from __future__ import annotations

import multiprocessing

import pytest

from kleio.core.model import status as st
from kleio.core.model.catalogue import TRIAL_CATALOGUE
from kleio.core.model.errors import TrialNotReservable
from kleio.core.model.trial import TrialSpec, new_trial_document
from kleio.store.sqlite import SQLiteStore

SPAWN = multiprocessing.get_context("spawn")
LEASE = 60.0


@pytest.fixture
def trial_id(store):
    document = new_trial_document(TrialSpec("p", ("python", "a.py")))
    store.create_trial(document)
    return document["_id"]


def statuses_journalled(store, trial_id):
    return [(e.data["from"], e.data["status"]) for e in store.read_events(trial_id, ["status"])]


def test_a_trial_goes_from_new_to_completed_through_reserved_and_running(store, trial_id):
    worker = st.Worker()
    document = st.reserve_trial(store, trial_id, worker, lease=LEASE)
    assert document["status"] == st.RESERVED and document["worker"]["token"] == worker.token
    st.change_status(store, trial_id, worker, st.RUNNING, previous=st.RESERVED)
    assert st.beat(store, trial_id, worker)
    st.change_status(store, trial_id, worker, st.COMPLETED, previous=st.RUNNING)
    stored = store.get_trial(trial_id)
    assert stored["status"] == st.COMPLETED and stored["worker"] is None
    assert statuses_journalled(store, trial_id) == [
        ("new", "reserved"),
        ("reserved", "running"),
        ("running", "completed"),
    ]
    assert not st.beat(store, trial_id, worker)  # released: nothing to renew


def test_a_completed_trial_is_not_reserved_again(store, trial_id):
    worker = st.Worker()
    st.reserve_trial(store, trial_id, worker, lease=LEASE)
    st.change_status(store, trial_id, worker, st.RUNNING, previous=st.RESERVED)
    st.change_status(store, trial_id, worker, st.COMPLETED, previous=st.RUNNING)
    with pytest.raises(TrialNotReservable, match="already completed") as raised:
        st.reserve_trial(store, trial_id, st.Worker(), lease=LEASE)
    assert raised.value.status == st.COMPLETED


def test_a_held_trial_names_its_holder(store, trial_id):
    holder = st.Worker(host="node7", pid=4242)
    st.reserve_trial(store, trial_id, holder, lease=LEASE)
    with pytest.raises(TrialNotReservable) as raised:
        st.reserve_trial(store, trial_id, st.Worker(), lease=LEASE)
    assert "host node7" in str(raised.value) and "pid 4242" in str(raised.value)


def test_a_trial_whose_heartbeat_expired_is_lost_and_can_be_taken_over(store, trial_id):
    old = st.Worker(host="dead")
    st.reserve_trial(store, trial_id, old, lease=LEASE)
    st.change_status(store, trial_id, old, st.RUNNING, previous=st.RESERVED)
    document = store.get_trial(trial_id)
    assert st.observed_status(document, LEASE) == st.RUNNING
    assert st.observed_status(document, LEASE, now=document["heartbeat"] + LEASE + 1) == st.LOST
    store.update_trial(trial_id, {"heartbeat": document["heartbeat"] - LEASE - 1})

    new = st.Worker(host="alive")
    st.reserve_trial(store, trial_id, new, lease=LEASE)
    assert store.get_trial(trial_id)["worker"]["host"] == "alive"
    # The old holder finds its lease taken: its heartbeat and transitions fail.
    assert not st.beat(store, trial_id, old)
    with pytest.raises(st.LeaseLost):
        st.change_status(store, trial_id, old, st.COMPLETED, previous=st.RUNNING)


def test_a_broken_trial_needs_a_switchover(store, trial_id):
    worker = st.Worker()
    st.reserve_trial(store, trial_id, worker, lease=LEASE)
    st.change_status(store, trial_id, worker, st.RUNNING, previous=st.RESERVED)
    st.change_status(store, trial_id, worker, st.BROKEN, previous=st.RUNNING, exit_code=1)
    assert store.get_trial(trial_id)["exit_code"] == 1
    with pytest.raises(TrialNotReservable, match="kleio switchover"):
        st.reserve_trial(store, trial_id, st.Worker(), lease=LEASE)
    st.switch_over(store, trial_id)
    st.reserve_trial(store, trial_id, st.Worker(), lease=LEASE)
    assert store.get_trial(trial_id)["switchover"] is False  # used once


def test_a_broken_trial_may_be_reserved_when_allowed(store, trial_id):
    worker = st.Worker()
    st.reserve_trial(store, trial_id, worker, lease=LEASE)
    st.change_status(store, trial_id, worker, st.BROKEN, previous=st.RESERVED)
    st.reserve_trial(store, trial_id, st.Worker(), lease=LEASE, allow_broken=True)


def test_an_interrupted_trial_is_reservable(store, trial_id):
    worker = st.Worker()
    st.reserve_trial(store, trial_id, worker, lease=LEASE)
    st.change_status(store, trial_id, worker, st.RUNNING, previous=st.RESERVED)
    st.change_status(store, trial_id, worker, st.INTERRUPTED, previous=st.RUNNING)
    st.reserve_trial(store, trial_id, st.Worker(), lease=LEASE)


def test_impossible_transitions_are_refused(store, trial_id):
    worker = st.Worker()
    with pytest.raises(ValueError):
        st.change_status(store, trial_id, worker, st.COMPLETED, previous=st.NEW)
    with pytest.raises(st.LeaseLost):  # not held by this worker
        st.change_status(store, trial_id, worker, st.RUNNING, previous=st.RESERVED)


def test_switching_over_a_trial_that_is_not_broken_is_an_error(store, trial_id):
    with pytest.raises(st.KleioError, match="not broken"):
        st.switch_over(store, trial_id)


def _reserve(path: str, trial_id: str, go, results) -> None:
    from kleio.core.model.errors import TrialNotReservable
    from kleio.core.model.status import Worker, reserve_trial

    store = SQLiteStore(path, catalogue=TRIAL_CATALOGUE)
    store.get_trial(trial_id)
    go.wait(30)
    try:
        reserve_trial(store, trial_id, Worker(), lease=60.0)
        results.put("won")
    except TrialNotReservable as error:
        results.put(f"lost: {error}")


@pytest.mark.slow
def test_racing_processes_reserve_a_trial_once(store, trial_id):
    go, results = SPAWN.Event(), SPAWN.Queue()
    racers = [
        SPAWN.Process(target=_reserve, args=(str(store.path), trial_id, go, results))
        for _ in range(8)
    ]
    for racer in racers:
        racer.start()
    go.set()
    outcomes = [results.get(timeout=120) for _ in racers]
    for racer in racers:
        racer.join(30)
    assert outcomes.count("won") == 1
    assert all("reserved by another process" in o for o in outcomes if o != "won")
    assert statuses_journalled(store, trial_id) == [("new", "reserved")]


# -- ranks: members of one execution ---------------------------------------------------


def _join(path: str, trial_id: str, rank: int, group: str, go, results) -> None:
    from kleio.core.model.errors import TrialNotReservable
    from kleio.core.model.status import Member, Worker, join_or_reserve

    store = SQLiteStore(path, catalogue=TRIAL_CATALOGUE)
    store.get_trial(trial_id)
    go.wait(30)
    try:
        _, joined = join_or_reserve(store, trial_id, Worker(), Member(rank, 4, group), lease=60.0)
        results.put((group, rank, "joined" if joined else "reserved"))
    except TrialNotReservable as error:
        results.put((group, rank, f"refused: {error}"))


@pytest.mark.slow
def test_of_two_launches_racing_for_a_trial_one_reserves_and_its_ranks_join(store, trial_id):
    """Four ranks of launch a and four of launch b start at once: one launch holds the
    trial with its four ranks as members, every rank of the other is refused."""
    go, results = SPAWN.Event(), SPAWN.Queue()
    racers = [
        SPAWN.Process(target=_join, args=(str(store.path), trial_id, rank, group, go, results))
        for group in ("a", "b")
        for rank in range(4)
    ]
    for racer in racers:
        racer.start()
    go.set()
    outcomes = [results.get(timeout=120) for _ in racers]
    for racer in racers:
        racer.join(30)
    (winner,) = {group for group, _, outcome in outcomes if outcome == "reserved"}
    mine = sorted(outcome for group, _, outcome in outcomes if group == winner)
    assert mine == ["joined"] * 3 + ["reserved"]
    others = [outcome for group, _, outcome in outcomes if group != winner]
    assert all(o.startswith("refused") and "by another process" in o for o in others), others
    document = store.get_trial(trial_id)
    assert document["group"] == winner and sorted(document["members"]) == ["0", "1", "2", "3"]
    assert statuses_journalled(store, trial_id) == [("new", "reserved")]


def test_the_last_rank_to_end_records_the_execution_end_and_a_vanished_rank_loses_it(
    store, trial_id
):
    first, second = st.Worker(), st.Worker()
    st.join_or_reserve(store, trial_id, first, st.Member(0, 2, "g"), lease=LEASE)
    _, joined = st.join_or_reserve(store, trial_id, second, st.Member(1, 2, "g"), lease=LEASE)
    assert joined
    st.change_status(store, trial_id, first, st.RUNNING, previous=st.RESERVED)
    assert st.beat_member(store, trial_id, second, 1)
    # A rank whose heartbeat stopped makes the execution lost, though another beats.
    document = store.get_trial(trial_id)
    now = document["members"]["1"]["heartbeat"] + LEASE + 1
    document["heartbeat"] = now
    assert st.observed_status(document, LEASE, now) == st.LOST
    assert st.end_member(store, trial_id, first, 0, st.COMPLETED, exit_code=0, ended=1.0) is None
    assert store.get_trial(trial_id)["status"] == st.RUNNING
    end = st.end_member(store, trial_id, second, 1, st.BROKEN, exit_code=3, ended=2.0)
    assert end == (st.BROKEN, 3, 1)
    stored = store.get_trial(trial_id)
    assert (stored["status"], stored["exit_code"], stored["worker"]) == (st.BROKEN, 3, None)
    # A later reservation of a process alone leaves no members behind.
    st.switch_over(store, trial_id)
    reserved = st.reserve_trial(store, trial_id, st.Worker(), lease=LEASE)
    assert "members" not in store.get_trial(trial_id) and "group" not in reserved
