"""Processes that outlive what they belong to: a script that outlives its ``kleio``, and
processes a script leaves behind.

An orphan: ``kleio`` is killed with -9 while its script, which ignores SIGTERM (as a
training loop that checkpoints does), keeps logging. The script must be stopped before
its lease lets another ``kleio`` resume the trial, and even if nothing stops it (its
watcher killed too), its logger must stop writing into the trial by then: every step is
in the journal exactly once, from one execution.

Left behind: a script that starts a background process and exits is done. ``kleio``
does not wait for the background process, records the script's own run time and exit
status, stops what the script left in its process group (SIGTERM, SIGKILL after the
grace period) and says so.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from kleio.core.model import status as st
from kleio.core.model.catalogue import TRIAL_CATALOGUE
from kleio.core.running.spool import pending_spools, spool_folder
from kleio.store.sqlite import SQLiteStore
from tests.conftest import commit, write_script
from tests.faults.common import Ending, children_of, process_alive, trial_id_of, wait_until
from tests.helpers import run_kleio, start_kleio, text

pytestmark = pytest.mark.slow  # scripts outliving kleio, killed with it

#: A grace period of 3.5 s (half the lease and half a second): a script whose kleio
#: died is gone two seconds before anyone may take its trial (a second and a half after
#: a beat at worst), a margin the test keeps on a loaded machine.
HEARTBEAT, LEASE = 0.5, 6
STEPS = 300

STUBBORN = f"""\
import os, signal, sys, time
from pathlib import Path
from kleio.client.logger import kleio_logger as log

signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a loop that would rather checkpoint
execution = int(os.environ["KLEIO_EXECUTION"])
steps = [s["step"] for s in log.load_statistics()]
start = max(steps) + 1 if steps else 0
Path(f"pid-{{execution}}").write_text(str(os.getpid()))
after_the_end = 0
for step in range(start, {STEPS}):
    log.log_statistic(step=step, execution=execution)
    if step == 10 and execution == 1:
        Path("at-step-10").touch()
    if execution == 1 and Path("end-2").exists():  # resumed and ended: a few steps more
        after_the_end += 1
        if after_the_end == 10:
            break
    time.sleep(0.05 if execution == 1 else 0)
Path(f"end-{{execution}}").touch()
"""


def watcher_of(kleio_pid: int) -> int | None:
    """The process ``kleio`` started to stop its script's group should it die."""
    for pid in children_of(kleio_pid):
        try:
            arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"-I" in arguments and b"-S" in arguments:
            return pid
    return None


@pytest.fixture
def stubborn(project, env):
    write_script(project, "stubborn.py", STUBBORN)
    (project / ".gitignore").write_text("pid-*\nat-step-*\nend-*\n")
    commit(project, "stubborn")
    return {**env, "KLEIO_HEARTBEAT": str(HEARTBEAT), "KLEIO_LEASE": str(LEASE)}


@pytest.mark.parametrize("watcher", ["watched", "watcher-killed-too"])
@pytest.mark.parametrize("attempt", range(3))
def test_a_script_that_outlives_its_kleio_never_writes_beside_the_resumed_execution(
    stubborn, project, home, watcher, attempt
):
    env = stubborn
    argv = ["python", "stubborn.py", "--attempt", str(attempt), "--watcher", watcher]
    trial_id = trial_id_of(project, argv)
    store = SQLiteStore(home / "kleio.db", catalogue=TRIAL_CATALOGUE)
    first = start_kleio(env, project, *argv)
    orphan = None
    try:
        wait_until(lambda: (project / "at-step-10").exists(), timeout=60, what="step 10")
        orphan = int((project / "pid-1").read_text())
        ending = Ending(orphan)
        if watcher == "watcher-killed-too" and watcher_of(first.pid) is not None:
            os.kill(watcher_of(first.pid), signal.SIGKILL)
        first.kill()
        killed_at = time.time()
        first.communicate(timeout=30)
        last_beat = store.get_trial(trial_id)["heartbeat"]

        if watcher == "watched":
            # Stopped (SIGKILL after the grace period) before anyone may take the trial.
            stopped_at = ending.wait(timeout=LEASE + 5, what="the orphan")
            assert stopped_at <= last_beat + LEASE, (
                f"the orphan ran {stopped_at - last_beat - LEASE:.2f} s into the time another "
                f"kleio may take its trial (killed {killed_at - last_beat:.2f} s after a beat)"
            )
        wait_until(
            lambda: st.observed_status(store.get_trial(trial_id), LEASE) == st.LOST,
            timeout=LEASE + HEARTBEAT + 10,
            interval=0.1,
            what="the lease to expire",
        )
        if watcher == "watcher-killed-too":
            assert process_alive(orphan), "the orphan should still run: nothing stopped it"

        resumed = run_kleio(*argv, env=env, cwd=project)
        assert resumed.returncode == 0, text(resumed.stderr)
        # The orphan, if alive, logs on until ten steps after the resumed execution
        # ended (or its last step): let it try to the end.
        ending.wait(timeout=30, what="the orphan's end")
    finally:
        if first.poll() is None:
            first.kill()
        if orphan is not None and process_alive(orphan):
            os.kill(orphan, signal.SIGKILL)

    statistics = [event.data for event in store.read_events(trial_id, ["statistic"])]
    twice = sorted(
        step for step, count in Counter(s["step"] for s in statistics).items() if count > 1
    )
    assert not twice, f"steps journalled twice: {twice}"
    assert sorted(s["step"] for s in statistics) == list(range(STEPS))
    executions = [s["execution"] for s in statistics]  # in journal (time) order
    assert executions == sorted(executions), "the two executions' steps interleave"
    assert set(executions) == {1, 2}
    assert store.get_trial(trial_id)["status"] == st.COMPLETED
    # Nothing the orphan logged waits on disk for `kleio sync` to add later.
    assert pending_spools(spool_folder(home), trial_id) == []
    store.close()


