"""kleio_logger called from a script's corners: signal handlers that interrupt the logger,
and exit functions that run after it closed. Everything is journalled, once; nothing
hangs."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from kleio.core.model.catalogue import open_journal
from tests.conftest import write_script
from tests.helpers import text, trial_id_in
from tests.mongo_server import unique_database_name

#: Logs far more than the loop may be ahead of the database (100,000) while a second
#: connection holds the journal's write lock for four seconds, so the loop waits for
#: the writer; a timer's handler logs every millisecond meanwhile, once an artifact, and
#: once, in the wait, asks for what cannot be had without waiting: a flush and a load.
#: The thread that lets the lock go blocks the timer's signal, so the kernel gives each
#: one to the main thread, in the middle of its wait.
HANDLER_DURING_THE_WAIT = """\
import itertools, json, os, signal, sqlite3, sys, threading, time
from kleio.client.logger import kleio_logger as log

log.log_statistic(phase="start")
log.flush()
locker = sqlite3.connect(os.environ["KLEIO_DB_ADDRESS"], isolation_level=None,
                         check_same_thread=False)
locker.execute("BEGIN IMMEDIATE")

def unlock_later():
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    time.sleep(4)
    locker.execute("COMMIT")

threading.Thread(target=unlock_later).start()

tick_numbers = itertools.count(1)  # one number each, even for a handler in a handler
interrupted = 0
longest = 0.0  # the longest call of a handler that interrupted the loop's wait
asked = None

def in_the_wait(frame):
    while frame is not None:
        if frame.f_code.co_name == "wait_below":  # the logger's back-pressure wait
            return True
        frame = frame.f_back
    return False

def on_alarm(signum, frame):
    global interrupted, longest, asked
    tick = next(tick_numbers)
    started = time.monotonic()
    log.log_statistic(tick=tick)
    if tick == 1000:
        log.log_artifact("snapshot", b"at tick 1000", tick=tick)
    if in_the_wait(frame):
        if asked is None and tick >= 1000:
            asked = {"flushed": log.flush()}
            try:
                log.load_statistics()
            except RuntimeError as error:
                asked["refused"] = str(error)
        interrupted += 1
        longest = max(longest, time.monotonic() - started)

signal.signal(signal.SIGALRM, on_alarm)
signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
for step in range(300_000):
    log.log_statistic(step=step)
signal.setitimer(signal.ITIMER_REAL, 0, 0)
with open("seen.json", "w") as seen:
    json.dump({"ticks": next(tick_numbers) - 1, "interrupted": interrupted, "longest": longest,
               "asked": asked, "flushed": log.flush()}, seen)
"""


def statistics_in(store, trial_id: str) -> list[dict]:
    return [event.data for event in store.read_events(trial_id, ["statistic"])]


def artifacts_in(store, trial_id: str) -> list[tuple[str, dict]]:
    return [
        (event.data["filename"], event.data["attributes"])
        for event in store.read_events(trial_id, ["artifact"])
    ]


@pytest.mark.slow
def test_a_handler_logging_while_the_loop_waits_for_the_database_never_waits_in_it(
    kleio, project, journal
):
    write_script(project, "waits.py", HANDLER_DURING_THE_WAIT)
    result = kleio("python", "waits.py", timeout=240)
    errors = text(result.stderr)
    assert result.returncode == 0, errors
    assert "Traceback" not in errors and "RecursionError" not in errors
    seen = json.loads((project / "seen.json").read_text())
    assert seen["ticks"] >= 1000 and seen["interrupted"] >= 100, seen  # through the wait
    # The handler's calls queued and returned: they never waited in the wait they
    # interrupted (each such wait nested in the last, until RecursionError). A flush
    # said at once that not everything was written; a load was refused, and said why.
    assert seen["longest"] < 1.0, seen
    assert seen["asked"]["flushed"] is False
    refusal = seen["asked"]["refused"]
    assert "load_statistics() cannot run in a signal handler" in refusal, refusal
    assert seen["flushed"] is True
    statistics = statistics_in(journal, trial_id_in(result.stderr))
    assert [s["step"] for s in statistics if "step" in s] == list(range(300_000))
    ticks = Counter(s["tick"] for s in statistics if "tick" in s)
    assert sorted(ticks) == list(range(1, seen["ticks"] + 1))  # every one, in order
    assert set(ticks.values()) == {1}  # and once
    assert artifacts_in(journal, trial_id_in(result.stderr)) == [("snapshot", {"tick": 1000})]


#: An exit function registered before the logger starts runs after the logger's own
#: (atexit calls them last registered, first called): the logger is closed by then.
AFTER_THE_CLOSE = """\
import atexit, json
from kleio.client.logger import kleio_logger as log

