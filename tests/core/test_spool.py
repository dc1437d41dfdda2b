"""The spool: a replay racing its writer loses nothing, and only the owner reads it."""

from __future__ import annotations

import stat
import subprocess
import sys
import time

from kleio.core.running.spool import (
    pending_spools,
    replay_trial_spools,
    spool_artifact,
    write_spool,
)
from kleio.store.base import Event
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
