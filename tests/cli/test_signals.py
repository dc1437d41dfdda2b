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
from tests.helpers import KLEIO, start_kleio, text, trial_id_in, wait_for

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


#: Thirty seconds of steps, long enough for any signal to come; an execution that resumes
#: the trial takes three steps, so that resuming is shown in a second, not in thirty.
EVALUATES_ON_CTRL_C = """\
import os, sys, time
from kleio.client.logger import kleio_logger as log
open("ready", "w").close()
try:
    for step in range(600 if os.environ["KLEIO_EXECUTION"] == "1" else 3):
        log.log_statistic(step=step)
        time.sleep(0.05)
except KeyboardInterrupt:
    print("interrupted at", step, "- evaluating", flush=True)
print("done")
"""


def _ready_then(project, action) -> None:
    wait_for(project / "ready")
    action()


@pytest.mark.slow
def test_ctrl_c_in_a_terminal_interrupts_a_script_that_catches_it_and_exits_0(
    env, project, journal, kleio
):
    """The terminal sends SIGINT to the script's process group, not to kleio (which gave
    it the terminal): the PyTorch examples catch KeyboardInterrupt, evaluate and exit 0.
    The trial is interrupted, the record says the signal came to the group, and running
    the command again resumes it."""
    import pty

    write_script(project, "train.py", EVALUATES_ON_CTRL_C)
    pid, controller = pty.fork()
    if pid == 0:  # the child: a session of its own on the terminal, as a shell's job
        os.chdir(project)
        os.execve(KLEIO[0], [*KLEIO, "python", "train.py"], env)
    output = b""
    try:
        wait_for(project / "ready")
        os.write(controller, b"\x03")  # Ctrl-C
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closed: kleio has exited
                break
            if not chunk:
                break
            output += chunk
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(controller)
    said = output.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, said
    assert "evaluating" in said and "Traceback" not in said
    trial_id = trial_id_in(output)
    assert journal.get_trial(trial_id)["status"] == "interrupted", said
    (end,) = _executions(journal, trial_id)
    assert end["signal"] == signal.SIGINT
    assert [(s["signal"], s["to"], s["disposition"]) for s in end["signals"]] == [
        ("SIGINT", "group", "caught")
    ]
    assert f"trial {trial_id[:7]} interrupted" in said
    resumed = kleio("python", "train.py")
    assert trial_id_in(resumed.stderr) == trial_id, text(resumed.stderr)
    assert resumed.returncode == 0 and "done" in text(resumed.stdout), text(resumed.stderr)
    assert journal.get_trial(trial_id)["status"] == "completed"


def test_a_signal_sent_to_the_scripts_group_alone_is_recorded_as_sent_there(env, project, journal):
    write_script(project, "train.py", EVALUATES_ON_CTRL_C)
    process = start_kleio(env, project, "python", "train.py")
    wait_for(project / "ready")
    script = int(
        subprocess.run(
            ["pgrep", "-P", str(process.pid), "-f", "train.py"], capture_output=True, text=True
        ).stdout.split()[0]
    )
    os.killpg(os.getpgid(script), signal.SIGINT)  # as `kill -INT -PGID` would
    assert process.wait(30) == 0
    _, err = process.communicate()
    trial_id = trial_id_in(err)
    assert journal.get_trial(trial_id)["status"] == "interrupted", text(err)
    (end,) = _executions(journal, trial_id)
    assert [(s["signal"], s["to"]) for s in end["signals"]] == [("SIGINT", "group")]


