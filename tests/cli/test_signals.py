"""Signals sent to kleio while its script runs: they reach the script, kleio survives them,
and the trial's status says what the script did with them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from kleio.core.running.signals import ANSWER_WINDOW, Delivery, Forwarder, Terminal, disposition
from tests.conftest import write_script
from tests.helpers import start_kleio, text, trial_id_in, wait_for

STOPPING = [
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGQUIT,
]

CHECKPOINTS = """\
import os, signal, sys, time
from kleio.client.logger import kleio_logger as log
if os.path.exists("checkpoint"):
    log.log_statistic(resumed=1)
    print("resumed from", open("checkpoint").read())
    sys.exit(0)
asked = []
signal.signal(signal.Signals[sys.argv[1]], lambda signum, frame: asked.append(signum))
open("ready", "w").close()
for step in range(600):
    if asked:
        with open("checkpoint", "w") as out:
            out.write(str(step))
        print("checkpointed on", signal.Signals(asked[0]).name, flush=True)
        sys.exit(3)
    time.sleep(0.05)
"""


def _executions(journal, trial_id):
    ends = [
        e.data for e in journal.read_events(trial_id, ["execution"]) if e.data["phase"] == "end"
    ]
    return ends


@pytest.mark.parametrize(
    "signum",
    # SIGINT in the quick loop; every stopping signal under `slow` (each run takes 2 s).
    [STOPPING[0], *(pytest.param(signum, marks=pytest.mark.slow) for signum in STOPPING[1:])],
    ids=lambda s: signal.Signals(s).name,
)
def test_a_stopping_signal_reaches_the_script_kleio_survives_and_the_trial_resumes(
    env, project, journal, kleio, signum
):
    name = signal.Signals(signum).name
    write_script(project, "train.py", CHECKPOINTS)
    process = start_kleio(env, project, "python", "train.py", name)
    wait_for(project / "ready")
    process.send_signal(signum)
    assert process.wait(30) == 3  # kleio lived to report the script's own exit code
    out, err = process.communicate()
    assert f"checkpointed on {name}" in text(out)
    trial_id = trial_id_in(err)
    assert journal.get_trial(trial_id)["status"] == "interrupted"
    (end,) = _executions(journal, trial_id)
    assert end["signal"] == signum
    assert [(s["signal"], s["disposition"], s["effect"]) for s in end["signals"]] == [
        (name, "caught", "caught")
    ]

    info = text(kleio("info", trial_id).stdout)
    assert re.search(rf"^ +signals: +{name} \(caught\)$", info, re.M), info

    resumed = kleio("python", "train.py", name)
    assert resumed.returncode == 0, text(resumed.stderr)
    assert trial_id_in(resumed.stderr) == trial_id
    assert journal.get_trial(trial_id)["status"] == "completed"


IGNORES_TERM = """\
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
open("ready", "w").close()
time.sleep(2)
print("done")
"""


@pytest.mark.slow
def test_a_script_that_ignores_a_signal_and_finishes_is_completed(env, project, journal):
    write_script(project, "train.py", IGNORES_TERM)
    process = start_kleio(env, project, "python", "train.py")
    wait_for(project / "ready")
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    out, err = process.communicate()
    assert text(out) == "done\n"
    trial_id = trial_id_in(err)
    assert journal.get_trial(trial_id)["status"] == "completed"
    (end,) = _executions(journal, trial_id)
    assert end["signal"] is None
    assert [(s["signal"], s["effect"]) for s in end["signals"]] == [("SIGTERM", "ignored")]


PLAIN = """\
import time
open("ready", "w").close()
time.sleep(2)
print("done")
"""


def test_an_inherited_ignored_sigint_stays_ignored_and_the_trial_completes(env, project, journal):
    """A background job of a non-interactive shell: SIGINT ignored from the start."""
    write_script(project, "train.py", PLAIN)

    def ignore_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    process = start_kleio(env, project, "python", "train.py", preexec_fn=ignore_sigint)
    wait_for(project / "ready")
    process.send_signal(signal.SIGINT)
    assert process.wait(30) == 0
    out, err = process.communicate()
    assert text(out) == "done\n"
    trial_id = trial_id_in(err)
    assert journal.get_trial(trial_id)["status"] == "completed"
    (end,) = _executions(journal, trial_id)
    assert [(s["signal"], s["effect"]) for s in end["signals"]] == [("SIGINT", "ignored")]


def test_a_script_killed_by_a_signal_it_does_not_handle_is_interrupted(env, project, journal):
    write_script(project, "train.py", PLAIN)
    process = start_kleio(env, project, "python", "train.py")
    wait_for(project / "ready")
    process.send_signal(signal.SIGUSR1)
    assert process.wait(30) == 128 + signal.SIGUSR1
    trial_id = trial_id_in(process.communicate()[1])
    assert journal.get_trial(trial_id)["status"] == "interrupted"
    (end,) = _executions(journal, trial_id)
    assert [(s["signal"], s["effect"]) for s in end["signals"]] == [("SIGUSR1", "died")]


RESIZED = """\
import signal, time
seen = []
signal.signal(signal.SIGWINCH, lambda *_: seen.append(1))
open("ready", "w").close()
time.sleep(1.5)
print("resized", len(seen))
"""


def test_a_window_resize_reaches_the_script_without_interrupting_it(env, project, journal):
    write_script(project, "train.py", RESIZED)
    process = start_kleio(env, project, "python", "train.py")
    wait_for(project / "ready")
    process.send_signal(signal.SIGWINCH)
    assert process.wait(30) == 0
    out, err = process.communicate()
    assert text(out) == "resized 1\n"
    assert journal.get_trial(trial_id_in(err))["status"] == "completed"


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rpartition(")")[2].split()[0]


def _wait_state(pid: int, states: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while _state(pid) not in states:
        assert time.monotonic() < deadline, f"process {pid} is {_state(pid)}, not {states}"
        time.sleep(0.05)


COUNTING = """\
import os, time
with open("pid.tmp", "w") as out:
    out.write(str(os.getpid()))
