"""Readers of a journal another program damaged: a trial document no Kleio writes (a
buggy or hostile writer put it in the store directly) is skipped by every listing with
one warning, refused in one line by every command that names it, and deleted by
``kleio rm``; the good trials beside it stay readable. On SQLite and on the MongoDB wire
backend.
"""

from __future__ import annotations

import hashlib
import json
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
log.log_artifact("model.bin", b"weights")
"""

#: What a hostile writer changes in a good trial's document, by name.
DAMAGES = {
    "refers": ({"refers": "a parent"}, "refers is text, not an object"),
    "created": ({"created": "yesterday"}, "created is text, not a number"),
    "commandline": ({"commandline": ["python", 3, None]}, "commandline[1] is an integer"),
    "status": ({"status": 7}, "status is an integer, not text"),
    "tags": ({"tags": "a,b"}, "tags is text, not a list"),
}


@dataclass
class Journal:
    env: dict[str, str]
    project: Path
    good: list[str]
    #: Damage name -> the id of the trial damaged so.
    damaged: dict[str, str]

    def store(self):
        return open_journal(self.env["KLEIO_DB_ADDRESS"], self.env["KLEIO_DB_NAME"])

    def kleio(self, *args: str):
        return invoke(*args, env=self.env, cwd=self.project)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """Two trials run for real, exported: every journal of these tests starts with them."""
    folder = tmp_path_factory.mktemp("damaged")
    project, env = script_project(folder, SCRIPT)
    ids = []
    for lr in ("0.1", "0.2"):
        result = run_kleio("python", "train.py", "--lr", lr, env=env, cwd=project)
        assert result.returncode == 0, text(result.stderr)
        ids.append(trial_id_in(result.stderr))
    archive = folder / "good.tar"
    assert run_kleio("export", "-o", str(archive), env=env, cwd=project).returncode == 0
    return env, project, archive, ids


def _damaged_id(name: str) -> str:
    return hashlib.sha256(f"damaged {name}".encode()).hexdigest()[:32]


@pytest.fixture(params=["sqlite", "wire"])
def journal(request, source, tmp_path) -> Journal:
    """The two good trials, and beside them one trial per :data:`DAMAGES`, each a copy of
    a good one changed so, planted with its own events and blob through the store alone
    (as another program would write them)."""
    env, project, archive, good = source
    if request.param == "sqlite":
        address, name = str(tmp_path / "journal.db"), "kleio"
    else:
        address, name = request.getfixturevalue("wire_server").uri, unique_database_name()
    env = {**env, "KLEIO_DB_ADDRESS": address, "KLEIO_DB_NAME": name}
    made = Journal(env, project, good, {})
    imported = made.kleio("import", str(archive))
    assert imported.returncode == 0, text(imported.stderr)
    with made.store() as store:
        document = store.get_trial(good[0])
        now = time.time()
        for number, (damage, (change, _)) in enumerate(DAMAGES.items()):
            trial = made.damaged[damage] = _damaged_id(damage)
            store.create_trial({**document, "_id": trial, **change})
            store.append_events(
                [Event(trial, "stdout", event_key(now, "hostile", number), now, {"text": "x\n"})]
            )
            store.put_blob([b"bytes"], {"trial": trial, "kind": "artifact", "filename": "a"})
    yield made
    if request.param == "wire":
        with made.store() as store:
            store._db.client.drop_database(name)


def _one_warning(result, journal: Journal) -> str:
    """The listing succeeded, showed both good trials and said once what it skipped."""
    errors = text(result.stderr)
    assert result.returncode == 0 and "Traceback" not in errors, errors
    output = text(result.stdout)
    for trial in journal.good:
        assert trial[:7] in output, output
    for trial in journal.damaged.values():
        assert trial[:7] not in output, output
    warnings = [line for line in errors.splitlines() if "skipped" in line]
    assert len(warnings) == 1 and warnings[0].startswith("kleio: skipped 5 trials"), errors
    assert "Traceback" not in errors and len(errors.splitlines()) == 1, errors
    return warnings[0]


@pytest.mark.parametrize(
    "args",
    [
        ["ls"],
        ["ls", "--format", "json"],
        ["ls", "--format", "csv"],
        ["ls", "--sort", "created"],
        ["ls", "--where", "lr>0"],
        ["ls", "--where", "loss:min<1", "--sort", "-lr"],
        ["compare"],
        ["compare", "--format", "json"],
    ],
)
def test_listings_skip_damaged_trials_with_one_warning_naming_each(journal, args):
    warning = _one_warning(journal.kleio(*args), journal)
    for damage, (_, problem) in DAMAGES.items():
        assert f"{journal.damaged[damage][:7]} ({problem}" in warning, warning


def test_a_listing_by_tag_skips_a_damaged_trial_holding_that_tag(journal):
    with journal.store() as store:
        store.update_trial(journal.good[1], {"tags": ["a"]})
        store.update_trial(journal.damaged["created"], {"tags": ["a"]})
    result = journal.kleio("ls", "--tags", "a")
    errors = text(result.stderr)
    assert result.returncode == 0 and "Traceback" not in errors, errors
    assert journal.good[1][:7] in text(result.stdout)
    assert len(errors.splitlines()) == 1 and errors.startswith("kleio: skipped "), errors
    assert journal.damaged["created"][:7] in errors


def test_plot_draws_the_good_trials_and_says_what_it_skipped(journal):
    result = run_kleio("plot", "--y", "loss", env=journal.env, cwd=journal.project)
    errors = text(result.stderr)
    assert result.returncode == 0 and "Traceback" not in errors, errors
    assert all(trial[:7] in text(result.stdout) for trial in journal.good)
    assert errors.count("kleio: skipped 5 trials") == 1, errors


@pytest.mark.parametrize(
    "command", [["info"], ["info", "--json"], ["cat"], ["stats"], ["artifacts"], ["ls"]]
)
@pytest.mark.parametrize("damage", ["refers", "status", "commandline"])
def test_a_command_on_a_damaged_trial_says_so_in_one_line(journal, command, damage):
    trial = journal.damaged[damage]
    result = journal.kleio(*command, trial[:8])
    errors = text(result.stderr)
    assert result.returncode != 0 and "Traceback" not in errors, errors
    assert errors.splitlines() == [
        f"kleio: error: trial {trial[:7]} cannot be read: {DAMAGES[damage][1]}"
        + errors.partition(DAMAGES[damage][1])[2].rstrip("\n")
    ], errors
    assert f"kleio rm {trial[:7]}" in errors


def test_export_of_a_damaged_trial_says_so_in_one_line(journal, tmp_path):
    trial = journal.damaged["created"]
    result = journal.kleio("export", trial[:8], "-o", str(tmp_path / "out.tar"))
    errors = text(result.stderr)
    assert result.returncode != 0 and "Traceback" not in errors, errors
    assert errors.startswith(f"kleio: error: trial {trial[:7]} cannot be read: created is text")


def test_export_of_the_journal_exports_the_good_trials_and_warns(journal, tmp_path):
    result = journal.kleio("export", "-o", str(tmp_path / "out.tar"))
    errors = text(result.stderr)
    assert result.returncode == 0 and "Traceback" not in errors, errors
    assert "kleio: skipped 5 trials" in errors and "exported 2 trials" in errors, errors


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_rm_deletes_a_damaged_trial_with_its_events_and_blobs(journal, damage):
    trial = journal.damaged[damage]
    result = run_kleio("rm", trial[:8], "--yes", env=journal.env, cwd=journal.project)
    errors = text(result.stderr)
    assert result.returncode == 0 and "Traceback" not in errors, errors
    assert "deleted 1 trial" in errors
    with journal.store() as store:
        assert store.get_trial(trial) is None
        assert list(store.read_events(trial)) == []
        assert store.find_blobs({"trial": trial}) == []
        assert {d["_id"] for d in store.find_trials()} >= set(journal.good)
    gc = journal.kleio("gc")
    assert gc.returncode == 0 and "Traceback" not in text(gc.stderr), text(gc.stderr)
    listed = journal.kleio("ls", "--format", "json")
    assert len(json.loads(listed.stdout)) == 2
    assert "skipped 4 trials" in text(listed.stderr)


def test_gc_works_beside_damaged_trials(journal):
    result = journal.kleio("gc")
    errors = text(result.stderr)
    assert result.returncode == 0 and "Traceback" not in errors, errors
    with journal.store() as store:  # nothing of the damaged trials is taken: rm does that
        assert all(store.get_trial(trial) for trial in journal.damaged.values())


def test_the_dashboards_list_skips_damaged_trials_and_a_damaged_trial_is_a_json_error(journal):
    from tests.ui.conftest import serving

    with journal.store() as store, serving(store) as client:
        answer = client.get("/api/trials")
        assert answer.status == 200, answer.body
        listed = answer.json()
        assert {row["id"] for row in listed["rows"]} == set(journal.good)
        assert listed["skipped"].startswith("skipped 5 trials")
        for trial in journal.damaged.values():
            answer = client.get(f"/api/trials/{trial}")
            assert 400 <= answer.status < 500, answer.body
            assert "cannot be read" in answer.json()["error"]