#: kleio with a profile hook that sends it SIGINT at the Nth call of a Python function
#: once its script has ended (the audit-hook technique above, with calls for events):
#: points all along the record of the end, the store's close and the exit.
AT_THE_END = """\
import os, signal, sys
from kleio.core.running import signals

point, state = int(sys.argv[1]), {"ended": False, "events": 0}
waiting = signals.Forwarder.wait

def wait(self, process):
    code = waiting(self, process)
    state["ended"] = True
    if point == 0:
        os.kill(os.getpid(), signal.SIGINT)
    return code

signals.Forwarder.wait = wait

def hook(frame, event, arg):
    if state["ended"] and event == "call":
        state["events"] += 1
        if state["events"] == point:
            os.kill(os.getpid(), signal.SIGINT)

sys.setprofile(hook)
import atexit
atexit.register(lambda: print("events after the end:", state["events"], file=sys.stderr))
sys.argv = ["kleio", *sys.argv[2:]]
from kleio.cli.main import entry
entry()
"""


@pytest.mark.slow
def test_ctrl_c_at_any_moment_of_the_end_of_a_run_leaves_its_record_whole(
    env, project, journal, tmp_path
):
    """37 tries in a terminal, ^C sent as the last line printed: 8 tracebacks from the
    store's close, 3 trials interrupted with their execution left without an end. Here
    kleio gets SIGINT at one point after another of its end: each time it exits with the
    script's code, says at most one line of it, and the trial is completed with its
    execution closed."""
    write_script(project, "quick.py", "print('the last line')\n")
    (tmp_path / "at_the_end.py").write_text(AT_THE_END)

    def run(point: int) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                sys.executable,
                str(tmp_path / "at_the_end.py"),
                str(point),
                "--tags",
                f"point-{point}",
                "python",
                "quick.py",
                "--point",
                str(point),
            ],
            cwd=project,
            env=env,
            capture_output=True,
            timeout=120,
        )

    probe = run(10**6)
    total = int(re.search(r"events after the end: (\d+)", text(probe.stderr))[1])
    assert total > 100, text(probe.stderr)
    for point in sorted({0, 1, 2, 3, *range(5, total + 1, max(1, total // 30)), total}):
        done = run(point)
        said = text(done.stderr)
        assert done.returncode in (0, 130), said
        assert "Traceback" not in said, said
        extra = [line for line in said.splitlines() if "SIGINT" in line or "interrupted" in line]
        assert len(extra) <= 1, said
        trial_id = trial_id_in(done.stderr)
        document = journal.get_trial(trial_id)
        assert document["status"] == "completed", (point, said)
        (end,) = _executions(journal, trial_id)
        assert end["exit_code"] == 0 and end["status"] == "completed", (point, end)


#: kleio with an exit function, registered before it starts, that sends it SIGINT and
#: then runs Python code: ^C as kleio leaves, after the trial is recorded.
INTERRUPTED_EXIT = """\
import atexit, os, signal, sys

def leaving():
    os.kill(os.getpid(), signal.SIGINT)
    total = sum(range(10**6))  # Python code, for the interrupt to land in
    print("left with", total > 0, file=sys.stderr)

atexit.register(leaving)
sys.argv = ["kleio", *sys.argv[1:]]
from kleio.cli.main import entry
entry()
"""


def test_ctrl_c_in_kleios_exit_functions_keeps_the_scripts_exit_status(
    env, project, journal, tmp_path
):
    """Once the trial is recorded and the store closed, ^C has nothing left to interrupt:
    kleio exits with the script's status, without a traceback of an exit function."""
    write_script(project, "fails.py", "import sys\nprint('the last line')\nsys.exit(3)\n")
    (tmp_path / "interrupted_exit.py").write_text(INTERRUPTED_EXIT)
    done = subprocess.run(
        [sys.executable, str(tmp_path / "interrupted_exit.py"), "python", "fails.py"],
        cwd=project,
        env=env,
        capture_output=True,
        timeout=120,
    )
    said = text(done.stderr)
    assert done.returncode == 3, said
    assert "Traceback" not in said and "KeyboardInterrupt" not in said, said
    assert "left with True" in said
    document = journal.get_trial(trial_id_in(done.stderr))
    assert document["status"] == "broken", said
