"""kleio_logger inside a real ``kleio`` run: journalled, resumable, never lost."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from kleio.core.model.catalogue import open_journal
from tests.conftest import write_script
from tests.helpers import run_kleio, start_kleio, text, trial_id_in
from tests.mongo_server import unique_database_name

TRAINER = """\
import json, os, signal, sys, time
from kleio.client.logger import kleio_logger as log

start = 1
latest = log.load_artifacts("weights")
if latest:
    start = json.loads(latest[0].read())["epoch"] + 1
for epoch in range(start, 1001):
    log.log_statistic(epoch=epoch, loss=1.0 / epoch, acc=1.0 - 1.0 / epoch)
    if epoch % 100 == 0:
        log.log_artifact("weights", json.dumps({"epoch": epoch}).encode(), epoch=epoch)
        if epoch == 400 and os.path.exists("pause-at-400"):
            open("saved-400", "w").close()
            time.sleep(120)
if os.path.exists("interrupt-at-end"):
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(5)
statistics = log.load_statistics()
five_hundred = log.load_artifacts("weights", epoch=500)
with open("seen.json", "w") as seen:
    json.dump({
        "start": start,
        "epochs": [s["epoch"] for s in statistics],
        "by_loss": [s["epoch"] for s in statistics.sorted_by("loss")][:3],
        "epoch_10": log.load_statistics(epoch=10),
        "weights_500": [[a.read().decode(), a.attributes] for a in five_hundred],
    }, seen)
"""


def statistics_in(store, trial_id: str) -> list[dict]:
    return [event.data for event in store.read_events(trial_id, ["statistic"])]


def test_a_resumed_run_loads_every_statistic_and_the_artifact_it_asks_for(kleio, project, journal):
    write_script(project, "trainer.py", TRAINER)
    (project / "interrupt-at-end").touch()
    first = kleio("python", "trainer.py")
    trial_id = trial_id_in(first.stderr)
    assert journal.get_trial(trial_id)["status"] == "interrupted", text(first.stderr)
    (project / "interrupt-at-end").unlink()

    resumed = kleio("python", "trainer.py")
    assert resumed.returncode == 0, text(resumed.stderr)
    assert trial_id_in(resumed.stderr) == trial_id
    seen = json.loads((project / "seen.json").read_text())
    assert seen["start"] == 1001
    assert seen["epochs"] == list(range(1, 1001))  # all of them, in logging order
    assert seen["by_loss"] == [1000, 999, 998]  # sorted on request by any key
    assert seen["epoch_10"] == [{"epoch": 10, "loss": 0.1, "acc": 0.9}]
    assert seen["weights_500"] == [['{"epoch": 500}', {"epoch": 500}]]


def test_sigterm_after_a_checkpoint_then_the_same_command_continues_after_it(
    env, project, journal, kleio
):
    write_script(project, "trainer.py", TRAINER)
    (project / "pause-at-400").touch()
    process = start_kleio(env, project, "python", "trainer.py")
    deadline = time.monotonic() + 120
    while not (project / "saved-400").exists():
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    process.terminate()
    assert process.wait(60) == 143
    trial_id = trial_id_in(process.stderr.read())
    assert journal.get_trial(trial_id)["status"] == "interrupted"
    assert [s["epoch"] for s in statistics_in(journal, trial_id)] == list(range(1, 401))
    (project / "pause-at-400").unlink()

    resumed = kleio("python", "trainer.py")
    assert resumed.returncode == 0, text(resumed.stderr)
    assert json.loads((project / "seen.json").read_text())["start"] == 401
    assert journal.get_trial(trial_id)["status"] == "completed"
    epochs = [s["epoch"] for s in statistics_in(journal, trial_id)]
    assert epochs == list(range(1, 1001))  # exactly one statistic per epoch


def test_outside_kleio_the_script_prints_its_statistics_and_writes_nothing(project, env, home):
    write_script(project, "trainer.py", TRAINER)
    result = subprocess.run(
        [sys.executable, "trainer.py"], cwd=project, env=env, capture_output=True, timeout=120
    )
    assert result.returncode == 0, text(result.stderr)
    lines = text(result.stdout).splitlines()
    assert len(lines) == 1000 and lines[0] == "epoch=1 loss=1.0 acc=0.0"
    assert not home.exists()
    assert "artifacts are not saved" in text(result.stderr)


CONCURRENT = """\
import multiprocessing, threading
from kleio.client.logger import kleio_logger as log

def work(thread):
    for i in range(2000):
        log.log_statistic(thread=thread, i=i)

def child():
    for i in range(500):
        log.log_statistic(child=True, i=i)

threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
for thread in threads:
    thread.start()
process = multiprocessing.get_context("fork").Process(target=child)
process.start()
for thread in threads:
    thread.join()
