"""A study end to end, on SQLite: a 3 x 3 sweep of the example script saved by one
command, run by two workers at once, then read as groups.

The study (built once per backend): ``kleio sweep`` of ``examples/train.py`` over three
learning rates and three seeds, its trials run by two ``kleio run --study`` workers
started together.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy
import pytest

from kleio.core.model.catalogue import open_journal
from tests.conftest import commit, git
from tests.helpers import clean_environment, kleio_runner, one_line_error, start_kleio, text
from tests.mongo_server import unique_database_name

EXAMPLE = Path(__file__).parents[2] / "examples" / "train.py"
LRS, SEEDS = ["0.1", "0.01", "0.001"], [0, 1, 2]
#: The sweep as a user types it (the shell has taken the quotes off).
SWEEP = [
    "python",
    "train.py",
    "--epochs",
    "3",
    "--sleep",
    "0",
    "--lr",
    f"[{','.join(LRS)}]",
    "--seed",
    "range(3)",
]
#: SQLite alone. Workers racing for saved trials on the wire backend are tested by
#: tests/faults/test_load.py (eight workers, 200 trials) and tests/cluster/test_slurm.py
#: (an array of three); what the study's commands read goes through the store contract,
#: checked on the wire stand-in in tests/store. The study on the wire ran both again (15 s).
BACKENDS = ["sqlite"]


class Study:
    def __init__(self, backend: str, project: Path, env: dict[str, str]):
        self.backend, self.project, self.env = backend, project, env
        self.kleio = kleio_runner(env, project, timeout=180)

    def ok(self, *args: str) -> str:
        result = self.kleio(*args)
        assert result.returncode == 0, text(result.stderr)
        return text(result.stdout)

    def json(self, *args: str):
        return json.loads(self.ok(*args, "--format", "json"))

    def store(self):
        return open_journal(self.env["KLEIO_DB_ADDRESS"], self.env["KLEIO_DB_NAME"])

    def documents(self) -> list[dict]:
        with self.store() as store:
            return store.find_trials()


@pytest.fixture(scope="module", params=BACKENDS)
def study(request, tmp_path_factory) -> Study:
    folder = tmp_path_factory.mktemp(f"study-{request.param}")
    project = folder / "project"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    shutil.copy(EXAMPLE, project / "train.py")
    commit(project, "first")
    if request.param == "sqlite":
        address, name = str(folder / "kleio.db"), "kleio"
    else:
        address, name = request.getfixturevalue("wire_server").uri, unique_database_name()
    env = clean_environment(
        folder / "home", KLEIO_DB_ADDRESS=address, KLEIO_DB_NAME=name, COLUMNS="200"
    )
    made = Study(request.param, project, env)
    dry = made.kleio("sweep", "--dry-run", *SWEEP)
    made.dry_run = dry
    made.before_dry_run = len(made.documents())
    made.saved = made.kleio("sweep", "--study", "lr-seed", *SWEEP)
    made.again = made.kleio("sweep", "--study", "lr-seed", *SWEEP)
    workers = [start_kleio(env, project, "run", "--study", "lr-seed") for _ in range(2)]
    made.workers = [(w.wait(timeout=180), *w.communicate()) for w in workers]
    yield made
    if request.param == "wire":
        with made.store() as store:
            store._db.client.drop_database(name)


def test_a_dry_run_prints_every_command_and_saves_nothing(study):
    assert study.dry_run.returncode == 0, text(study.dry_run.stderr)
    lines = text(study.dry_run.stdout).splitlines()
    assert len(lines) == 9
    expected = {
        f"python train.py --epochs 3 --sleep 0 --lr {lr} --seed {seed}"
        for lr in LRS
        for seed in SEEDS
    }
    assert set(lines) == expected
    assert "9 trials" in text(study.dry_run.stderr)
    assert study.before_dry_run == 0


def test_the_sweep_saves_nine_trials_once(study):
    assert study.saved.returncode == 0, text(study.saved.stderr)
    assert "9 saved" in text(study.saved.stderr)
    assert study.again.returncode == 0, text(study.again.stderr)
    assert "0 saved" in text(study.again.stderr), text(study.again.stderr)
    assert "9 in the study already" in text(study.again.stderr)
    documents = study.documents()
    assert len(documents) == 9
    assert {d.get("study") for d in documents} == {"lr-seed"}


def test_each_trial_is_the_trial_of_its_plain_command(study):
    """A point run as a plain command afterwards is the study's trial: nothing is made."""
    ids = {d["_id"] for d in study.documents()}
    result = study.kleio("save", "python", "train.py", *SWEEP[2:6], "--lr", "0.01", "--seed", "1")
    assert result.returncode == 0, text(result.stderr)
    assert "already exists (completed)" in text(result.stderr)
    assert {d["_id"] for d in study.documents()} == ids


