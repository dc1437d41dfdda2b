"""Store outages, with a MongoDB wire server of the test's own, stopped and started again
on the same port with the same data.

A command that needs the database while it is down fails within 10 s with exactly one
clear line on stderr naming the address, and no traceback. A run during which the
server stops and comes back keeps all its output and statistics; one that ends while it
is down keeps its statistics on disk for ``kleio sync``. Once the server is back, the
same commands work and nothing journalled before is missing.
"""

from __future__ import annotations

import hashlib
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from kleio.core.model import status as st
from kleio.core.model.catalogue import open_journal
from kleio.core.model.printed import output_bytes
from kleio.core.running.spool import pending_spools, spool_folder
from tests.conftest import commit, write_script
from tests.faults.common import events_of, missing_or_changed, trial_id_of, wait_until
from tests.helpers import run_kleio, start_kleio, text, trial_id_in
from tests.mongo_server import WireServer

pytestmark = pytest.mark.slow  # servers stopped for longer than the writers' patience

DB_NAME = "outage"
#: A command that needs the store fails at most this long after it starts.
PROMPT = 10.0
#: Seconds the writers retry a stopped server before they spool (KLEIO_WRITE_PATIENCE),
#: instead of the default 10: what is spooled and replayed is the same, sooner.
PATIENCE = 2

QUICK = """\
import sys
from kleio.client.logger import kleio_logger as log
open("ran-" + "-".join(sys.argv[1:]), "w").close()
for i in range(5):
    print(f"quick {sys.argv[1:]} line {i}")
    log.log_statistic(i=i)
"""

STEADY = """\
import sys, time
from kleio.client.logger import kleio_logger as log
steps = int(sys.argv[sys.argv.index("--steps") + 1])
for i in range(steps):
    print(f"step {i} " + "." * 40, flush=True)
    if i % 100 == 7:
        print(f"step {i} on stderr", file=sys.stderr, flush=True)
    log.log_statistic(step=i, loss=1.0 / (i + 1))
    if i == steps // 2:
        open("halfway", "w").close()
        log.log_artifact("half", bytes(range(256)) * 4096, step=i)
    time.sleep(0.01)
print("done")
"""

BIG = """\
import sys
out = sys.stdout.buffer
for i in range(400_000):
    out.write(b"line %07d " % i + b"x" * 88 + b"\\n")
"""


@pytest.fixture
def server(tmp_path):
    """A wire server of this test alone; stopped and started by the test."""
    server = WireServer(tmp_path / "outage-server")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def db_env(env, server):
    return {**env, "KLEIO_DB_ADDRESS": server.uri, "KLEIO_DB_NAME": DB_NAME}


@pytest.fixture
def order_env(db_env, server):
    """``db_env`` whose commands give up on a stopped server after 2 s, not Kleio's
    default 5 s (``serverSelectionTimeoutMS`` in the address): for the tests about what
    fails and what works once the server is back, and for runs during which it stops
    (each attempt of a writer against it fails sooner). How soon a command fails with
    the default is the first test's, and every test still checks it is within PROMPT."""
    return {**db_env, "KLEIO_DB_ADDRESS": server.uri + "?serverSelectionTimeoutMS=2000"}


def kleio_in(project: Path, env: dict, *args: str, timeout: float = 120):
    """``kleio ARGS`` to completion, and how long it took."""
    started = time.monotonic()
    result = run_kleio(*args, env=env, cwd=project, timeout=timeout)
    return result, time.monotonic() - started


def journal_of(server: WireServer) -> dict[str, dict]:
    """Every trial's events, by trial id."""
    with open_journal(server.uri, DB_NAME) as store:
        return {d["_id"]: events_of(store, d["_id"]) for d in store.find_trials(fields=["_id"])}


def wait_for_a_statistic(server: WireServer, trial_id: str) -> None:
    """Until the run has reserved its trial and journalled a statistic: the server stops
    during the run, whenever kleio gets that far (seconds on a loaded machine)."""
    with open_journal(server.uri, DB_NAME) as store:
        wait_until(
            lambda: any(store.read_events(trial_id, ["statistic"])),
            timeout=60,
            interval=0.05,
            what="a statistic journalled",
        )


