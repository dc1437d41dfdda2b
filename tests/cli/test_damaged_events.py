"""Readers of events and blobs another program damaged: beside the good events and
artifacts of a good trial, a buggy or hostile writer put events whose data no Kleio
writes (output that is a number, a statistic that is text, an execution that is a
list...) and blobs whose metadata does not hold (a time that is text, a filename that
is an object). Every reader shows what it can read, says in ONE warning line what it
skipped and exits 0; ``export`` writes an archive ``import`` accepts; ``rm`` and ``gc``
still work. On SQLite (rows written straight into its tables: its writer refuses such
data) and on the MongoDB wire backend (documents inserted with pymongo).
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from kleio.core.model.catalogue import open_journal
from kleio.store.base import Event
from kleio.store.keys import event_key
from tests.conftest import script_project
from tests.helpers import invoke, run_kleio, text, trial_id_in
from tests.mongo_server import unique_database_name

SCRIPT = """\
import sys
from kleio.client.logger import kleio_logger as log
for step in range(3):
    log.log_statistic(step=step, loss=1.0 / (step + 1))
print("trained", sys.argv[1:])
print("a warning", file=sys.stderr)
log.log_artifact("model.bin", b"weights", epoch=2)
"""

#: Events no Kleio writes, planted after the good ones: kind, data.
EVENTS = [
    ("stdout", {"text": 5}),
    ("stdout", 42),
    ("stdout", {"base64": ["AAA="]}),
    ("stderr", {"colour": "red"}),
    ("stderr", "plain text"),
    ("statistic", 3),
    ("statistic", "loss=0.1"),
    ("statistic", [1, 2]),
    ("execution", [1, 2]),
    ("execution", {"phase": "start", "number": "one", "start": "now"}),
    ("usage", "busy"),
    ("artifact", 7),
    ("note", 9),
    ("note", {"text": 5}),
    ("status", "running"),
    ("tag", [None]),
]
#: Blob metadata no Kleio writes (artifacts of the good trial): what each holds.
BLOBS = [
    {"filename": "late.bin", "time": "yesterday", "attributes": {}},
    {"filename": {"name": "x"}, "time": 1.0, "attributes": {}},
    {"filename": "odd.bin", "time": 2.0, "attributes": "epoch=3"},
    {"filename": "old.bin", "time": None, "attributes": None},
]


@dataclass
class Journal:
    env: dict[str, str]
    project: Path
    trial: str
    backend: str

    def store(self):
        return open_journal(self.env["KLEIO_DB_ADDRESS"], self.env["KLEIO_DB_NAME"])

    def kleio(self, *args: str):
        return invoke(*args, env=self.env, cwd=self.project)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A trial run for real, exported: every journal of these tests starts with it."""
    folder = tmp_path_factory.mktemp("damaged-events")
    project, env = script_project(folder, SCRIPT)
    result = run_kleio("python", "train.py", "--lr", "0.1", env=env, cwd=project)
    assert result.returncode == 0, text(result.stderr)
    trial = trial_id_in(result.stderr)
    assert run_kleio("note", trial[:7], "a good note", env=env, cwd=project).returncode == 0
    archive = folder / "good.tar"
    assert run_kleio("export", "-o", str(archive), env=env, cwd=project).returncode == 0
    return env, project, archive, trial


def plant_events(journal: Journal, trial: str, events: list[tuple[str, object]]) -> None:
    """Events written as another program would: straight into SQLite's rows (Kleio's
    writer summarises what it appends, and refuses data that is no object), or into
    MongoDB's collection."""
    now = time.time()
    planted = [
        Event(trial, kind, event_key(now + number, "hostile", number), now + number, data)
        for number, (kind, data) in enumerate(events)
    ]
    if journal.backend == "sqlite":
        from kleio.store.sqlite.rows import rows_of

        connection = sqlite3.connect(journal.env["KLEIO_DB_ADDRESS"])
        with connection:
            for event in planted:
                connection.executemany(
                    "INSERT INTO events (trial, kind, first_key, last_key, count, keys, times,"
                    " data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    list(rows_of([event])),
                )
            # as a writer that died mid-write leaves them: recomputed from the events
            connection.executemany(
                "INSERT OR IGNORE INTO stale_summaries (trial, kind) VALUES (?, ?)",
                {(event.trial, event.kind) for event in planted},
            )
        connection.close()
        return
    with journal.store() as store:
        store._db.events.insert_many(
            [
                {"trial": e.trial, "kind": e.kind, "key": e.key, "time": e.time, "data": e.data}
                for e in planted
            ]
        )
        store._db.summaries.update_many({"trial": trial}, {"$set": {"stale": True}})


