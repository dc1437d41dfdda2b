"""Killed at any moment: ``kleio`` SIGKILLed during reservation, start-up, output, a
statistics flush, an artifact upload or shutdown leaves a readable journal and a trial
the same command resumes to completion, with nothing journalled lost or doubled.

Twenty scenarios, each its own command (``--moment I``) in one project and one journal,
run four at a time. Each starts ``kleio python resumable.py --moment I``, waits for its
trigger (a delay after the start, the trial appearing in the journal, or a marker file
the script writes at a given point), SIGKILLs ``kleio`` after a delay, then checks the
journal, waits for the lease to expire and runs the same command until it completes.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kleio.core.model import status as st
from kleio.core.model.catalogue import TRIAL_CATALOGUE
from kleio.store.sqlite import SQLiteStore
from tests.conftest import commit, git, write_script
from tests.faults.common import (
    children_of,
    events_of,
    missing_or_changed,
    process_alive,
    trial_id_of,
    wait_until,
)
from tests.helpers import clean_environment, invoke, run_kleio, start_kleio, text

pytestmark = pytest.mark.slow  # kleio killed at every moment of a run, then resumed

# A script whose kleio was killed writes only while the lease has more than a quarter of
# itself left (kleio.client.logger._Holder): with a 2 s lease that was 0.5 s past a
# heartbeat a second old, which a busy machine's late heartbeat used up (all of a
# script's statistics left out, by design). 3 s leaves 1.25 s.
HEARTBEAT, LEASE = 1, 3
STEPS = 40
ARTIFACT_EVERY = 10
#: Over 16 chunks of 255 KB: SQLite writes the blob in two transactions.
ARTIFACT_SIZE = 5 * 1024 * 1024

RESUMABLE = f"""\
import hashlib, os, sys, time
from pathlib import Path
from kleio.client.logger import kleio_logger as log

STEPS, ARTIFACT_EVERY, SIZE = {STEPS}, {ARTIFACT_EVERY}, {ARTIFACT_SIZE}
moment = sys.argv[sys.argv.index("--moment") + 1]
execution = os.environ["KLEIO_EXECUTION"]
markers = Path("markers") / moment
markers.mkdir(parents=True, exist_ok=True)


def mark(name):
    (markers / f"{{execution}}-{{name}}").write_text(str(os.getpid()))


