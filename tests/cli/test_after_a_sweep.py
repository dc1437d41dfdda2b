"""After a sweep, end to end: ``compare``, ``ls`` queries, ``tag``, ``note``, ``rm``, ``gc``,
``diff``, ``checkout``, ``export`` and ``import``, on SQLite (and a journal moved to the
MongoDB wire backend and back); the commands that change the journal run as a user runs
them, those that only read it in this process (``tests.helpers.kleio_runner``).

The sweep (built once per backend): six trials of one script with different learning
rates and batch sizes, one of them broken and one interrupted, a branch of the first at
``epoch=1``, then a trial run with an uncommitted change and one after a later commit.
"""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kleio.core.curation.transfer import export_trials, import_trials
from kleio.core.model.catalogue import open_journal
from tests.conftest import commit, git
from tests.helpers import (
    clean_environment,
    invoke,
    kleio_runner,
    one_line_error,
    run_kleio,
    start_kleio,
    text,
    trial_id_in,
)
from tests.mongo_server import unique_database_name

TRAIN = """\
import argparse, sys, time
from kleio.client.logger import kleio_logger as log

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, required=True)
parser.add_argument("--batch", type=int, default=32)
parser.add_argument("--epochs", type=int, default=4)
parser.add_argument("--fail-at", type=int, default=-1)
parser.add_argument("--stop-at", type=int, default=-1)
parser.add_argument("--artifact-mb", type=int, default=0)
parser.add_argument("--wait-for", default=None)
args = parser.parse_args()
if args.wait_for:
    open(args.wait_for + ".started", "w").close()
    while not __import__("os").path.exists(args.wait_for):
        time.sleep(0.05)
start = len(log.load_statistics())  # a branch continues where its parent stopped
for epoch in range(start, args.epochs):
    if epoch == args.fail_at:
        sys.exit(3)
    if epoch == args.stop_at:
        sys.exit(130)  # as a script stopped by Ctrl-C exits
    loss = round(args.lr * 10 / (epoch + 1) + args.batch / 1000, 6)
    log.log_statistic(epoch=epoch, loss=loss, acc=round(1 - loss / 10, 6))
if args.artifact_mb:
    log.log_artifact("big.bin", __import__("os").urandom(args.artifact_mb << 20))
log.log_artifact("model.bin", b"weights of lr %g" % args.lr, epoch=args.epochs)
print("trained with lr", args.lr)
"""


def loss(lr: float, batch: int, epoch: int) -> float:
    """What the script logs (the test computes it on its own)."""
    return round(lr * 10 / (epoch + 1) + batch / 1000, 6)


#: name -> (kleio arguments before the script's, the script's options, expected status)
RUNS = {
    "a": ([], ["--lr", "0.1"], "completed"),
    "b": ([], ["--lr", "0.01"], "completed"),
    "c": ([], ["--lr", "0.001", "--batch", "64"], "completed"),
    "d": (["--tags", "sweep;wip"], ["--lr", "0.05", "--batch", "64"], "completed"),
    "e": ([], ["--lr", "0.5", "--fail-at", "2"], "broken"),
    "f": ([], ["--lr", "0.2", "--stop-at", "1"], "interrupted"),
}


@dataclass
class Sweep:
    backend: str
    project: Path
    env: dict[str, str]
    ids: dict[str, str] = field(default_factory=dict)
    #: The tracked files as trial h and i ran them: path -> bytes.
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)

    def kleio(self, *args: str, **extra: str) -> subprocess.CompletedProcess:
        return kleio_runner(self.env, self.project, timeout=180)(*args, **extra)

    def ok(self, *args: str, **extra: str) -> str:
        result = self.kleio(*args, **extra)
        assert result.returncode == 0, text(result.stderr)
        return text(result.stdout)

    def json(self, *args: str, **extra: str):
        return json.loads(self.ok(*args, "--format", "json", **extra))

    def store(self):
        return open_journal(self.env["KLEIO_DB_ADDRESS"], self.env["KLEIO_DB_NAME"])

    def short(self, name: str) -> str:
        return self.ids[name][:7]


def _tracked_files(project: Path) -> dict[str, bytes]:
    names = git(project, "ls-files", "-z").split("\0")
    return {name: (project / name).read_bytes() for name in names if name}


def _address(backend: str, folder: Path, request) -> tuple[str, str]:
    if backend == "sqlite":
        return str(folder / "kleio.db"), "kleio"
    return request.getfixturevalue("wire_server").uri, unique_database_name()


#: The sweep on SQLite. These commands reach the journal only through the store contract,
#: which tests/store/test_contract.py checks on the wire stand-in (and mongomock): finding
#: and filtering trials, tags, deleting a trial's documents, events and blobs, export and
#: import. The sweep on the wire ("wire" here) ran the same store calls again, for 23 s.
BACKENDS = ["sqlite"]