@pytest.fixture(params=["sqlite", "wire"])
def journal(request, source, tmp_path) -> Journal:
    """The good trial, and beside its events and artifact the damaged ones of
    :data:`EVENTS` and :data:`BLOBS`."""
    env, project, archive, trial = source
    if request.param == "sqlite":
        address, name = str(tmp_path / "journal.db"), "kleio"
    else:
        address, name = request.getfixturevalue("wire_server").uri, unique_database_name()
    env = {**env, "KLEIO_DB_ADDRESS": address, "KLEIO_DB_NAME": name}
    made = Journal(env, project, trial, request.param)
    imported = made.kleio("import", str(archive))
    assert imported.returncode == 0, text(imported.stderr)
    plant_events(made, trial, EVENTS)
    with made.store() as store:
        for metadata in BLOBS:
            store.put_blob([b"bytes"], {"trial": trial, "kind": "artifact", **metadata})
    yield made
    if request.param == "wire":
        with made.store() as store:
            store._db.client.drop_database(name)


def _one_warning(result) -> str:
    """The command succeeded, without a traceback, and said once what it skipped."""
    errors = text(result.stderr)
    assert result.returncode == 0 and "Traceback" not in errors, errors
    warnings = [line for line in errors.splitlines() if "skipped" in line]
    assert len(warnings) == 1, errors
    assert warnings[0].startswith("kleio: skipped "), errors
    return warnings[0]


#: The damaged events each reader reads, by kind.
def _planted(*kinds: str) -> int:
    return sum(kind in kinds for kind, _ in EVENTS)


@pytest.mark.parametrize(
    "args, kinds",
    [
        (["cat"], ["stdout"]),
        (["cat", "--stderr"], ["stdout", "stderr"]),
        (["tail"], ["stdout"]),
        (["stats"], ["statistic", "execution"]),
        (["stats", "--format", "json"], ["statistic"]),
        (["stats", "--format", "csv"], ["statistic", "execution"]),
        (["stats", "--with-meta", "--format", "json"], ["statistic", "execution"]),
        (["note", "--history"], ["note"]),
        (["note"], ["note"]),
    ],
)
def test_a_reader_shows_what_it_can_and_says_once_what_it_skipped(journal, args, kinds):
    result = journal.kleio(args[0], journal.trial[:7], *args[1:])
    warning = _one_warning(result)
    count = _planted(*kinds)
    assert f"skipped {count} events of trial {journal.trial[:7]} that cannot be read" in warning
    output = text(result.stdout)
    if args[0] in ("cat", "tail"):
        assert "trained ['--lr', '0.1']" in output
    if args[0] == "stats":
        assert "0.5" in output and "0.333" in output, output
    if args[0] == "note":
        assert "a good note" in output


def test_stats_as_json_lists_every_good_statistic(journal):
    result = journal.kleio("stats", journal.trial[:7], "--format", "json")
    _one_warning(result)
    assert json.loads(result.stdout) == [
        {"step": step, "loss": 1.0 / (step + 1)} for step in range(3)
    ]


def test_artifacts_and_info_show_the_good_artifact_and_skip_the_damaged_blobs(journal):
    listed = journal.kleio("artifacts", journal.trial[:7])
    warning = _one_warning(listed)
    assert f"skipped {len(BLOBS)} artifacts of trial {journal.trial[:7]}" in warning
    assert "artifact metadata's time is text, not a number" in warning
    assert "model.bin" in text(listed.stdout)
    for args in (["info"], ["info", "--json"]):
        shown = journal.kleio(*args, journal.trial[:7])
        warning = _one_warning(shown)
        count = _planted("statistic", "execution", "usage", "note")
        assert f"skipped {count} events and {len(BLOBS)} artifacts" in warning, warning
        assert "model.bin" in text(shown.stdout)
    info = json.loads(journal.kleio("info", "--json", journal.trial[:7]).stdout)
    assert [a["filename"] for a in info["artifacts"]] == ["model.bin"]