LEAVER = """\
import subprocess, sys
from pathlib import Path
kind = sys.argv[sys.argv.index("--leave") + 1]
if kind == "sleeper":
    child = subprocess.Popen(["sleep", "30"])
elif kind == "stubborn":
    child = subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 30; echo late"])
else:  # detached: in a session of its own, still holding the output
    child = subprocess.Popen(["sleep", "30"], start_new_session=True)
Path(f"left-{kind}").write_text(str(child.pid))
print("left", kind, "behind", flush=True)
"""


@pytest.fixture
def leaver(project, env):
    write_script(project, "leaver.py", LEAVER)
    (project / ".gitignore").write_text("left-*\n")
    commit(project, "leaver")
    # A grace period of 1 s: half the lease and half a second.
    return {**env, "KLEIO_HEARTBEAT": "0.5", "KLEIO_LEASE": "1"}


def run_leaver(project: Path, env: dict, kind: str, attempt: int, during=None):
    argv = ["python", "leaver.py", "--leave", kind, "--attempt", str(attempt)]
    started = time.monotonic()
    process = start_kleio(env, project, *argv)
    if during is not None:
        during(process)
    out, err = process.communicate(timeout=60)
    elapsed = time.monotonic() - started
    left = int((project / f"left-{kind}").read_text())
    return process.returncode, text(out), text(err), elapsed, left, trial_id_of(project, argv)


@pytest.mark.parametrize("attempt", range(3))
def test_processes_a_script_leaves_behind_are_stopped_and_do_not_hold_kleio(
    leaver, project, journal, attempt
):
    code, out, err, elapsed, left, trial_id = run_leaver(project, leaver, "sleeper", attempt)
    assert code == 0, err
    assert elapsed < 10, f"kleio waited {elapsed:.1f} s for a process the script left"
    assert "left sleeper behind" in out
    assert "the script left 1 process running in its process group: stopped (SIGTERM)" in err
    assert "Traceback" not in err
    wait_until(lambda: not process_alive(left), timeout=5, what="the sleep to be stopped")
    document = journal.get_trial(trial_id)
    assert document["status"] == st.COMPLETED
    assert document["run_time"] < 5, document["run_time"]
    [end] = [
        e.data for e in journal.read_events(trial_id, ["execution"]) if e.data["phase"] == "end"
    ]
    assert end["left_behind"] == 1 and end["status"] == st.COMPLETED


@pytest.mark.parametrize("attempt", range(3))
def test_a_sigterm_while_kleio_stops_what_the_script_left_keeps_the_trial_completed(
    leaver, project, journal, attempt
):
    def terminate_during_the_grace_period(process: subprocess.Popen) -> None:
        marker = project / "left-stubborn"
        wait_until(marker.exists, timeout=30, what="the script to leave its process")
        time.sleep(0.3)  # the script has exited; kleio waits for the leftover to stop
        process.send_signal(signal.SIGTERM)

    code, out, err, elapsed, left, trial_id = run_leaver(
        project, leaver, "stubborn", attempt, during=terminate_during_the_grace_period
    )
    assert code == 0, err
    assert elapsed < 10, elapsed
    assert "stopped (SIGKILL after 1 s)" in err, err
    assert "interrupted" not in err
    wait_until(lambda: not process_alive(left), timeout=5, what="the leftover to be killed")
    document = journal.get_trial(trial_id)
    assert document["status"] == st.COMPLETED
    assert document["exit_code"] == 0
    stdout = "".join(e.data.get("text", "") for e in journal.read_events(trial_id, ["stdout"]))
    assert "late" not in stdout


def test_kleio_stops_reading_output_held_by_a_process_outside_the_group(leaver, project, journal):
    code, out, err, elapsed, left, trial_id = run_leaver(project, leaver, "detached", 0)
    try:
        assert code == 0, err
        assert elapsed < 10, elapsed
        assert "outside the script's process group still hold its output" in err
        assert process_alive(left), "a process in a session of its own is not kleio's to stop"
        assert journal.get_trial(trial_id)["status"] == st.COMPLETED
    finally:
        if process_alive(left):
            os.kill(left, signal.SIGKILL)