@pytest.fixture(scope="module", params=BACKENDS)
def sweep(request, tmp_path_factory) -> Sweep:
    folder = tmp_path_factory.mktemp(f"sweep-{request.param}")
    project = folder / "mnist"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    git(project, "remote", "add", "origin", str(folder / "nowhere.git"))
    (project / "train.py").write_text(TRAIN)
    (project / "README").write_text("a sweep\n")
    commit(project, "first")
    address, name = _address(request.param, folder, request)
    env = clean_environment(
        folder / "home", KLEIO_DB_ADDRESS=address, KLEIO_DB_NAME=name, COLUMNS="200"
    )
    made = Sweep(request.param, project, env)
    for key, (options, script, status) in RUNS.items():
        result = made.kleio(
            "run", "--tags", "sweep", *options, "python", "train.py", *script, "--epochs", "4"
        )
        made.ids[key] = trial_id_in(result.stderr)
        assert result.returncode == {"completed": 0, "broken": 3, "interrupted": 130}[status], text(
            result.stderr
        )
    branched = made.kleio("branch", "--timestamp", "epoch=1", made.short("a"), "--lr", "0.02")
    assert branched.returncode == 0, text(branched.stderr)
    made.ids["g"] = trial_id_in(branched.stderr)
    # An uncommitted change, an untracked file, then a commit of something else.
    with open(project / "train.py", "a") as script:
        script.write("# tuned by hand, not committed\n")
    (project / "scratch.txt").write_text("notes that were never committed\n")
    result = made.kleio("python", "train.py", "--lr", "0.1", "--batch", "128", "--epochs", "4")
    made.ids["h"] = trial_id_in(result.stderr)
    made.files["h"] = _tracked_files(project)
    (project / "notes.txt").write_text("second commit\n")
    git(project, "add", "notes.txt")
    git(project, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "notes")
    result = made.kleio("python", "train.py", "--lr", "0.1", "--batch", "256", "--epochs", "4")
    made.ids["i"] = trial_id_in(result.stderr)
    made.files["i"] = _tracked_files(project)
    yield made
    if request.param == "wire":
        with made.store() as store:
            store._db.client.drop_database(name)


@pytest.fixture
def fresh(sweep, tmp_path, request) -> Sweep:
    """A journal of its own holding the sweep, for a test that changes it."""
    address, name = _address(sweep.backend, tmp_path, request)
    archive = tmp_path / "sweep.tar"
    with sweep.store() as source, open(archive, "wb") as stream:
        export_trials(source, source.find_trials()[::-1], stream)
    with open_journal(address, name) as target:
        import_trials(target, str(archive))
    copy = Sweep(
        sweep.backend,
        sweep.project,
        {**sweep.env, "KLEIO_DB_ADDRESS": address, "KLEIO_DB_NAME": name},
        dict(sweep.ids),
        sweep.files,
    )
    yield copy
    if sweep.backend == "wire":
        with copy.store() as store:
            store._db.client.drop_database(name)


def _view(sweep: Sweep, name: str) -> list[tuple[int, float]]:
    """(epoch, loss) of a trial's view, as the script logged them."""
    _, script, _ = RUNS.get(name, ([], [], ""))
    if name == "g":  # epochs 0 and 1 of a, then its own with lr 0.02
        return [(e, loss(0.1, 32, e)) for e in (0, 1)] + [(e, loss(0.02, 32, e)) for e in (2, 3)]
    options = dict(zip(script[::2], script[1::2], strict=True))
    lr, batch = float(options["--lr"]), int(options.get("--batch", 32))
    stop = min(int(options.get("--fail-at", 4)), int(options.get("--stop-at", 4)), 4)
    stop = 4 if stop < 0 else stop
    return [(e, loss(lr, batch, e)) for e in range(stop)]


# -- the sweep as recorded -------------------------------------------------------------


def test_the_sweep_has_a_branch_a_broken_and_an_interrupted_trial(sweep):
    rows = {row["id"]: row for row in json.loads(sweep.ok("ls", "--json"))}
    assert len(rows) == 9
    status = {name: rows[trial_id]["status"] for name, trial_id in sweep.ids.items()}
    assert status == {
        **{name: expected for name, (_, _, expected) in RUNS.items()},
        "g": "completed",
        "h": "completed",
        "i": "completed",
    }
    assert rows[sweep.ids["g"]]["parent"] == sweep.ids["a"]


# -- 1. compare ------------------------------------------------------------------------


def test_compare_shows_what_differs_and_summaries_sorted_by_any_of_them(sweep):
    rows = sweep.json(
        "compare", "--tags", "sweep", "--sort", "loss:min", "--keys", "loss:min,acc:max,epoch:count"
    )
    expected = {name: _view(sweep, name) for name in ("a", "b", "c", "d", "e", "f", "g")}
    by_id = {sweep.ids[name]: name for name in expected}
    assert [by_id[row["id"]] for row in rows] == ["b", "c", "g", "d", "a", "f", "e"]
    for row in rows:
        name = by_id[row["id"]]
        losses = [value for _, value in expected[name]]
        assert row["loss:min"] == min(losses)
        assert row["acc:max"] == round(1 - min(losses) / 10, 6)
        assert row["epoch:count"] == len(losses)
        assert set(row) >= {"id", "status", "lr", "run_time"}
    branch = next(row for row in rows if row["id"] == sweep.ids["g"])
    assert branch["epoch:count"] == 4  # two epochs of its parent, then two of its own
    assert branch["lr"] == 0.02
    # Configuration keys whose values differ, not those every trial shares.
    assert "lr" in rows[0] and "batch" in rows[0] and "epochs" not in rows[0]
    everything = sweep.json("compare", "--tags", "sweep", "--all")
    assert all(row["epochs"] == 4 for row in everything)