@pytest.mark.parametrize(
    "args", [["plot", "--y", "loss"], ["compare", "--keys", "loss"], ["ls", "--where", "loss<1"]]
)
def test_listings_and_plots_of_statistics_skip_damaged_ones(journal, args):
    result = run_kleio(*args, env=journal.env, cwd=journal.project)
    errors = text(result.stderr)
    assert result.returncode == 0 and "Traceback" not in errors, errors
    assert journal.trial[:7] in text(result.stdout)
    assert len([line for line in errors.splitlines() if "skipped" in line]) <= 1, errors


def test_load_statistics_of_the_reading_api_skips_damaged_ones_with_one_warning(
    journal, capfd, monkeypatch
):
    import kleio

    for name, value in journal.env.items():
        if name.startswith("KLEIO_"):
            monkeypatch.setenv(name, value)
    trial = kleio.load_trial(journal.trial[:7])
    assert [s["step"] for s in trial.statistics] == [0, 1, 2]
    assert trial.stdout.startswith("trained")
    errors = capfd.readouterr().err
    assert [line.split(" of trial")[0] for line in errors.splitlines()] == [
        f"kleio: skipped {_planted('statistic', 'execution')} events",
        f"kleio: skipped {_planted('stdout')} events",
    ], errors


def test_export_leaves_out_what_import_would_refuse_and_import_accepts_it(journal, tmp_path):
    archive = tmp_path / "out.tar"
    result = journal.kleio("export", journal.trial[:7], "-o", str(archive))
    warning = _one_warning(result)
    assert f"{len(EVENTS)} events and {len(BLOBS)} artifacts" in warning, warning
    env = {**journal.env, "KLEIO_DB_ADDRESS": str(tmp_path / "other.db"), "KLEIO_DB_NAME": "k"}
    imported = invoke("import", str(archive), env=env, cwd=journal.project)
    assert imported.returncode == 0, text(imported.stderr)
    again = invoke("stats", journal.trial[:7], "--format", "json", env=env, cwd=journal.project)
    assert again.returncode == 0 and text(again.stderr) == "", text(again.stderr)
    assert len(json.loads(again.stdout)) == 3
    shown = invoke("cat", journal.trial[:7], env=env, cwd=journal.project)
    assert "trained" in text(shown.stdout) and text(shown.stderr) == ""


def test_rm_and_gc_work_on_a_trial_with_damaged_events(journal):
    gc = run_kleio("gc", env=journal.env, cwd=journal.project)
    assert gc.returncode == 0 and "Traceback" not in text(gc.stderr), text(gc.stderr)
    result = run_kleio("rm", journal.trial[:7], "--yes", env=journal.env, cwd=journal.project)
    assert result.returncode == 0 and "Traceback" not in text(result.stderr), text(result.stderr)
    with journal.store() as store:
        assert store.get_trial(journal.trial) is None
        assert list(store.read_events(journal.trial)) == []
        assert store.find_blobs({"trial": journal.trial}) == []


def test_the_dashboard_answers_json_and_says_what_it_skipped(journal):
    from tests.ui.conftest import serving

    with journal.store() as store, serving(store) as client:
        for path in (
            f"/api/trials/{journal.trial}",
            f"/api/trials/{journal.trial}/output?stderr=1",
            f"/api/series?trials={journal.trial}&y=loss",
            "/api/keys",
            "/api/trials?keys=loss",
        ):
            answer = client.get(path)
            assert answer.status == 200, (path, answer.body)
            body = answer.json()
            if "/output" in path or "series" in path or path.endswith(journal.trial):
                assert "skipped" in body["unreadable"], (path, body)