def test_two_workers_run_each_trial_exactly_once(study):
    for code, _, stderr in study.workers:
        assert code == 0, text(stderr)
    reserved = [
        line
        for _, _, stderr in study.workers
        for line in text(stderr).splitlines()
        if line.startswith("trial reserved with id:")
    ]
    assert len(reserved) == 9 and len(set(reserved)) == 9
    assert all(len(list(text(e).splitlines())) for _, _, e in study.workers)
    for document in study.documents():
        assert document["status"] == "completed"
        assert document["executions"] == 1


def test_readers_select_the_study(study):
    assert len(study.json("ls", "--study", "lr-seed")) == 9
    assert study.json("ls", "--study", "other") == []
    rows = study.json("compare", "--study", "lr-seed", "--sort", "loss:min")
    assert len(rows) == 9 and rows[0]["loss:last"] is not None


def test_groups_of_the_study_are_numpys_mean_and_deviation(study):
    """One row per learning rate: n = 3 seeds, mean and std (ddof=0) as numpy's."""
    losses: dict[float, list[float]] = {}
    with study.store() as store:
        for document in store.find_trials(study="lr-seed"):
            summary = store.read_summaries([document["_id"]], "statistic")[document["_id"]]
            losses.setdefault(document["configuration"]["lr"], []).append(summary["loss"].min)
    rows = study.json("compare", "--study", "lr-seed", "--group-by", "lr", "--keys", "loss:min")
    assert len(rows) == 3
    for row in rows:
        values = numpy.array(losses[row["lr"]])
        assert row["n"] == 3
        assert row["loss:min:mean"] == pytest.approx(numpy.mean(values), rel=1e-12)
        assert row["loss:min:std"] == pytest.approx(numpy.std(values), rel=1e-9, abs=1e-15)


def test_studies_lists_counts_and_the_best_trial(study):
    (row,) = study.json("studies")
    losses = {}
    with study.store() as store:
        for document in store.find_trials():
            summary = store.read_summaries([document["_id"]], "statistic")[document["_id"]]
            losses[document["_id"]] = summary["loss"].min
    best = min(losses, key=losses.get)
    assert row["study"] == "lr-seed" and row["trials"] == 9 and row["completed"] == 9
    assert row["best_trial"] == best and row["best"] == losses[best]
    table = study.ok("studies")
    assert "lr-seed" in table and best[:7] in table
    (highest,) = study.json("studies", "--best", "-loss:min")
    assert highest["best_trial"] == max(losses, key=losses.get)


def test_the_study_is_exported_alone(study, tmp_path):
    archive = tmp_path / "study.tar"
    result = study.kleio("export", "--study", "lr-seed", "-o", str(archive))
    assert result.returncode == 0, text(result.stderr)
    assert "9 trials" in text(result.stderr)


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["sweep", "python", "train.py", "--lr", "0.1"], "nothing to sweep"),
        (["sweep", "--study", "bad name", *SWEEP], "bad study name"),
        (["sweep", "python", "train.py", "--lr", "[0.1,0.2"], "--lr"),
        (["run", "--jobs", "2", "python", "train.py"], "--jobs runs the trials"),
        (["run", "--study", "a", "--tags", "b"], "not both"),
        (["studies", "--study", "nosuch"], "no study named nosuch"),
        (["run", "--study", "nosuch"], "no study named nosuch"),
        (["run", "--study", "nosuch", "--jobs", "2"], "no study named nosuch"),
        (["studies", "--best", "nosuch:min"], "(--best)"),
    ],
)
def test_mistakes_get_one_line(study, args, fragment):
    one_line_error(study.kleio(*args), fragment)


def test_more_than_a_thousand_trials_ask_for_yes(study):
    before = len(study.documents())
    result = study.kleio("sweep", "python", "train.py", "--lr", "range(1001)")
    assert result.returncode != 0
    assert "--yes" in text(result.stderr) and "1,001 trials" in text(result.stderr)
    assert len(study.documents()) == before