def assert_nothing_missing(before: dict[str, dict], after: dict[str, dict]) -> None:
    for trial_id, events in before.items():
        assert trial_id in after, f"trial {trial_id} disappeared"
        problems = missing_or_changed(events, after[trial_id])
        assert not problems, (trial_id, problems[:10])


def assert_fails_cleanly(
    result, elapsed: float, server: WireServer, announced: bool = False
) -> None:
    """Non-zero, soon, and one line naming the address, no traceback.

    ``announced``: the trial may have been reserved (and said so) before the server
    stopped; the failure is still one line.
    """
    errors = text(result.stderr)
    lines = [line for line in errors.splitlines() if line.strip()]
    if announced and lines and re.fullmatch(r"trial reserved with id: [0-9a-f]{32}", lines[0]):
        lines = lines[1:]
    assert result.returncode != 0, errors
    assert elapsed < PROMPT, f"took {elapsed:.1f} s: {errors}"
    assert "Traceback" not in errors, errors
    assert len(lines) == 1, errors
    assert f"127.0.0.1:{server.port}" in lines[0], lines[0]
    assert lines[0].startswith("kleio: error: "), lines[0]


def completed_run(project: Path, env: dict, *command: str) -> str:
    result, _ = kleio_in(project, env, *command)
    assert result.returncode == 0, text(result.stderr)
    assert "Traceback" not in text(result.stderr), text(result.stderr)
    return trial_id_in(result.stderr)


# -- reservation -----------------------------------------------------------------------


def test_a_command_run_while_the_database_is_down_fails_at_once_and_runs_once_it_is_back(
    server, db_env, project
):
    write_script(project, "quick.py", QUICK)
    commit(project, "quick")
    first = completed_run(project, db_env, "python", "quick.py", "first")
    before = journal_of(server)

    server.stop()
    result, elapsed = kleio_in(project, db_env, "python", "quick.py", "second")
    assert_fails_cleanly(result, elapsed, server)
    assert result.stdout == b"" and not (project / "ran-second").exists()

    server.start()
    second = completed_run(project, db_env, "python", "quick.py", "second")
    assert second == trial_id_of(project, ["python", "quick.py", "second"])
    after = journal_of(server)
    assert_nothing_missing(before, after)
    assert sorted(after) == sorted([first, second])
    with open_journal(server.uri, DB_NAME) as store:
        assert store.get_trial(second)["status"] == st.COMPLETED
        assert [e.data["i"] for e in store.read_events(second, ["statistic"])] == list(range(5))


def test_the_database_stopping_as_kleio_starts_fails_the_command_cleanly(
    server, order_env, project
):
    write_script(project, "quick.py", QUICK)
    commit(project, "quick")
    first = completed_run(project, order_env, "python", "quick.py", "first")
    before = journal_of(server)

    started = time.monotonic()
    process = start_kleio(order_env, project, "python", "quick.py", "second")
    server.stop()
    out, err = process.communicate(timeout=60)
    result = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    assert_fails_cleanly(result, time.monotonic() - started, server)
    assert not (project / "ran-second").exists()

    server.start()
    second = completed_run(project, order_env, "python", "quick.py", "second")
    after = journal_of(server)
    assert_nothing_missing(before, after)
    assert sorted(after) == sorted([first, second])