def test_a_compare_table_fits_the_terminal_and_marks_the_best_value(sweep):
    wide = sweep.kleio("compare", "--sort", "loss:min", "--tags", "sweep")
    lines = text(wide.stdout).splitlines()
    header = lines[0].split()
    assert header[:2] == ["ID", "STATUS"] and "loss:min" in header and "RUN TIME" in lines[0]
    column = lines[0].index("loss:min")
    marked = [line for line in lines[1:] if line[column:].split()[0].endswith("*")]
    assert marked == [lines[1]]  # the best value of the sorted column, first row
    narrow = sweep.kleio("compare", "--sort", "loss:min", "--tags", "sweep", COLUMNS="60")
    assert narrow.returncode == 0
    assert all(len(line) <= 60 for line in text(narrow.stdout).splitlines())
    assert "loss:min" in text(narrow.stdout).splitlines()[0]  # a sorted column stays
    assert "columns left out to fit the terminal" in text(narrow.stderr)


def test_a_table_a_little_too_wide_leaves_out_the_run_time_before_a_swept_key(sweep):
    wide = text(sweep.kleio("compare", "--tags", "sweep").stdout).splitlines()
    width = max(map(len, wide))
    narrow = sweep.kleio("compare", "--tags", "sweep", COLUMNS=str(width - 1))
    header = text(narrow.stdout).splitlines()[0].split()
    assert "RUN" not in header
    assert "lr" in header and "batch" in header, header
    assert "(run_time)" in text(narrow.stderr)


def test_compare_selects_by_id_where_status_and_limit(sweep):
    def names(*args):
        by_id = {trial_id: name for name, trial_id in sweep.ids.items()}
        return [by_id[row["id"]] for row in sweep.json("compare", *args)]

    assert sorted(names("--where", "lr=0.1")) == ["a", "h", "i"]
    assert sorted(names("--where", "lr=0.1", "--where", "batch>100")) == ["h", "i"]
    assert sorted(names("--where", "loss:min<0.07", "--where", "tags~swe")) == ["b", "c"]
    assert names("--status", "broken,interrupted", "--sort", "lr") == ["f", "e"]
    assert names("--sort", "-acc:max", "-n", "2") == ["b", "c"]
    assert names("--sort=-acc:max", "--limit", "2") == ["b", "c"]
    assert sorted(names(sweep.short("a"), sweep.ids["b"][:10])) == ["a", "b"]
    assert names("--where", "epoch:count<4") == ["f", "e"]
    csv_rows = list(csv.DictReader(io.StringIO(sweep.ok("compare", "--format", "csv", "-n", "1"))))
    assert csv_rows[0]["id"] == sweep.ids["i"] and float(csv_rows[0]["loss:last"]) > 0


# -- 2. ls -----------------------------------------------------------------------------


def test_ls_takes_where_sort_limit_and_since(sweep):
    def ids(*args):
        return [row["id"] for row in json.loads(sweep.ok("ls", "--json", *args))]

    everything = ids()
    assert ids("--sort", "created") == everything[::-1]
    assert ids("-n", "3") == everything[:3]
    assert ids("--where", "lr=0.1", "--sort", "-batch", "--limit", "2") == [
        sweep.ids["i"],
        sweep.ids["h"],
    ]
    assert ids("--where", "loss:min<0.07") == [sweep.ids["c"], sweep.ids["b"]]
    assert ids("--since", "1d") == everything
    assert ids("--since", "2999-01-01") == []
    assert ids("--where", "status=interrupted") == [sweep.ids["f"]]


def test_kleio_compare_in_python_gives_a_dataframe_or_dicts(sweep, monkeypatch):
    import kleio

    for name, value in sweep.env.items():
        if name.startswith(("KLEIO_", "XDG_")):
            monkeypatch.setenv(name, value)
    frame = kleio.compare(tags="sweep", sort="loss:min", keys="loss:min", limit=3)
    assert list(frame.columns[:3]) == ["id", "short_id", "status"]
    assert frame["loss:min"].tolist() == sorted(frame["loss:min"].tolist())
    monkeypatch.setitem(__import__("sys").modules, "pandas", None)  # not installed
    rows = kleio.compare(tags="sweep", sort="loss:min", keys="loss:min", limit=3)
    assert isinstance(rows, list) and [row["id"] for row in rows] == frame["id"].tolist()


# -- 3. tag, note, rm, gc --------------------------------------------------------------