def at_the_end():
    log.log_statistic(phase="exit", step=3)
    log.log_artifact("final", b"weights", step=3)
    flushed = log.flush()
    with open("exit.json", "w") as seen:
        json.dump({"flushed": flushed, "loaded": len(log.load_statistics())}, seen)

atexit.register(at_the_end)
for step in range(3):
    log.log_statistic(phase="loop", step=step)
"""


@pytest.fixture(params=["sqlite", "wire"])
def backend(request, home):
    """``(extra environment, open the journal)`` for SQLite, or the wire backend."""
    if request.param == "sqlite":
        yield {}, lambda: open_journal(str(home / "kleio.db"))
        return
    server = request.getfixturevalue("wire_server")
    name = unique_database_name()
    yield (
        {"KLEIO_DB_ADDRESS": server.uri, "KLEIO_DB_NAME": name},
        lambda: open_journal(server.uri, name),
    )
    with open_journal(server.uri, name) as store:
        store._db.client.drop_database(name)


def test_what_an_exit_function_logs_after_the_loggers_close_is_journalled(kleio, project, backend):
    environment, journal = backend
    write_script(project, "late.py", AFTER_THE_CLOSE)
    result = kleio("python", "late.py", **environment)
    errors = text(result.stderr)
    assert result.returncode == 0, errors
    assert "Traceback" not in errors and "not journalled" not in errors
    trial_id = trial_id_in(result.stderr)
    with journal() as store:
        assert statistics_in(store, trial_id) == [
            *({"phase": "loop", "step": step} for step in range(3)),
            {"phase": "exit", "step": 3},
        ]
        assert artifacts_in(store, trial_id) == [("final", {"step": 3})]
        assert store.get_trial(trial_id)["status"] == "completed"
    assert json.loads((project / "exit.json").read_text()) == {"flushed": True, "loaded": 4}


#: A script whose only statistics come from exit functions: the logger starts when the
#: interpreter is already leaving, when no exit handler of its own would run any more.
FIRST_USE_AT_EXIT = """\
import atexit
from kleio.client.logger import kleio_logger as log

def at_the_end():
    for step in range(5):
        log.log_statistic(step=step)

atexit.register(at_the_end)
"""


def test_a_logger_first_used_by_an_exit_function_journals_what_it_logs(kleio, project, journal):
    write_script(project, "first.py", FIRST_USE_AT_EXIT)
    result = kleio("python", "first.py")
    errors = text(result.stderr)
    assert result.returncode == 0, errors
    assert "Traceback" not in errors
    statistics = statistics_in(journal, trial_id_in(result.stderr))
    assert statistics == [{"step": step} for step in range(5)]


#: A child's finalizer of lower priority than the logger's own (100) runs after it.
AFTER_A_CHILDS_CLOSE = """\
import multiprocessing
from multiprocessing import util
from kleio.client.logger import kleio_logger as log

def last_words(n):
    log.log_statistic(finalizer=n)

def work(n):
    log.log_statistic(task=n)
    util.Finalize(None, last_words, args=(n,), exitpriority=10)

if __name__ == "__main__":
    children = [multiprocessing.get_context("fork").Process(target=work, args=(n,))
                for n in range(3)]
    for child in children:
        child.start()
    for child in children:
        child.join()
"""


def test_what_a_childs_finalizer_logs_after_the_loggers_close_is_journalled(
    kleio, project, journal
):
    write_script(project, "children.py", AFTER_A_CHILDS_CLOSE)
    result = kleio("python", "children.py")
    assert result.returncode == 0, text(result.stderr)
    statistics = statistics_in(journal, trial_id_in(result.stderr))
    assert sorted(map(json.dumps, statistics)) == sorted(
        json.dumps({kind: n}) for kind in ("task", "finalizer") for n in range(3)
    )