os.replace("pid.tmp", "pid")  # whole when it appears
for step in range(40):
    time.sleep(0.05)
print("counted")
"""


@pytest.mark.slow
def test_sigtstp_suspends_kleio_and_the_script_and_sigcont_resumes_both(env, project, journal):
    write_script(project, "train.py", COUNTING)
    process = start_kleio(env, project, "python", "train.py")
    wait_for(project / "pid")
    script = int((project / "pid").read_text())
    process.send_signal(signal.SIGTSTP)
    _wait_state(script, "Tt")
    _wait_state(process.pid, "Tt")
    time.sleep(2.5)  # longer than the script's own run: it is not running
    assert process.poll() is None
    process.send_signal(signal.SIGCONT)
    assert process.wait(30) == 0
    out, err = process.communicate()
    assert text(out) == "counted\n"
    assert journal.get_trial(trial_id_in(err))["status"] == "completed"


WORKER_TRIAL = """\
import sys, time
open(f"started-{sys.argv[2]}", "w").close()
time.sleep(30)
"""


def test_a_worker_that_gets_sigterm_takes_no_new_trial(env, project, journal, kleio):
    write_script(project, "train.py", WORKER_TRIAL)
    for seed in range(3):
        assert (
            kleio("save", "--tags", "w", "python", "train.py", "--seed", str(seed)).returncode == 0
        )
    worker = start_kleio(env, project, "run", "--tags", "w")
    deadline = time.monotonic() + 30
    while not list(project.glob("started-*")):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 128 + signal.SIGTERM
    err = text(worker.communicate()[1])
    assert "stopped by SIGTERM" in err
    statuses = sorted(t["status"] for t in journal.find_trials(tags=["w"]))
    assert statuses == ["interrupted", "new", "new"]
    assert len(list(project.glob("started-*"))) == 1


# -- the rules, piece by piece ---------------------------------------------------------------


def test_dispositions_are_read_from_proc():
    pid = os.getpid()
    previous = signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    try:
        assert disposition(pid, signal.SIGUSR2) == "ignored"
        signal.signal(signal.SIGUSR2, lambda *_: None)
        assert disposition(pid, signal.SIGUSR2) == "caught"
        signal.signal(signal.SIGUSR2, signal.SIG_DFL)
        assert disposition(pid, signal.SIGUSR2) == "default"
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert disposition(2**22 + 12345, signal.SIGUSR2) == "unknown"  # no such process


ARRIVING_MEANWHILE = """\
import inspect, os, signal, subprocess, sys
from kleio.core.running.signals import Forwarder, Terminal