def test_the_database_stopping_during_the_reservation_fails_cleanly_and_leaves_it_resumable(
    server, order_env, project
):
    """The server stops as soon as the trial document exists: kleio is about to reserve
    it (or has just done so). kleio is paused (SIGSTOP) from that moment until the server
    is down, so it cannot run ahead meanwhile."""
    env = {**order_env, "KLEIO_HEARTBEAT": "1", "KLEIO_LEASE": "3"}
    write_script(project, "quick.py", QUICK)
    commit(project, "quick")
    first = completed_run(project, env, "python", "quick.py", "first")
    before = journal_of(server)
    command = ["python", "quick.py", "second"]
    trial_id = trial_id_of(project, command)
    started = time.monotonic()
    process = start_kleio(env, project, *command)
    with open_journal(server.uri, DB_NAME) as store:
        try:
            wait_until(
                lambda: store.get_trial(trial_id), timeout=60, interval=0.0005, what="the trial"
            )
            process.send_signal(signal.SIGSTOP)
            frozen = store.get_trial(trial_id)["status"]
            server.stop()
        finally:
            process.send_signal(signal.SIGCONT)
    assert frozen in (st.NEW, st.RESERVED), f"kleio was already {frozen}"
    out, err = process.communicate(timeout=60)
    result = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    assert_fails_cleanly(result, time.monotonic() - started, server, announced=True)
    assert out == b"" and not (project / "ran-second").exists()

    server.start()
    with open_journal(server.uri, DB_NAME) as store:
        left = store.get_trial(trial_id)
        assert st.observed_status(left, 3) in (st.NEW, st.RESERVED, st.LOST), left["status"]
    deadline = time.monotonic() + 30
    while True:  # a trial left reserved is resumed once its lease expires
        again, _ = kleio_in(project, env, *command)
        if again.returncode == 0 or time.monotonic() > deadline:
            break
        assert "by another process" in text(again.stderr), text(again.stderr)
        time.sleep(1)
    assert again.returncode == 0, text(again.stderr)
    assert trial_id_in(again.stderr) == trial_id
    assert "Traceback" not in text(again.stderr)
    after = journal_of(server)
    assert_nothing_missing(before, after)
    assert sorted(after) == sorted([first, trial_id])
    with open_journal(server.uri, DB_NAME) as store:
        assert store.get_trial(trial_id)["status"] == st.COMPLETED


# -- a run -----------------------------------------------------------------------------


