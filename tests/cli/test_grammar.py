"""One grammar across the commands that read: the same words mean the same thing.

Selection, conditions, sorting and output options are shared by every reader; a table
of commands checks each word on each command that takes it (``stats --sort -loss`` once
was ignored while ``ls`` sorted in descending order; ``stats --where 'loss<0.02'`` was
refused while ``ls`` took it; ``--json`` was unrecognized by ``compare`` and ``stats``;
``plot --all`` and ``rm --where`` were refused while ``compare`` took them).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import TRAIN, commit, git, write_script
from tests.helpers import clean_environment, invoke, kleio_runner, text, trial_id_in

SWEEP = """\
import argparse
from kleio.client.logger import kleio_logger as log
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, required=True)
parser.add_argument("--batch", type=int, default=32)
args = parser.parse_args()
for epoch in range(1, 4):
    log.log_statistic(epoch=epoch, loss=args.lr / epoch)
    log.log_artifact("weights", b"w%d" % epoch, epoch=epoch)
"""


@pytest.fixture(scope="module")
def made_sweep(tmp_path_factory) -> tuple[list[str], Path, Path]:
    """The sweep's project and journal, run once for the module: two runs of kleio took
    a second before each of the 24 tests that read it. Each test gets a copy (some change it)."""
    folder = tmp_path_factory.mktemp("grammar")
    home, project = folder / "kleio-home", folder / "mnist"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    (project / "train.py").write_text(TRAIN)
    commit(project, "first")
    write_script(project, "sweep.py", SWEEP)
    commit(project)
    kleio = kleio_runner(clean_environment(home), project)
    ids = [
        trial_id_in(kleio("run", "--tags", f"sweep;{tag}", "python", "sweep.py", "--lr", lr).stderr)
        for lr, tag in (("0.1", "low"), ("0.2", "high"))
    ]
    return ids, home, project


@pytest.fixture
def sweep(made_sweep, project, home, env):
    """Two trials of ``sweep.py`` (lr 0.1 tagged ``low``, lr 0.2 tagged ``high``) in this
    test's project and journal, where the ``kleio`` fixture finds them: a copy of the
    module's."""
    ids, made_home, made_project = made_sweep
    shutil.rmtree(project)
    shutil.copytree(made_project, project, symlinks=True)
    shutil.copytree(made_home, home, symlinks=True)

    def read(*args: str):
        return invoke(*args, env=env, cwd=project)

    return list(ids), read


def _json(result):
    assert result.returncode == 0, text(result.stderr)
    return json.loads(result.stdout)


#: command -> (words before the shared ones, the key its rows are told apart by)
READERS = {
    "ls": ([], "id"),
    "compare": ([], "id"),
    "stats": (["{first}"], "epoch"),
    "artifacts": (["{first}"], "epoch"),
}
#: The readers that sort (``artifacts`` lists the latest first, always).
SORTING = ["ls", "compare", "stats"]
#: reader -> a condition ``KEY<VALUE`` that keeps some of its rows and not all.
CONDITIONS = {
    "ls": "lr<0.15",
    "compare": "lr<0.15",
    "stats": "loss<0.06",
    "artifacts": "epoch<2",
}


@pytest.mark.parametrize("command", list(READERS))
def test_json_is_format_json_on_every_reader(sweep, command):
    ids, read = sweep
    before = [word.format(first=ids[0][:7]) for word in READERS[command][0]]
    assert _json(read(command, *before, "--json")) == _json(
        read(command, *before, "--format", "json")
    )


@pytest.mark.parametrize("command", SORTING)
def test_a_minus_sorts_in_descending_order_on_every_reader(sweep, command):
    ids, read = sweep
    before = [word.format(first=ids[0][:7]) for word in READERS[command][0]]
    key = "loss" if command == "stats" else "lr"
    ascending = _json(read(command, *before, "--sort", key, "--json"))
    descending = _json(read(command, *before, "--sort", f"-{key}", "--json"))
    assert descending == list(reversed(ascending)) and ascending != descending


@pytest.mark.parametrize("command", list(CONDITIONS))
def test_conditions_take_every_operator_on_every_reader(sweep, command):
    ids, read = sweep
    before = [word.format(first=ids[0][:7]) for word in READERS[command][0]]
    condition = CONDITIONS[command]
    kept = _json(read(command, *before, "--where", condition, "--json"))
    everything = _json(read(command, *before, "--json"))
    assert 0 < len(kept) < len(everything)
    other = condition.replace("<", ">=")  # the complement, by another operator
    rest = _json(read(command, *before, "--where", other, "--json"))
    assert len(kept) + len(rest) == len(everything), (other, rest)


def test_artifacts_get_takes_a_condition(sweep, tmp_path):
    ids, read = sweep
    result = read(
        "artifacts", "get", ids[0][:7], "weights", "--where", "epoch<=2", "-o", str(tmp_path)
    )
    assert result.returncode == 0, text(result.stderr)
    assert (tmp_path / "weights").read_bytes() == b"w2"  # the latest that meets it
    missing = read("artifacts", "get", ids[0][:7], "weights", "--where", "epoch>3")
    errors = text(missing.stderr)
    assert missing.returncode == 1 and errors.count("\n") == 1, errors
    assert "no artifact 'weights' where epoch>3" in errors, errors


@pytest.mark.parametrize("command", ["compare", "stats"])
def test_a_key_nothing_holds_is_an_error_naming_those_that_exist(sweep, command):
    ids, read = sweep
    before = [ids[0][:7]] if command == "stats" else []
    result = read(command, *before, "--keys", "nokey", "--json")
    errors = text(result.stderr)
    assert result.returncode == 2 and errors.count("\n") == 1, errors
    assert "'nokey'" in errors and "loss" in errors