def payload(step):
    return hashlib.sha256(str(step).encode()).digest() * (SIZE // 32)


mark("started")
steps = [s["step"] for s in log.load_statistics()]
start = max(steps) + 1 if steps else 0
checkpoints = log.load_artifacts("state")
if checkpoints:  # the latest checkpoint is whole, and older than the next step
    latest = checkpoints[0]
    assert latest.read() == payload(latest.attributes["step"]), "a torn checkpoint"
    assert latest.attributes["step"] < start, (latest.attributes, start)
print(f"execution {{execution}} starts at step {{start}}", flush=True)
mark("loaded")
for step in range(start, STEPS):
    mark(f"step-{{step}}")
    for line in range(20):
        print(f"step {{step}} line {{line}} " + "." * 60)
    if step == 5:
        sys.stdout.write(("burst " + "x" * 94 + "\\n") * 20000)  # 2 MB of output
    if step % 10 == 3:
        print(f"step {{step}} on stderr", file=sys.stderr)
    sys.stdout.flush()
    time.sleep(0.02)
    log.log_statistic(step=step, loss=1.0 / (step + 1), trace=list(range(50)))
    if step % ARTIFACT_EVERY == ARTIFACT_EVERY - 1:
        mark(f"artifact-{{step}}")
        log.log_artifact("state", payload(step), step=step)
        mark(f"uploaded-{{step}}")
    if step in (10, 20):
        mark(f"flush-{{step}}")
        log.flush()
mark("end")
"""


@dataclass(frozen=True)
class Moment:
    """Kill ``kleio`` ``delay`` seconds after ``trigger``: ``spawn`` (the command
    started), ``trial``/``reserved``/``running`` (the trial document shows it), or a
    marker the script's first execution writes."""

    phase: str
    trigger: str
    delay: float = 0.0

    @property
    def label(self) -> str:
        return f"{self.phase}-{self.trigger}+{self.delay * 1000:.0f}ms"


MOMENTS = [
    Moment("start-up", "spawn", 0.005),
    Moment("start-up", "spawn", 0.08),
    Moment("start-up", "spawn", 0.16),
    Moment("reservation", "trial"),
    Moment("reservation", "reserved"),
    Moment("start-up", "running"),
    Moment("start-up", "started"),
    Moment("start-up", "loaded", 0.002),
    Moment("output", "step-2"),
    Moment("output", "step-5", 0.01),
    Moment("output", "step-13", 0.03),
    Moment("flush", "flush-10"),
    Moment("flush", "flush-20", 0.002),
    Moment("flush", "step-30", 0.3),
    Moment("artifact", "artifact-9"),
    Moment("artifact", "artifact-19", 0.01),
    Moment("artifact", "artifact-29", 0.03),
    Moment("shutdown", "end"),
    Moment("shutdown", "end", 0.05),
    Moment("shutdown", "end", 0.3),
]


@dataclass
class Outcome:
    moment: Moment
    error: BaseException | None = None
    details: str = ""
    notes: dict = field(default_factory=dict)


class Scenario:
    """One kill and its recovery; raises AssertionError on any broken promise."""

    def __init__(self, index: int, moment: Moment, project: Path, env: dict, home: Path):
        self.index, self.moment, self.project, self.env = index, moment, project, env
        self.argv = ["python", "resumable.py", "--moment", str(index)]
        self.trial_id = trial_id_of(project, self.argv)
        self.markers = project / "markers" / str(index)
        self.logs = home.parent / "logs"
        self.store = SQLiteStore(home / "kleio.db", catalogue=TRIAL_CATALOGUE)
        self.notes: dict = {}
        self.script: set[int] = set()  # the script's pid, if kleio had started it
        self.killed_at = 0.0

    def kleio(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        # A process of its own: scenarios run in threads, and in-process commands use
        # this process's environment and working folder.
        return run_kleio(*args, env=self.env, cwd=self.project, timeout=timeout)

    def document(self) -> dict | None:
        return self.store.get_trial(self.trial_id)

    # -- the kill ----------------------------------------------------------------------
    def _triggered(self) -> bool:
        trigger = self.moment.trigger
        if trigger == "spawn":
            return True
        if trigger in ("trial", "reserved", "running"):
            document = self.document()
            wanted = {"trial": None, "reserved": (st.RESERVED, st.RUNNING)}.get(
                trigger, (st.RUNNING,)
            )
            return document is not None and (wanted is None or document["status"] in wanted)
        return (self.markers / f"1-{trigger}").exists()

    def kill(self) -> None:
        self.logs.mkdir(exist_ok=True)
        with (
            open(self.logs / f"{self.index}.out", "wb") as out,
            open(self.logs / f"{self.index}.err", "wb") as err,
        ):
            process = start_kleio(self.env, self.project, *self.argv, stdout=out, stderr=err)
        deadline = time.monotonic() + 60
        while not self._triggered() and process.poll() is None:
            assert time.monotonic() < deadline, f"{self.moment.trigger} never happened"
            time.sleep(0.001)
        time.sleep(self.moment.delay)
        self.script = children_of(process.pid)
        process.kill()
        self.killed_at = time.time()
        self.notes["kleio exit"] = process.wait(30)
        document = self.document()
        self.notes["status at the kill"] = document and document["status"]
        self.notes["markers"] = sorted(p.name for p in self.markers.glob("1-*"))

    def wait_for_the_script_to_stop(self) -> None:
        """The script does not outlive kleio: gone well before the lease lets another
        process take its trial (no marker written by a live process either)."""

        def pids() -> set[int]:
            found = set(self.script)
            for marker in self.markers.glob("1-*"):
                try:
                    found.add(int(marker.read_text()))
                except ValueError:
                    continue  # being written
            return found

        def stopped() -> bool:
            return not any(process_alive(pid) for pid in pids())

        try:
            wait_until(stopped, timeout=15, what="the script to stop after kleio was killed")
        except AssertionError:
            for pid in pids():  # not to hold the journal for the other scenarios
                if process_alive(pid):
                    os.kill(pid, signal.SIGKILL)
            raise
        stopped_at = time.time()
        self.notes["script stopped after"] = round(stopped_at - self.killed_at, 3)
        self.notes["markers after"] = sorted(p.name for p in self.markers.glob("1-*"))
        document = self.document()
        if document is not None and document["status"] in st.ACTIVE:
            lost_at = document["heartbeat"] + LEASE
            assert stopped_at <= lost_at, (
                f"the script ran {stopped_at - lost_at:.2f} s after its trial became lost "
                "(resumable by another process)"
            )

    # -- the checks --------------------------------------------------------------------
    def check_logged_statistics_kept(self) -> None:
        """What the script logged before it stopped is journalled: it flushes on SIGTERM.

        The script logs step K's statistic before it writes ``artifact-K``,
        ``uploaded-K``, ``flush-K``, ``step-K+1`` or ``end``.
        """
        logged = -1
        for marker in self.markers.glob("1-*"):
            name = marker.name[2:]
            if name == "end":
                logged = max(logged, STEPS - 1)
            elif name.startswith(("artifact-", "uploaded-", "flush-")):
                logged = max(logged, int(name.split("-")[1]))
            elif name.startswith("step-"):
                logged = max(logged, int(name.split("-")[1]) - 1)
        journalled = {
            event.data["step"] for event in self.store.read_events(self.trial_id, ["statistic"])
        }
        lost = sorted(set(range(logged + 1)) - journalled)
        self.notes["logged before the kill"] = logged + 1
        assert not lost, (
            f"the script logged steps 0..{logged} before it stopped, but steps {lost} "
            f"are not in the journal (journalled: {sorted(journalled)})"
        )

    def check_readable(self) -> None:
        listed = self.kleio("ls")
        assert listed.returncode == 0 and "Traceback" not in text(listed.stderr), text(
            listed.stderr
        )
        if self.document() is not None:
            assert self.trial_id[:7] in text(listed.stdout)
            info = self.kleio("info", self.trial_id)
            assert info.returncode == 0 and "Traceback" not in text(info.stderr), text(info.stderr)
            assert self.trial_id in text(info.stdout)

    def check_resumable(self) -> None:
        document = self.document()
        if document is None:  # killed before the trial was recorded: nothing to resume
            self.notes["stored status"] = None
            return
        stored = document["status"]
        self.notes["stored status"] = stored
        assert stored in (st.NEW, st.RESERVED, st.RUNNING, st.COMPLETED), stored
        if stored in st.ACTIVE:
            assert document.get("heartbeat"), document
            wait_until(
                lambda: st.observed_status(self.document(), LEASE) == st.LOST,
                timeout=LEASE + HEARTBEAT + 10,
                interval=0.1,
                what="the lease to expire",
            )
            lost = self.kleio("ls", "--status", "lost")
            assert self.trial_id[:7] in text(lost.stdout), text(lost.stdout)

    def resume(self) -> None:
        for attempt in range(6):
            result = self.kleio(*self.argv)
            errors = text(result.stderr)
            assert "Traceback" not in errors, errors
            if result.returncode == 0:
                self.notes["resumed in"] = attempt + 1
                return
            # The lease seen expired by the test may still hold for kleio: try again.
            assert "by another process" in errors, (result.returncode, errors)
            time.sleep(LEASE)
        raise AssertionError(f"the trial never completed: {errors}")

    def check_complete(self, before: dict) -> None:
        document = self.document()
        assert document["status"] == st.COMPLETED, document["status"]
        after = events_of(self.store, self.trial_id)
        problems = missing_or_changed(before, after)
        assert not problems, problems[:10]
        steps = [data["step"] for (kind, _), data in sorted(after.items()) if kind == "statistic"]
        assert sorted(steps) == list(range(STEPS)), f"steps logged: {steps}"
        ends = [
            data
            for (kind, _), data in after.items()
            if kind == "execution" and data["phase"] == "end"
        ]
        assert [end["status"] for end in ends][-1:] == [st.COMPLETED], ends
        artifacts = {blob.id: blob for blob in self.store.find_blobs({"trial": self.trial_id})}
        for (kind, _), data in after.items():
            if kind == "artifact":
                blob = artifacts.get(data["blob"])
                assert blob is not None, f"artifact event without its blob: {data}"
                assert blob.length == data["size"] == ARTIFACT_SIZE, data
                digest = hashlib.sha256()
                for chunk in self.store.read_blob(blob.id):
                    digest.update(chunk)
                assert digest.hexdigest() == data["sha256"], data

    def run(self) -> None:
        try:
            self.kill()
            right_after = events_of(self.store, self.trial_id)
            self.wait_for_the_script_to_stop()
            self.check_readable()
            self.check_logged_statistics_kept()
            before = events_of(self.store, self.trial_id)  # with the script's last flush
            assert not missing_or_changed(right_after, before)
            self.notes["events after the kill"] = (len(right_after), len(before))
            self.check_resumable()
            self.resume()
            self.check_complete(before)
        finally:
            self.store.close()


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """Every scenario, four at a time; their outcomes by index."""
    base = tmp_path_factory.mktemp("killed")
    home = base / "kleio-home"
    project = base / "mnist"
    project.mkdir()
    env = clean_environment(
        home,
        KLEIO_HEARTBEAT=str(HEARTBEAT),
        KLEIO_LEASE=str(LEASE),
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.org",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.org",
    )
    git(project, "init", "-q", "-b", "main")
    write_script(project, "resumable.py", RESUMABLE)
    (project / ".gitignore").write_text("markers/\n")
    commit(project, "resumable")
    # Made once, before four processes race for it.
    SQLiteStore(home / "kleio.db", catalogue=TRIAL_CATALOGUE).close()
    with SQLiteStore(home / "kleio.db", catalogue=TRIAL_CATALOGUE) as store:
        store.find_trials()

    def play(index: int) -> Outcome:
        scenario = Scenario(index, MOMENTS[index], project, env, home)
        outcome = Outcome(MOMENTS[index])
        try:
            scenario.run()
        except BaseException as error:  # reported by the test of this moment
            outcome.error = error
            outcome.details = traceback.format_exc()
        outcome.notes = scenario.notes
        return outcome

    with ThreadPoolExecutor(4) as pool:
        outcomes = dict(enumerate(pool.map(play, range(len(MOMENTS)))))
    outcomes["home"], outcomes["project"], outcomes["env"] = home, project, env
    return outcomes


@pytest.mark.parametrize(
    "index", range(len(MOMENTS)), ids=[f"{i:02d}-{m.label}" for i, m in enumerate(MOMENTS)]
)
def test_a_kill_at_any_moment_leaves_a_trial_that_resumes_to_completion(killed, index):
    outcome = killed[index]
    if outcome.error is not None:
        raise AssertionError(
            f"{outcome.moment.label}: {outcome.error}\nnotes: {outcome.notes}\n{outcome.details}"
        ) from outcome.error


def test_after_every_kill_the_journal_is_intact_and_lists_every_trial(killed):
    home, project, env = killed["home"], killed["project"], killed["env"]
    with SQLiteStore(home / "kleio.db", catalogue=TRIAL_CATALOGUE) as store:
        (check,) = store._connect().execute("PRAGMA integrity_check").fetchone()
        assert check == "ok"
        trials = store.find_trials()
    assert len(trials) == len(MOMENTS)
    listed = invoke("ls", "--json", env=env, cwd=project)
    assert listed.returncode == 0, text(listed.stderr)
    rows = json.loads(listed.stdout)
    assert sorted(row["id"] for row in rows) == sorted(trial["_id"] for trial in trials)