script = subprocess.Popen(["sleep", "30"], start_new_session=True, stdout=subprocess.DEVNULL)
forwarder = Forwarder(script.pid, Terminal())
forwarder.install()
sent, busy = [], []

def in_forward():
    frame = inspect.currentframe()
    while frame is not None:
        if frame.f_code is Forwarder._forward.__code__:
            return True
        frame = frame.f_back
    return False

def another_signal_meanwhile(event, args):
    # at the first event of each kind while a signal is being passed on (opening a
    # file, executing an imported module...), another signal arrives
    if busy or event in sent:
        return
    busy.append(event)
    try:
        inside = in_forward()
    finally:
        busy.clear()
    if inside:
        sent.append(event)
        os.kill(os.getpid(), signal.SIGUSR2)

sys.addaudithook(another_signal_meanwhile)
os.kill(os.getpid(), signal.SIGWINCH)
forwarder.restore()
script.kill()
script.wait()
print(len(sent), " ".join(d.as_data()["signal"] for d in forwarder.deliveries))
"""


def test_a_signal_that_arrives_while_another_is_passed_on_is_passed_on_too(tmp_path):
    # SLURM requeues a job with SIGCONT then SIGTERM: the second came while kleio was
    # passing on the first, in the middle of a first import, and ended kleio with a
    # LookupError, its script orphaned
    (tmp_path / "meanwhile.py").write_text(ARRIVING_MEANWHILE)
    done = subprocess.run(
        [sys.executable, "meanwhile.py"], cwd=tmp_path, capture_output=True, timeout=60
    )
    assert done.returncode == 0, text(done.stderr)
    sent, delivered = text(done.stdout).split(maxsplit=1)
    assert int(sent) >= 1
    assert delivered.split() == ["SIGUSR2"] * int(sent) + ["SIGWINCH"]


def _forwarder(*deliveries: Delivery) -> Forwarder:
    forwarder = Forwarder(0, Terminal())
    forwarder.deliveries = list(deliveries)
    return forwarder


def test_a_caught_signal_interrupts_only_a_script_that_ends_soon_after_it():
    term = signal.SIGTERM
    soon = _forwarder(Delivery(term, 100.0, "caught"))
    assert soon.interrupted_by(0, 100.0 + ANSWER_WINDOW - 1) == term
    late = _forwarder(Delivery(term, 100.0, "caught"))
    assert late.interrupted_by(0, 100.0 + ANSWER_WINDOW + 1) is None
    ignored = _forwarder(Delivery(term, 100.0, "ignored"))
    assert ignored.interrupted_by(0, 100.5) is None
    resize = _forwarder(Delivery(signal.SIGWINCH, 100.0, "caught"))
    assert resize.interrupted_by(0, 100.5) is None
    died = _forwarder(Delivery(signal.SIGUSR1, 100.0, "default"), Delivery(term, 200.0, "caught"))
    assert died.interrupted_by(-signal.SIGUSR1, 1000.0) == signal.SIGUSR1
    assert died.deliveries[0].effect == "died" and died.deliveries[1].effect == "caught"