def test_a_configuration_key_named_in_keys_is_one_column(sweep):
    _, read = sweep
    rows = _json(read("compare", "--keys", "lr,loss:min", "--json"))
    assert all(list(row).count("lr") == 1 for row in rows)
    shown = text(read("compare", "--keys", "lr,loss:min").stdout)
    assert shown.splitlines()[0].split().count("lr") == 1, shown


def _shown(output: str, ids: list[str]) -> list[str]:
    """The trials of ``ids`` whose short id ``output`` names."""
    return [trial for trial in ids if trial[:7] in output]


#: Every command that selects trials -> the words it needs besides the selection, and how
#: the trials it selected show: the short ids in what it prints, or their count.
SELECTING = {
    "ls": ([], "ids"),
    "compare": ([], "ids"),
    "plot": (["--y", "loss"], "ids"),
    "export": (["-o", "{tmp}/out.kleio"], "count"),
    "rm": (["--dry-run"], "ids"),
}
#: Each selection word, its words and the trial of the sweep (0: lr 0.1, 1: lr 0.2) it
#: keeps alone (``rm`` needs more than an order and a count to delete).
SELECTIONS = {
    "id": (["{first}"], 0),
    "name": (["low-lr"], 0),
    "--tags": (["--tags", "high"], 1),
    "--status": (["--status", "completed", "{first}"], 0),
    "--project": (["--project", "mnist", "--tags", "high"], 1),
    "--since": (["--since", "1d", "--tags", "low"], 0),
    "--where": (["--where", "lr>0.15"], 1),
    "--sort/-n": (["--sort", "-lr", "-n", "1", "--tags", "sweep"], 1),
    "--sort/--limit": (["--sort", "lr", "--limit", "1", "--tags", "sweep"], 0),
}


@pytest.mark.parametrize("command", list(SELECTING))
def test_every_command_that_selects_trials_takes_every_selection_word(
    sweep, kleio, tmp_path, command
):
    ids, read = sweep
    assert kleio("name", ids[0][:7], "low-lr").returncode == 0
    before, shown = SELECTING[command]
    wrong = {}
    for word, (words, kept) in SELECTIONS.items():  # one sweep for every word: 1 s each
        chosen = [w.format(first=ids[0][:7], tmp=tmp_path) for w in [*words, *before]]
        result = read(command, *chosen)
        output = text(result.stdout) + text(result.stderr)
        if shown == "ids":
            right = result.returncode == 0 and _shown(output, ids) == [ids[kept]]
        else:
            right = result.returncode == 0 and "exported 1 trial," in output
        if not right:
            wrong[word] = output
    assert not wrong, wrong


#: The words of :data:`SELECTIONS` as options (an id or a name is a positional ``ID``).
SELECTION_OPTIONS = ("--tags", "--status", "--project", "--since", "--where", "--sort", "-n")


def _options(command: str) -> set[str]:
    from kleio.cli.main import _subparser, build_parser

    parser = _subparser(build_parser([command]), command)
    return {option for action in parser._actions for option in action.option_strings}


def test_the_table_of_commands_that_select_trials_is_every_such_command():
    """A command that selects trials by ``--status`` takes every selection word, and is in
    :data:`SELECTING`, so the test above tries each word on it."""
    from kleio.cli.main import COMMANDS

    selecting = [name for name in COMMANDS if "--status" in _options(name)]
    assert sorted(selecting) == sorted(SELECTING)
    missing = {
        name: [o for o in SELECTION_OPTIONS if o not in _options(name)] for name in selecting
    }
    assert not any(missing.values()), missing


@pytest.mark.parametrize("command", ["compare", "plot"])
def test_all_shows_every_configuration_key_on_every_reader_that_shows_them(sweep, command):
    _, read = sweep
    before = ["--y", "loss"] if command == "plot" else []
    differing = text(read(command, *before).stdout)
    every = text(read(command, *before, "--all").stdout)
    assert "lr" in differing and "batch" not in differing, differing
    assert "batch" in every and "32" in every, every


def test_rm_deletes_what_a_condition_selects(sweep, kleio):
    ids, read = sweep
    result = kleio("rm", "--where", "lr>0.15", "--yes")
    assert result.returncode == 0, text(result.stderr)
    listed = _json(read("ls", "--json"))
    assert [row["id"] for row in listed] == [ids[0]]


def test_rm_refuses_a_limit_alone(sweep, kleio):
    ids, read = sweep
    result = kleio("rm", "-n", "1", "--yes")
    errors = text(result.stderr)
    assert result.returncode != 0 and errors.count("\n") == 1, errors
    assert "never deletes every trial" in errors
    assert len(_json(read("ls", "--json"))) == 2


def _commands_with_options_of_their_own() -> list[str]:
    """Kleio's commands but those whose unknown words are the script's (run, save...)."""
    import importlib

    from kleio.cli.main import COMMANDS

    return [
        name
        for name, module in COMMANDS.items()
        if not hasattr(importlib.import_module(f"kleio.cli.{module}"), "split_words")
    ]


@pytest.mark.parametrize("command", _commands_with_options_of_their_own())
def test_an_unknown_option_after_a_command_is_told_with_that_commands_usage(command, env):
    result = invoke(command, "--no-such-option", env=env)
    said = text(result.stderr)
    assert result.returncode == 2, said
    assert said.startswith(f"usage: kleio {command} "), said
    assert said.rstrip().splitlines()[-1].startswith("kleio: error: "), said
    assert "Traceback" not in said
