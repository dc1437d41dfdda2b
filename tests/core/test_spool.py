"""The spool: a replay racing its writer loses nothing, and only the owner reads it."""

from __future__ import annotations

import stat
import subprocess
import sys
import time

from kleio.core.running.spool import (
    pending_spools,
    replay_messages,
    replay_spools,
    replay_trial_spools,
    spool_artifact,
    write_spool,
)
from kleio.store.base import Event, StoreUnavailable
from kleio.store.keys import event_key

TRIAL = "a" * 32

#: A script's sink spooling statistics (its database is down) as fast as it logs them.
WRITER = """\
import sys, time
from pathlib import Path
from kleio.core.model.journal import EventWriter
from kleio.core.running.sink import EventSink
from kleio.store.base import StoreUnavailable

class Down:
    def append_events(self, events):
        raise StoreUnavailable("the database is down")

folder, count = Path(sys.argv[1]), int(sys.argv[2])
writer = EventWriter()
sink = EventSink(Down, folder, name="statistics", interval=0.001, patience=0)
for i in range(count):
    sink.put(writer.event(sys.argv[3], "statistic", {"i": i}))
    if i % 10 == 0:
        time.sleep(0.001)
sink.close()
"""


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_sync_running_while_a_script_spools_loses_nothing(tmp_path, store):
    """`kleio sync` replays a spool file while the script's sink still appends to it:
    each line appended is in the journal exactly once, whenever the replay ran."""
    folder, count = tmp_path / "home" / "spool", 4000
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(folder), str(count), TRIAL],
        stderr=subprocess.PIPE,
    )
    replays = 0
    while writer.poll() is None:
        replay_trial_spools(store, folder)  # what `kleio sync` does
        replays += 1
        time.sleep(0.002)
    assert writer.returncode == 0, writer.stderr.read().decode()
    replay_trial_spools(store, folder)
    logged = [event.data["i"] for event in store.read_events(TRIAL, ["statistic"])]
    assert sorted(logged) == list(range(count)), f"{count - len(set(logged))} lost"
    assert pending_spools(folder) == []
    assert replays > 10  # the replays did run while the script spooled


def test_spool_files_and_their_folders_are_for_the_owner_only(tmp_path):
    home = tmp_path / "home"
    folder = home / "spool"
    path = folder / f"{TRIAL}-statistics-1-1.jsonl"
    write_spool(path, [Event(TRIAL, "statistic", event_key(1.0, "w", 0), 1.0, {"i": 0})])
    spool_artifact(folder, TRIAL, "weights", b"\x00" * 10, {}, 1.0)
    assert mode(home) == 0o700 and mode(folder) == 0o700
    files = list(folder.iterdir())
    assert {p.suffix for p in files} >= {".jsonl", ".bin", ".artifact"}
    assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}


def test_an_existing_spool_file_keeps_its_permissions(tmp_path):
    folder = tmp_path / "spool"
    folder.mkdir(mode=0o750)
    folder.chmod(0o750)
    path = folder / f"{TRIAL}-statistics-1-1.jsonl"
    path.write_text("")
    path.chmod(0o640)
    write_spool(path, [Event(TRIAL, "statistic", event_key(1.0, "w", 0), 1.0, {"i": 0})])
    assert mode(path) == 0o640 and mode(folder) == 0o750


def _spool_two_events(folder) -> None:
    events = [Event(TRIAL, "statistic", event_key(t, "w", 0), t, {"i": t}) for t in (1.0, 2.0)]
    write_spool(folder / f"{TRIAL}-statistics-1-1.jsonl", events)


def test_a_replay_says_what_it_did_to_a_run_and_to_kleio_sync(tmp_path, store):
    """One account of a replay for both readers: a run speaks of its trial and says
    nothing when nothing waited; `kleio sync` speaks of spool files."""
    folder = tmp_path / "spool"

    def unopened():
        raise AssertionError("nothing waits: no store is opened")

    nothing = replay_spools(unopened, folder, TRIAL)
    assert replay_messages(nothing) == []
    assert replay_messages(replay_spools(unopened, folder)) == [
        f"nothing to upload: {folder} holds no spooled events"
    ]
    _spool_two_events(folder)
    assert replay_messages(replay_spools(lambda: store, folder, TRIAL)) == [
        "uploaded 2 events and 0 artifacts of trial aaaaaaa kept on disk while the "
        "database did not answer"
    ]
    _spool_two_events(folder)
    assert replay_messages(replay_spools(lambda: store, folder)) == [
        "uploaded 2 events and 0 artifacts from 1 spool files"
    ]


def test_a_replay_the_store_stops_keeps_its_files_and_says_so(tmp_path):
    folder = tmp_path / "spool"
    _spool_two_events(folder)

    class Down:
        def append_events(self, events):
            raise StoreUnavailable("the database is down")

    stopped = replay_spools(Down, folder, TRIAL)
    assert stopped.error is not None and stopped.left == 1
    (message,) = replay_messages(stopped)
    assert message.startswith("the database did not answer (the database is down): 1 spool")
    (message,) = replay_messages(replay_spools(Down, folder))
    assert message == f"the database is down; 1 spool files remain in {folder}"
    assert len(pending_spools(folder)) == 1