def test_tags_and_notes_are_journalled_and_selectable(fresh):
    a, b = fresh.short("a"), fresh.short("b")
    assert fresh.ok("tag", a, b, "+best", "-sweep").splitlines() == [f"{a}  best", f"{b}  best"]
    assert sorted(
        row["id"] for row in json.loads(fresh.ok("ls", "--json", "--tags", "best"))
    ) == sorted([fresh.ids["a"], fresh.ids["b"]])
    assert len(fresh.json("compare", "--where", "tags~best")) == 2
    assert fresh.ok("tag", a, "-best", "+keep") == f"{a}  keep\n"
    fresh.ok("note", a, "lr 0.1 looks best so far")
    fresh.ok("note", a, "confirmed on the second seed")
    info = fresh.ok("info", a)
    assert "Notes" in info and "lr 0.1 looks best" in info and "second seed" in info
    assert info.index("lr 0.1 looks best") < info.index("second seed")
    assert [line.split("  ", 2)[2] for line in fresh.ok("note", a).splitlines()] == [
        "lr 0.1 looks best so far",
        "confirmed on the second seed",
    ]
    with fresh.store() as store:
        history = [event.data for event in store.read_events(fresh.ids["a"], ["tag"])]
        notes = list(store.read_events(fresh.ids["a"], ["note"]))
    assert history == [
        {"add": ["best"], "remove": ["sweep"], "tags": ["best"]},
        {"add": ["keep"], "remove": ["best"], "tags": ["keep"]},
    ]
    assert len(notes) == 2 and notes[0].time <= notes[1].time


def _counts(store, trial_id: str) -> tuple[bool, int, int]:
    return (
        store.get_trial(trial_id) is not None,
        store.count_events(trial_id),
        len(store.find_blobs({"trial": trial_id})),
    )


def test_rm_lists_asks_refuses_parents_and_deletes_everything_of_a_trial(fresh):
    e, a = fresh.ids["e"], fresh.ids["a"]
    with fresh.store() as store:
        before = _counts(store, e)
        assert before[0] and before[1] > 0 and before[2] == 0  # broken before its model
        assert _counts(store, a)[2] == 1
    one_line_error(fresh.kleio("rm"), "needs trial ids")
    one_line_error(fresh.kleio("rm", fresh.short("a")), "a child", "--with-children")
    listed = fresh.kleio("rm", "--status", "broken", "--dry-run")
    assert listed.returncode == 0 and text(listed.stdout).startswith(fresh.short("e"))
    assert "would delete 1 trial, " in text(listed.stderr)
    one_line_error(fresh.kleio("rm", "--status", "broken"), "--yes")  # no terminal to ask
    with fresh.store() as store:
        assert _counts(store, e) == before
    fresh.ok("rm", "--status", "broken", "--yes")
    fresh.ok("rm", fresh.short("a"), "--with-children", "--yes")
    with fresh.store() as store:
        for trial_id in (e, a, fresh.ids["g"]):
            assert _counts(store, trial_id) == (False, 0, 0)
        assert store.get_trial(fresh.ids["b"]) is not None
    listed = [row["id"] for row in json.loads(fresh.ok("ls", "--json"))]
    assert len(listed) == 6 and not {e, a, fresh.ids["g"]} & set(listed)