process.join(60)
assert process.exitcode == 0, process.exitcode
log.log_statistic(done=True)
"""


def test_threads_and_a_forked_child_lose_nothing(kleio, project, journal):
    write_script(project, "concurrent.py", CONCURRENT)
    result = kleio("python", "concurrent.py", timeout=120)
    assert result.returncode == 0, text(result.stderr)
    statistics = statistics_in(journal, trial_id_in(result.stderr))
    for thread in range(4):
        assert [s["i"] for s in statistics if s.get("thread") == thread] == list(range(2000))
    assert [s["i"] for s in statistics if s.get("child")] == list(range(500))
    assert statistics[-1] == {"done": True}
    assert len(statistics) == 4 * 2000 + 500 + 1


REFUSED = """\
import json
from kleio.client.logger import kleio_logger as log

deep = 1
for _ in range(500):
    deep = {"deeper": deep}
for i in range(100):
    log.log_statistic(i=i)
    if i == 49:
        try:
            log.log_statistic(deep=deep)
        except TypeError as error:
            refusal = str(error)
with open("seen.json", "w") as seen:
    json.dump({"refusal": refusal, "loaded": [s["i"] for s in log.load_statistics()]}, seen)
"""


def test_a_statistic_no_backend_stores_is_refused_at_the_call_and_the_rest_is_kept(
    kleio, project, home, wire_server
):
    name = unique_database_name()
    write_script(project, "refused.py", REFUSED)
    result = kleio("python", "refused.py", KLEIO_DB_ADDRESS=wire_server.uri, KLEIO_DB_NAME=name)
    assert result.returncode == 0, text(result.stderr)
    seen = json.loads((project / "seen.json").read_text())
    assert "'deep'" in seen["refusal"] and "nested more than" in seen["refusal"]
    assert seen["loaded"] == list(range(100))
    spool = home / "spool"
    assert not spool.exists() or not any(spool.iterdir())


def test_kleio_sync_leaves_out_a_spooled_event_the_database_refuses_and_keeps_the_rest(
    env, wire_server
):
    from kleio.core.model.journal import EventWriter
    from kleio.core.running.spool import new_spool_path, spool_folder, write_spool

    name = unique_database_name()
    env = {**env, "KLEIO_DB_ADDRESS": wire_server.uri, "KLEIO_DB_NAME": name}
    deep: object = 1
    for _ in range(500):
        deep = {"deeper": deep}
    writer = EventWriter()
    events = [writer.event("t" * 32, "statistic", {"i": i}) for i in range(10)]
    events.insert(5, writer.event("t" * 32, "statistic", {"deep": deep}))
    folder = spool_folder(Path(env["KLEIO_HOME"]))
    write_spool(new_spool_path(folder, "t" * 32, "statistics"), events)

    synced = run_kleio("sync", env=env)
    errors = text(synced.stderr)
    assert synced.returncode == 0, errors
    assert "uploaded 10 events" in errors and "left out 1 events" in errors, errors
    again = run_kleio("sync", env=env)
    assert again.returncode == 0 and "nothing to upload" in text(again.stderr)
    with open_journal(wire_server.uri, name) as store:
        assert [s["i"] for s in statistics_in(store, "t" * 32)] == list(range(10))


ODD_ARTIFACTS = """\
import os, sys
from kleio.client.logger import kleio_logger as log

os.mkfifo("pipe")
for name, source in [
    ("fifo-path", "pipe"),
    ("zero-file", open("/dev/zero", "rb")),
    ("a-folder", "."),
    ("stdin", sys.stdin.buffer),
]:
    try:
        log.log_artifact(name, source)
        print(name, "stored")
    except (TypeError, ValueError) as error:
        print(name, "refused:", error)
log.log_artifact("fine", b"bytes are fine")
"""


def test_an_artifact_that_is_not_a_regular_file_is_refused_at_the_call(kleio, project, journal):
    """A FIFO blocked the script for ever, and /dev/zero was read without end: an artifact
    is a regular file, or bytes the script read itself."""
    write_script(project, "odd.py", ODD_ARTIFACTS)
    result = kleio("python", "odd.py")
    assert result.returncode == 0, text(result.stderr)
    printed = text(result.stdout).splitlines()
    assert printed[0].startswith(
        "fifo-path refused: log_artifact stores regular files: pipe is a FIFO"
    )
    assert printed[1].startswith("zero-file refused: log_artifact stores regular files: /dev/zero")
    assert "is a device" in printed[1]
    assert printed[2].startswith("a-folder refused:") and "is a folder" in printed[2]
    assert printed[3].startswith("stdin refused:")
    trial_id = trial_id_in(result.stderr)
    names = [e.data["filename"] for e in journal.read_events(trial_id, ["artifact"])]
    assert names == ["fine"]