@pytest.mark.slow
def test_jobs_run_a_study_k_at_a_time(tmp_path):
    """``--jobs 2``: two trials at once from one kleio, each output journalled apart."""
    project = tmp_path / "project"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    shutil.copy(EXAMPLE, project / "train.py")
    commit(project, "first")
    env = clean_environment(tmp_path / "home")
    kleio = kleio_runner(env, project)
    saved = kleio(
        "sweep",
        "--study",
        "s",
        "python",
        "train.py",
        "--epochs",
        "4",
        "--sleep",
        "0.2",
        "--seed",
        "range(4)",
    )
    assert saved.returncode == 0, text(saved.stderr)
    result = kleio("run", "--study", "s", "--jobs", "2")
    assert result.returncode == 0, text(result.stderr)
    lines = text(result.stderr).splitlines()
    assert sum("completed" in line and "--seed" in line for line in lines) == 4
    assert "2 workers ran the trials of study s: 4 completed" in lines[-1]
    with open_journal(str(tmp_path / "home" / "kleio.db")) as store:
        documents = store.find_trials()
        assert [d["status"] for d in documents] == ["completed"] * 4
        for document in documents:
            # Each trial's output is its own: its four epochs, the losses it logged.
            output = text(kleio("cat", document["_id"][:7]).stdout).splitlines()
            losses = [e.data["loss"] for e in store.read_events(document["_id"], ["statistic"])]
            assert [line.split()[3] for line in output] == [f"{loss:.5f}" for loss in losses]
            assert len(output) == 4
    # Two at a time: some trial started before another ended.
    spans = sorted((d["started"], d["ended"]) for d in documents)
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:], strict=False))


def test_a_narrow_table_keeps_every_statistics_mean_before_extra_aggregates(study):
    """At 80 columns with five aggregates asked, each statistic keeps its mean ± std: the
    metric a researcher came for is never left out for another's median."""
    result = study.kleio(
        "compare", "--study", "lr-seed", "--group-by", "lr", "--agg", "mean,std,min,max,median",
        COLUMNS="80",
    )  # fmt: skip
    assert result.returncode == 0, text(result.stderr)
    header = text(result.stdout).splitlines()[0].split()
    assert {"loss:last", "epoch:last"} <= set(header), header
    assert "columns left out" in text(result.stderr)


def test_info_names_the_study_and_the_api_selects_it(study, monkeypatch):
    import kleio

    trial = study.documents()[0]["_id"]
    assert "study:        lr-seed" in study.ok("info", trial[:7])
    for name, value in study.env.items():
        monkeypatch.setenv(name, value)
    assert len(kleio.list_trials(study="lr-seed")) == 9
    assert kleio.list_trials(study="nosuch") == []
    rows = kleio.compare(study="lr-seed", group_by="lr", keys="loss:min")
    assert sorted(rows["n"]) == [3, 3, 3]


@pytest.mark.slow
def test_jobs_on_a_terminal_redraw_a_line_per_trial(tmp_path):
    """On a terminal, ``--jobs`` redraws its lines in place: a line per trial, then the
    counts, never the worker's own routine messages."""
    import os
    import pty
    import subprocess

    from tests.helpers import KLEIO

    project = tmp_path / "project"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    shutil.copy(EXAMPLE, project / "train.py")
    commit(project, "first")
    env = clean_environment(tmp_path / "home")  # a terminal of size 0 x 0, as a new pty
    kleio = kleio_runner(env, project)
    saved = kleio("sweep", "--study", "t", "python", "train.py", "--epochs", "3", "--sleep",
                  "0.1", "--seed", "range(3)")  # fmt: skip
    assert saved.returncode == 0, text(saved.stderr)
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [*KLEIO, "run", "--study", "t", "--jobs", "2"],
        cwd=project, env=env, stdin=terminal, stdout=terminal, stderr=terminal,
    )  # fmt: skip
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal closed: every process holding it ended
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    assert process.wait(timeout=60) == 0
    screen = shown.decode("utf-8", "replace")
    assert "\x1b[2K" in screen  # lines redrawn in place
    finals = [line for line in screen.splitlines() if "completed" in line and "--seed" in line]
    assert {line.split("--seed")[1].split()[0] for line in finals} == {"0", "1", "2"}
    assert "trial reserved with id" not in screen
    assert "2 workers ran the trials of study t: 3 completed" in screen.rstrip().splitlines()[-1]


def test_rm_takes_a_study(study):
    """``kleio rm --study NAME`` is a selection rm accepts (it never deletes every trial
    by default): here a dry run lists the study's nine trials."""
    listed = study.kleio("rm", "--study", "lr-seed", "--dry-run")
    assert listed.returncode == 0, text(listed.stderr)
    shown = text(listed.stdout) + text(listed.stderr)
    assert all(d["_id"][:7] in shown for d in study.documents())
    assert len(study.documents()) == 9