class _Terminal(io.StringIO):
    """Standard input as a terminal where the user types ``answer``."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("answer, deleted", [("n\n", False), ("\n", False), ("y\n", True)])
def test_rm_asks_on_a_terminal_and_deletes_only_on_yes(fresh, monkeypatch, answer, deleted):
    monkeypatch.setattr("sys.stdin", _Terminal(answer))
    result = invoke("rm", fresh.short("c"), env=fresh.env, cwd=fresh.project)
    assert result.returncode == (0 if deleted else 1), text(result.stderr)
    assert "delete 1 trial, " in text(result.stderr) and "[y/N]" in text(result.stderr)
    assert text(result.stdout).startswith(fresh.short("c"))  # what it will delete, first
    with fresh.store() as store:
        assert (store.get_trial(fresh.ids["c"]) is None) == deleted


@pytest.mark.slow
def test_rm_refuses_a_running_trial_and_deletes_a_lost_one(fresh, tmp_path):
    release = tmp_path / "go"
    process = start_kleio(
        fresh.env, fresh.project, "python", "train.py", "--lr", "0.3", "--wait-for", str(release)
    )
    try:
        deadline = time.monotonic() + 60
        while not Path(str(release) + ".started").exists():
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        running = next(
            row for row in json.loads(fresh.ok("ls", "--json")) if "0.3" in row["commandline"]
        )
        one_line_error(fresh.kleio("rm", running["id"], "--yes"), "is running", "stop it first")
        with fresh.store() as store:
            assert store.get_trial(running["id"])["status"] == "running"
        process.send_signal(signal.SIGKILL)  # kleio dies; its trial stays "running"
        process.wait(30)
        release.touch()  # the orphaned script ends
        time.sleep(1.2)
        lease = {"KLEIO_LEASE": "1", "KLEIO_HEARTBEAT": "0.5"}
        fresh.ok("rm", running["id"], "--yes", **lease)  # lost: may be deleted
        with fresh.store() as store:
            assert store.get_trial(running["id"]) is None
    finally:
        release.touch()
        if process.poll() is None:
            process.kill()
            process.wait(30)


@pytest.mark.parametrize("finisher", [("rm", "{id}", "--yes"), ("gc",)])
def test_an_interrupted_rm_hides_the_trial_and_running_again_finishes(fresh, monkeypatch, finisher):
    from kleio.store.mongodb import MongoStore
    from kleio.store.sqlite import SQLiteStore

    trial_id = fresh.ids["b"]
    backend = SQLiteStore if fresh.backend == "sqlite" else MongoStore

    def killed(self, trial):
        raise KeyboardInterrupt  # as if rm were stopped between the blobs and the events

    monkeypatch.setattr(backend, "delete_events", killed)
    stopped = invoke("rm", trial_id[:8], "--yes", env=fresh.env, cwd=fresh.project)
    assert stopped.returncode == 130, text(stopped.stderr)
    monkeypatch.undo()
    with fresh.store() as store:
        exists, events, blobs = _counts(store, trial_id)
        assert exists and events > 0 and blobs == 0  # half deleted...
    assert trial_id not in fresh.ok("ls", "--json")  # ...and listed nowhere
    assert trial_id not in fresh.ok("compare", "--format", "json")
    again = fresh.kleio(*(word.format(id=trial_id[:8]) for word in finisher))
    assert again.returncode == 0, text(again.stderr)
    assert "finished deleting 1 trial an interrupted" in text(again.stderr)
    with fresh.store() as store:
        assert _counts(store, trial_id) == (False, 0, 0)
        assert store.get_trial(fresh.ids["c"]) is not None


def test_a_half_imported_trial_is_hidden_named_by_gc_and_deleted_by_rm(fresh, monkeypatch):
    from kleio.core.curation import transfer

    archive = fresh.project.parent / "one.tar"
    fresh.ok("export", fresh.short("c"), "-o", str(archive))
    target = {**fresh.env, "KLEIO_DB_ADDRESS": str(archive.with_suffix(".db"))}
    monkeypatch.setattr(transfer, "mark_complete", lambda store, trial_id: None)  # stops there
    assert invoke("import", str(archive), env=target, cwd=fresh.project).returncode == 0
    monkeypatch.undo()
    assert json.loads(invoke("ls", "--json", env=target, cwd=fresh.project).stdout) == []
    collected = run_kleio("gc", env=target, cwd=fresh.project)
    assert f"1 trial half imported ({fresh.short('c')})" in text(collected.stderr)
    removed = run_kleio("rm", fresh.short("c"), "--yes", env=target, cwd=fresh.project)
    assert removed.returncode == 0, text(removed.stderr)
    with open_journal(target["KLEIO_DB_ADDRESS"]) as store:
        assert _counts(store, fresh.ids["c"]) == (False, 0, 0)
    # Interrupted again, then finished by importing the same file again.
    monkeypatch.setattr(transfer, "mark_complete", lambda store, trial_id: None)
    assert invoke("import", str(archive), env=target, cwd=fresh.project).returncode == 0
    monkeypatch.undo()
    again = run_kleio("import", str(archive), env=target, cwd=fresh.project)
    assert "new here: 0 trials, 0 events, 0 blobs" in text(again.stderr)
    listed = json.loads(invoke("ls", "--json", env=target, cwd=fresh.project).stdout)
    assert [row["id"] for row in listed] == [fresh.ids["c"]]


def test_gc_removes_what_deleted_trials_left(fresh):
    from kleio.core.curation.removal import collect_garbage

    orphan = "0" * 32
    with fresh.store() as store:
        from kleio.store.base import Event
        from kleio.store.keys import event_key

        store.append_events([Event(orphan, "statistic", event_key(1.0, "w", 0), 1.0, {"x": 1})])
        blob = store.put_blob(b"left behind", {"trial": orphan, "kind": "artifact"})
        fresh_blob = store.put_blob(b"a run about to create its trial", {"trial": "1" * 32})
    done = fresh.kleio("gc")
    assert done.returncode == 0, text(done.stderr)
    assert "removed 1 event of 1 trial that no longer exist" in text(done.stderr)
    with fresh.store() as store:
        assert orphan not in store.event_trials()
        assert store.read_summaries([orphan], "statistic") == {orphan: {}}
        # A blob of a missing trial is kept an hour: a run stores its diff first.
        assert store.blob_info(blob.id) is not None
        collected = collect_garbage(store, now=time.time() + 7200)
        assert collected.orphan_blobs == 2
        assert store.blob_info(blob.id) is None and store.blob_info(fresh_blob.id) is None


def _on_disk(database: Path) -> int:
    """The database file and its write-ahead log."""
    return sum(path.stat().st_size for path in (database, Path(f"{database}-wal")) if path.exists())


@pytest.mark.parametrize("sweep", ["sqlite"], indirect=True)  # MongoDB reuses its space itself
def test_gc_gives_the_space_of_a_large_artifact_back_to_the_file_system(fresh):
    database = Path(fresh.env["KLEIO_DB_ADDRESS"])
    fresh.ok("gc")
    size = database.stat().st_size
    result = fresh.kleio("python", "train.py", "--lr", "0.7", "--artifact-mb", "20")
    big = trial_id_in(result.stderr)
    assert _on_disk(database) > size + 20 * 2**20
    fresh.ok("rm", big, "--yes")
    report = fresh.kleio("gc")
    after = _on_disk(database)
    assert after <= size * 1.05, (size, after)
    assert "database" in text(report.stderr) and "->" in text(report.stderr)


# -- 4. diff ---------------------------------------------------------------------------


def test_diff_shows_configuration_code_environment_hosts_and_statistics(sweep):
    a, b, h, i = (sweep.short(name) for name in "abhi")
    same_code = json.loads(sweep.ok("diff", a, b, "--json"))
    assert same_code["configuration"] == {
        "added": {},
        "removed": {},
        "changed": {"lr": [0.1, 0.01]},
    }
    assert same_code["code"]["same"] and same_code["environment"]["packages"] == {
        "added": {},
        "removed": {},
        "changed": {},
    }
    assert same_code["statistics"]["loss"]["last"] == [loss(0.1, 32, 3), loss(0.01, 32, 3)]
    assert same_code["statistics"]["epoch"]["count"] == [4, 4]
    assert same_code["hosts"][0] == same_code["hosts"][1] and same_code["hosts"][0][0]["hostname"]

    uncommitted = json.loads(sweep.ok("diff", a, h, "--json"))
    # The script's default batch (32) against the 128 typed: a change, not an addition.
    assert uncommitted["configuration"]["changed"] == {"batch": [32, 128]}
    code = uncommitted["code"]
    assert not code["same"] and code["between"] == [] and code["files"] == ["train.py"]
    assert "+# tuned by hand, not committed" in code["diff"]

    later = json.loads(sweep.ok("diff", a, i, "--json"))["code"]
    assert [c["summary"] for c in later["between"]] == ["notes"]
    assert later["direction"] == "ahead" and later["files"] == ["notes.txt", "train.py"]
    assert "+second commit" in later["diff"]

    shown = sweep.ok("diff", a, i)
    for title in ("Configuration", "Code", "Environment", "Hosts", "Statistics"):
        assert f"\n{title}\n{'-' * len(title)}\n" in shown
    assert "  notes\n" in shown and "+# tuned by hand" in shown
    assert "+# tuned by hand" not in sweep.ok("diff", a, i, "--stat")


# -- 5. checkout -----------------------------------------------------------------------


def _files_in(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(folder).parts
    }


def test_checkout_rebuilds_the_files_a_trial_ran_and_prints_its_command(sweep, tmp_path):
    for name in ("h", "i"):
        folder = tmp_path / f"code-{name}"
        result = sweep.kleio("checkout", sweep.short(name), str(folder))
        assert result.returncode == 0, text(result.stderr)
        assert _files_in(folder) == sweep.files[name]  # byte for byte, uncommitted change too
        assert "scratch.txt (untracked, not recorded)" in text(result.stderr)
        batch = "128" if name == "h" else "256"
        assert text(result.stdout) == (
            f"cd {folder} && kleio python train.py --lr 0.1 --batch {batch} --epochs 4\n"
        )
    assert b"# tuned by hand" in (tmp_path / "code-h" / "train.py").read_bytes()
    assert not (tmp_path / "code-h" / "notes.txt").exists()


def test_checkout_into_a_folder_that_is_not_empty_changes_nothing(sweep, tmp_path):
    folder = tmp_path / "taken"
    folder.mkdir()
    (folder / "mine.txt").write_text("keep me")
    one_line_error(sweep.kleio("checkout", sweep.short("a"), str(folder)), "not an empty folder")
    assert _files_in(folder) == {"mine.txt": b"keep me"}


# -- 6. export and import --------------------------------------------------------------


def _everything(store) -> dict:
    """Documents, events, blobs and summaries of a journal, comparable across stores."""
    trials = sorted(store.find_trials(), key=lambda document: document["_id"])
    ids = [document["_id"] for document in trials]
    return {
        "trials": trials,
        "events": {
            trial_id: [tuple(event) for event in store.read_events(trial_id)] for trial_id in ids
        },
        "blobs": {
            blob.id: (blob.metadata, blob.length, b"".join(store.read_blob(blob.id)))
            for trial_id in ids
            for blob in store.find_blobs({"trial": trial_id})
        },
        "summaries": store.read_summaries(ids, "statistic"),
    }


@pytest.mark.parametrize("sweep", ["sqlite"], indirect=True)  # the journey starts on SQLite
def test_a_journal_moves_from_sqlite_to_mongodb_and_back_identical(sweep, tmp_path, wire_server):
    wire = {
        **sweep.env,
        "KLEIO_DB_ADDRESS": wire_server.uri,
        "KLEIO_DB_NAME": unique_database_name(),
    }
    back = {**sweep.env, "KLEIO_DB_ADDRESS": str(tmp_path / "back.db")}
    first, second = tmp_path / "first.tar", tmp_path / "second.tar"
    try:
        sweep.ok("export", "-o", str(first))
        imported = run_kleio("import", str(first), env=wire, cwd=sweep.project)
        assert imported.returncode == 0, text(imported.stderr)
        assert "new here: 9 trials" in text(imported.stderr)
        again = run_kleio("import", str(first), env=wire, cwd=sweep.project)
        assert "new here: 0 trials, 0 events, 0 blobs" in text(again.stderr)
        assert invoke("export", "-o", str(second), env=wire, cwd=sweep.project).returncode == 0
        assert run_kleio("import", str(second), env=back, cwd=sweep.project).returncode == 0
        with (
            sweep.store() as source,
            open_journal(wire_server.uri, wire["KLEIO_DB_NAME"]) as middle,
            open_journal(back["KLEIO_DB_ADDRESS"]) as end,
        ):
            original = _everything(source)
            assert _everything(middle) == original
            assert _everything(end) == original
        assert original["blobs"] and all(original["events"].values())
        listed = invoke("ls", "--json", env=back, cwd=sweep.project)
        assert json.loads(listed.stdout) == json.loads(sweep.ok("ls", "--json"))
    finally:
        with open_journal(wire_server.uri, wire["KLEIO_DB_NAME"]) as store:
            store._db.client.drop_database(wire["KLEIO_DB_NAME"])


def test_exporting_a_branch_brings_the_ancestors_its_view_reads(sweep, tmp_path):
    archive = tmp_path / "branch.tar"
    exported = sweep.kleio("export", sweep.short("g"), "-o", str(archive))
    assert "exported 2 trials (1 of them ancestors" in text(exported.stderr)
    target = {**sweep.env, "KLEIO_DB_ADDRESS": str(tmp_path / "t.db"), "KLEIO_DB_NAME": "kleio"}
    assert run_kleio("import", str(archive), env=target, cwd=sweep.project).returncode == 0
    stats = invoke("stats", sweep.short("g"), "--format", "json", env=target, cwd=sweep.project)
    assert [row["epoch"] for row in json.loads(stats.stdout)] == [0, 1, 2, 3]


def test_export_goes_to_standard_output_for_a_pipe(sweep, tmp_path):
    result = run_kleio("export", sweep.short("a"), env=sweep.env, cwd=sweep.project)
    assert result.returncode == 0, text(result.stderr)
    with tarfile.open(fileobj=io.BytesIO(result.stdout), mode="r|") as archive:
        names = [member.name for member in archive]
    assert names[0] == "kleio-export.json" and names[-1] == "end.json"
    assert f"trials/{sweep.ids['a']}/trial.json" in names


# -- bad input -------------------------------------------------------------------------


def test_unknown_keys_and_bad_conditions_are_one_line_that_says_what_exists(sweep):
    line = one_line_error(sweep.kleio("compare", "--keys", "loss:min,nope"), "'nope'", "--keys")
    assert "configuration: lr, batch" in line and "statistics: acc, epoch, loss" in line
    one_line_error(sweep.kleio("compare", "--sort", "nope:min"), "'nope:min'", "--sort")
    one_line_error(sweep.kleio("ls", "--sort", "-lrr"), "'lrr'", "configuration: lr")
    one_line_error(sweep.kleio("compare", "--where", "lr="), "no value after '='")
    one_line_error(sweep.kleio("ls", "--where", "loss:avg<1"), "unknown summary 'avg'")
    one_line_error(sweep.kleio("compare", "--where", "lr"), "expected KEY OP VALUE")
    one_line_error(sweep.kleio("ls", "--since", "last week"), "bad date")


def test_importing_a_file_that_is_not_a_whole_export_imports_nothing(sweep, tmp_path):
    target = {**sweep.env, "KLEIO_DB_ADDRESS": str(tmp_path / "t.db"), "KLEIO_DB_NAME": "kleio"}
    archive = tmp_path / "all.tar"
    sweep.ok("export", "-o", str(archive))
    data = archive.read_bytes()
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(data[: len(data) // 2])
    at_boundary = tmp_path / "cut.tar"
    with tarfile.open(archive) as whole, tarfile.open(at_boundary, "w") as cut:
        for member in whole.getmembers()[:-1]:  # everything but the end record
            cut.addfile(member, whole.extractfile(member))
    newer = tmp_path / "newer.tar"
    with tarfile.open(newer, "w") as archive_file:
        header = json.dumps({"format": "kleio-export", "version": 2}).encode()
        info = tarfile.TarInfo("kleio-export.json")
        info.size = len(header)
        archive_file.addfile(info, io.BytesIO(header))
    for path, fragment in [
        (sweep.project / "train.py", "is not a Kleio export"),
        (truncated, "truncated"),
        (at_boundary, "truncated"),
        (newer, "newer Kleio (format version 2"),
        (tmp_path / "missing.tar", "no file"),
    ]:
        one_line_error(run_kleio("import", str(path), env=target, cwd=sweep.project), fragment)
    listed = invoke("ls", "--json", env=target, cwd=sweep.project)
    assert json.loads(listed.stdout) == []
    with open_journal(target["KLEIO_DB_ADDRESS"]) as store:
        assert store.event_trials() == set()


@pytest.mark.parametrize(
    "damage",
    [b"{not json\n", b'{"kind": "statistic", "key": "k"}\n', b'{"text": "\xff\xfe"}\n', b"[]\n"],
    ids=["not-json", "missing-keys", "not-utf-8", "not-an-object"],
)
def test_an_archive_with_a_damaged_event_line_is_refused_in_one_line(sweep, tmp_path, damage):
    target = {**sweep.env, "KLEIO_DB_ADDRESS": str(tmp_path / "t.db"), "KLEIO_DB_NAME": "kleio"}
    archive = tmp_path / "all.tar"
    sweep.ok("export", "-o", str(archive))
    damaged = tmp_path / "damaged.tar"
    with tarfile.open(archive) as whole, tarfile.open(damaged, "w") as copy:
        for member in whole.getmembers():
            data = whole.extractfile(member).read()
            if "/events-" in member.name:
                data = damage + data
                member.size = len(data)
            copy.addfile(member, io.BytesIO(data))
    one_line_error(
        run_kleio("import", str(damaged), env=target, cwd=sweep.project),
        "is damaged: trials/",
        "/events-000001.jsonl: an event",
    )


# -- code that is not at hand ----------------------------------------------------------


def test_diff_without_the_repository_compares_the_recorded_diffs(kleio, project, tmp_path):
    (project / "train.py").write_text("print('first version')\n")
    first = trial_id_in(kleio("python", "train.py", "--lr", "0.1").stderr)
    (project / "train.py").write_text("print('second version')\n")
    second = trial_id_in(kleio("python", "train.py", "--lr", "0.2").stderr)
    project.rename(tmp_path / "moved")  # the repository is gone from where it was
    result = kleio("diff", first[:8], second[:8], "--json", cwd=tmp_path)
    assert result.returncode == 0, text(result.stderr)
    code = json.loads(result.stdout)["code"]
    assert code["between"] is None and "is not at hand" in code["note"]
    assert (
        "-+print('first version')" in code["diff"] and "++print('second version')" in code["diff"]
    )


def test_checkout_clones_a_recorded_remote_when_the_repository_is_gone(kleio, project, tmp_path):
    remote = tmp_path / "remote.git"
    git(project, "clone", "-q", "--bare", str(project), str(remote))
    git(project, "remote", "add", "origin", str(remote))
    (project / "train.py").write_text("print('changed, not committed')\n")
    ran = trial_id_in(kleio("python", "train.py").stderr)
    files = _tracked_files(project)
    project.rename(tmp_path / "moved")
    result = kleio("checkout", ran[:8], str(tmp_path / "copy"), cwd=tmp_path)
    assert result.returncode == 0, text(result.stderr)
    assert f"clone of origin ({remote})" in text(result.stderr)
    assert _files_in(tmp_path / "copy") == files


def test_checkout_restores_uncommitted_binary_changes(kleio, project, tmp_path):
    (project / "weights.bin").write_bytes(bytes(range(256)) * 64)
    commit(project, "weights")
    changed = bytes(reversed(range(256))) * 80 + b"\x00\xff"
    (project / "weights.bin").write_bytes(changed)
    ran = trial_id_in(kleio("python", "train.py").stderr)
    (project / "weights.bin").write_bytes(b"changed again after the run")
    result = kleio("checkout", ran[:8], str(tmp_path / "copy"))
    assert result.returncode == 0, text(result.stderr)
    assert (tmp_path / "copy" / "weights.bin").read_bytes() == changed
    assert "not restored" not in text(result.stderr)


def test_checkout_of_a_commit_rebased_away_names_it_and_the_remotes(kleio, project, tmp_path):
    git(project, "remote", "add", "origin", str(tmp_path / "gone.git"))
    (project / "train.py").write_text("print('to be rewritten')\n")
    commit(project, "soon rewritten")
    ran = trial_id_in(kleio("python", "train.py").stderr)
    recorded = git(project, "rev-parse", "HEAD").strip()
    git(project, "reset", "-q", "--hard", "HEAD~1")
    git(project, "reflog", "expire", "--expire-unreachable=now", "--all")
    git(project, "gc", "-q", "--prune=now")
    folder = tmp_path / "copy"
    line = one_line_error(kleio("checkout", ran[:8], str(folder)), recorded, "rebased away")
    assert f"origin={tmp_path / 'gone.git'}" in line
    assert not folder.exists()


@pytest.mark.parametrize(
    "url",
    ["ext::sh -c touch% {marker}", "--upload-pack=touch {marker}", "fd::17", "hg::http://x/y"],
    ids=["ext", "option", "fd", "remote-helper"],
)
def test_checkout_never_clones_a_remote_whose_transport_runs_a_command(
    kleio, project, tmp_path, url
):
    """A recorded remote comes from the journal, which an imported archive may have
    written: git's ext:: transport would run its command. Nothing runs; one line says
    which remotes were not tried."""
    marker = tmp_path / "ran"
    git(project, "config", "remote.origin.url", url.format(marker=marker))
    ran = trial_id_in(kleio("python", "train.py").stderr)
    project.rename(tmp_path / "moved")
    line = one_line_error(
        kleio("checkout", ran[:8], str(tmp_path / "copy"), cwd=tmp_path),
        "transport could run a command: origin",
    )
    assert "Traceback" not in line
    assert not marker.exists() and not (tmp_path / "copy").exists()


def test_checkout_into_a_symbolic_link_is_refused(kleio, project, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "link").symlink_to(elsewhere)
    ran = trial_id_in(kleio("python", "train.py").stderr)
    one_line_error(kleio("checkout", ran[:8], str(tmp_path / "link")), "is a symbolic link")
    assert not any(elsewhere.iterdir())