def test_a_run_keeps_all_its_output_statistics_and_artifacts_when_the_server_stops_and_restarts(
    server, order_env, project, home
):
    # Attempts of 2 s (not 5) and a patience of 2 s (not 10): the artifact logged halfway
    # is kept on disk 4 s after the script logged it, not 10 (a run of 23 s became 17).
    env = {**order_env, "KLEIO_HEARTBEAT": "1", "KLEIO_LEASE": "60"}
    env["KLEIO_WRITE_PATIENCE"] = str(PATIENCE)
    steps = 1000
    write_script(project, "steady.py", STEADY)
    commit(project, "steady")
    earlier = completed_run(project, env, "python", "steady.py", "--steps", "20")
    before = journal_of(server)

    command = ["python", "steady.py", "--steps", str(steps)]
    process = start_kleio(env, project, *command)
    try:
        wait_for_a_statistic(server, trial_id_of(project, command))
        server.stop()
        # Longer than the writers' patience: output and statistics go to the spool, and
        # the artifact logged halfway is kept on disk. The server is back
        # before the script ends: what the script kept, it uploads itself, and says nothing.
        wait_until(lambda: (project / "halfway").exists(), timeout=60, what="halfway")
        wait_until(
            lambda: list(spool_folder(home).glob("*.artifact")), timeout=60, what="a kept artifact"
        )
        server.start()
        out, err = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
    errors = text(err)
    assert process.returncode == 0, errors
    assert "Traceback" not in errors, errors
    expected = "".join(f"step {i} " + "." * 40 + "\n" for i in range(steps)) + "done\n"
    assert text(out) == expected
    trial_id = trial_id_in(err)

    with open_journal(server.uri, DB_NAME) as store:
        document = store.get_trial(trial_id)
        assert document["status"] == st.COMPLETED, (document["status"], errors)
        journalled = b"".join(output_bytes(e.data) for e in store.read_events(trial_id, ["stdout"]))
        assert journalled == out
        stderr = b"".join(output_bytes(e.data) for e in store.read_events(trial_id, ["stderr"]))
        assert text(stderr) == "".join(
            f"step {i} on stderr\n" for i in range(steps) if i % 100 == 7
        )
        statistics = [e.data["step"] for e in store.read_events(trial_id, ["statistic"])]
        assert statistics == list(range(steps))
        artifacts = [e.data for e in store.read_events(trial_id, ["artifact"])]
        assert [a["attributes"] for a in artifacts] == [{"step": steps // 2}], artifacts
        (blob,) = store.find_blobs({"trial": trial_id, "filename": "half"})
        content = b"".join(store.read_blob(blob.id))
        assert content == bytes(range(256)) * 4096
        assert hashlib.sha256(content).hexdigest() == artifacts[0]["sha256"]
    assert pending_spools(spool_folder(home)) == [], "spooled events were never uploaded"
    after = journal_of(server)
    assert_nothing_missing(before, after)
    assert earlier in after


UNTIL_TOLD = """\
import os, time
from kleio.client.logger import kleio_logger as log
i = 0
while not os.path.exists("stop"):
    print(f"line {i}", flush=True)
    log.log_statistic(i=i)
    i += 1
    time.sleep(0.02)
print("stopped at", i)
"""


def spooled_kinds(home: Path) -> set[str]:
    from kleio.core.running.spool import read_spool

    folder = spool_folder(home)
    return {
        event.kind for path in pending_spools(folder) if path.suffix == ".jsonl"
        for event in read_spool(path)
    }  # fmt: skip


def test_the_writers_spool_after_the_patience_they_are_given_and_replay_when_the_server_is_back(
    server, db_env, project, home
):
    """KLEIO_WRITE_PATIENCE=3: the script's statistics and kleio's copy of its output are
    spooled no sooner than 3 s after the server stopped, and well before the default 10 s."""
    patience = 3
    env = {**db_env, "KLEIO_HEARTBEAT": "1", "KLEIO_LEASE": "60"}
    env["KLEIO_WRITE_PATIENCE"] = str(patience)
    write_script(project, "until_told.py", UNTIL_TOLD)
    commit(project, "until told")
    command = ["python", "until_told.py"]
    process = start_kleio(env, project, *command)
    try:
        wait_for_a_statistic(server, trial_id_of(project, command))
        server.stop()
        stopped = time.monotonic()
        wait_until(
            lambda: spooled_kinds(home) >= {"statistic", "stdout"},
            timeout=60,
            interval=0.05,
            what="statistics and output spooled",
        )
        waited = time.monotonic() - stopped
        (project / "stop").touch()
        server.start()
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    errors = text(err)
    assert patience <= waited < 9, f"spooled {waited:.1f} s after the server stopped"
    assert process.returncode == 0, errors
    assert "Traceback" not in errors, errors
    count = int(text(out).splitlines()[-1].split()[-1])
    with open_journal(server.uri, DB_NAME) as store:
        trial_id = trial_id_in(err)
        assert store.get_trial(trial_id)["status"] == st.COMPLETED
        statistics = [e.data["i"] for e in store.read_events(trial_id, ["statistic"])]
        assert statistics == list(range(count))
        journalled = b"".join(output_bytes(e.data) for e in store.read_events(trial_id, ["stdout"]))
        assert journalled == out
    assert pending_spools(spool_folder(home)) == [], "spooled events were never uploaded"


COUNTED = """\
import sys, time
from kleio.client.logger import kleio_logger as log
count = int(sys.argv[1])
for i in range(count):
    log.log_statistic(i=i)
    time.sleep(0.01)
print("logged", count)
"""


def test_statistics_kept_while_the_database_is_down_are_uploaded_once_by_sync(
    server, order_env, project
):
    # Every step of the end of the run (the logger's last writes, kleio's replay of the
    # spool, its end and final status) waits for the stopped server: 2 s each, not 5, and
    # the writers' patience is 2 s, not 10. 36 s of waiting became 21.
    env = {**order_env, "KLEIO_HEARTBEAT": "1", "KLEIO_LEASE": "4"}
    env["KLEIO_WRITE_PATIENCE"] = str(PATIENCE)
    write_script(project, "counted.py", COUNTED)
    process = start_kleio(env, project, "python", "counted.py", "300")
    wait_for_a_statistic(server, trial_id_of(project, ["python", "counted.py", "300"]))
    server.stop()
    process.wait(180)
    errors = text(process.stderr.read())
    assert "kleio sync" in errors and "Traceback" not in errors
    spool = Path(env["KLEIO_HOME"]) / "spool"
    assert any(spool.iterdir())

    server.start()
    synced = run_kleio("sync", env=env)
    assert synced.returncode == 0, text(synced.stderr)
    assert "uploaded" in text(synced.stderr)
    again = run_kleio("sync", env=env)
    assert again.returncode == 0 and "nothing to upload" in text(again.stderr)
    with open_journal(server.uri, DB_NAME) as store:
        (trial,) = store.find_trials()
        assert [e.data["i"] for e in store.read_events(trial["_id"], ["statistic"])] == list(
            range(300)
        )


# -- reading ---------------------------------------------------------------------------


def test_ls_cat_and_info_fail_cleanly_while_the_database_is_down_and_work_once_it_is_back(
    server, order_env, project
):
    write_script(project, "quick.py", QUICK)
    commit(project, "quick")
    trial_id = completed_run(project, order_env, "python", "quick.py", "first")
    reads = [("ls",), ("cat", trial_id[:8]), ("info", trial_id[:8])]
    answers = {}
    for args in reads:
        result, _ = kleio_in(project, order_env, *args)
        assert result.returncode == 0, text(result.stderr)
        answers[args] = result.stdout
    before = journal_of(server)

    server.stop()
    started = time.monotonic()
    running = {args: start_kleio(order_env, project, *args) for args in reads}
    for process in running.values():
        out, err = process.communicate(timeout=60)
        result = subprocess.CompletedProcess(process.args, process.returncode, out, err)
        assert_fails_cleanly(result, time.monotonic() - started, server)

    server.start()
    for args in reads:
        result, _ = kleio_in(project, order_env, *args)
        assert result.returncode == 0, text(result.stderr)
        if args[0] == "info":  # the run time and such are the same; times may be printed
            assert trial_id in text(result.stdout)
        else:
            assert result.stdout == answers[args]
    assert_nothing_missing(before, journal_of(server))


def test_cat_cut_off_by_the_server_stopping_fails_cleanly_and_works_once_it_is_back(
    server, order_env, project, tmp_path
):
    write_script(project, "big.py", BIG)
    commit(project, "big")
    result, _ = kleio_in(project, order_env, "run", "--capture", "python", "big.py")
    assert result.returncode == 0, text(result.stderr)
    trial_id = trial_id_in(result.stderr)
    complete = run_kleio("cat", trial_id, env=order_env, cwd=project).stdout
    assert len(complete) == 400_000 * 102
    before = journal_of(server)

    sink = tmp_path / "cat.out"
    with open(sink, "wb") as out:
        started = time.monotonic()
        process = start_kleio(order_env, project, "cat", trial_id, stdout=out)
        wait_until(
            lambda: sink.stat().st_size > 1_000_000 or process.poll() is not None,
            timeout=60,
            interval=0.002,
            what="cat to print",
        )
        server.stop()
        _, err = process.communicate(timeout=60)
    result = subprocess.CompletedProcess(process.args, process.returncode, b"", err)
    printed = sink.read_bytes()
    assert len(printed) < len(complete), "cat finished before the server stopped"
    assert_fails_cleanly(result, time.monotonic() - started, server)
    assert complete.startswith(printed)  # what it printed was right, up to where it stopped

    server.start()
    again, _ = kleio_in(project, order_env, "cat", trial_id)
    assert again.returncode == 0, text(again.stderr)
    assert again.stdout == complete
    assert_nothing_missing(before, journal_of(server))
