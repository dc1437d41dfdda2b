"""The configuration a script really used: Hydra-style assignments on the command line,
and what the script's argument parser resolved (defaults included), through the hook."""

from __future__ import annotations

import json
import subprocess

from tests.conftest import commit, write_script
from tests.helpers import invoke, run_kleio, text, trial_id_in

HYDRA_STYLE = """\
import sys

config = {"lr": 0.01, "model": {"depth": 2, "width": 64}}
for word in sys.argv[1:]:
    key, _, value = word.lstrip("+").partition("=")
    parent = config
    *path, leaf = key.split(".")
    for name in path:
        parent = parent.setdefault(name, {})
    parent[leaf] = type(parent.get(leaf, value))(value) if leaf in parent else value
print("config", config)
"""


def test_hydra_style_assignments_are_nested_typed_configuration(kleio, project, journal):
    write_script(project, "hydra_train.py", HYDRA_STYLE)
    commit(project)
    result = kleio("python", "hydra_train.py", "lr=0.1", "model.depth=3", "+extra.seed=7", "data/")
    assert result.returncode == 0, text(result.stderr)
    document = journal.get_trial(trial_id_in(result.stderr))
    assert document["configuration"] == {
        "_pos_0": "data/",
        "lr": 0.1,
        "model": {"depth": 3},
        "extra": {"seed": 7},
    }


def test_a_branch_replaces_and_adds_hydra_style_assignments(kleio, project, journal):
    write_script(project, "hydra_train.py", HYDRA_STYLE)
    commit(project)
    parent = trial_id_in(kleio("python", "hydra_train.py", "lr=0.1", "+extra.seed=7").stderr)
    result = kleio("branch", parent[:7], "lr=0.5", "model.depth=4", "extra.seed=8")
    assert result.returncode == 0, text(result.stderr)
    branch = journal.get_trial(trial_id_in(result.stderr))
    assert branch["commandline"] == [
        "python",
        "hydra_train.py",
        "lr=0.5",
        "+extra.seed=8",
        "model.depth=4",
    ]
    assert branch["configuration"] == {"lr": 0.5, "extra": {"seed": 8}, "model": {"depth": 4}}
    assert "'depth': 4" in text(result.stdout) and "'lr': 0.5" in text(result.stdout)


def test_a_positional_that_is_no_assignment_still_cannot_change_in_a_branch(kleio, project):
    parent = trial_id_in(kleio("python", "train.py", "lr=0.1").stderr)
    result = kleio("branch", parent[:7], "data/")
    assert result.returncode == 1
    assert text(result.stderr).strip().splitlines() == [
        "kleio: error: positional arguments cannot change when branching ('data/'): give "
        "options or assignments only, like --lr 0.01 or model.depth=4"
    ]


# -- what the script's parser resolved -------------------------------------------------

WITH_DEFAULTS = """\
import argparse
import json
import os
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=20)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--batch-size", dest="batch", type=int, default=64)
parser.add_argument("--api-key", default="s3cr3t")
parser.add_argument("--nesterov", action="store_true")
parser.add_argument("data", nargs="?", default="data/")
args = parser.parse_args()
seen = {
    "args": vars(args),
    "path": [entry for entry in sys.path if "site-packages" not in entry],
    "PYTHONPATH": os.environ.get("PYTHONPATH"),
    "hook variables": sorted(name for name in os.environ if name.startswith("KLEIO_HOOK")),
    "parse_args": [argparse.ArgumentParser.parse_args.__name__,
                   argparse.ArgumentParser.parse_args.__doc__],
    "argv": sys.argv,
}
print(json.dumps(seen, sort_keys=True))
"""


def test_argparse_defaults_are_recorded_typed_beside_what_was_typed(kleio, project, env, journal):
    write_script(project, "train_args.py", WITH_DEFAULTS)
    commit(project)
    result = kleio("python", "train_args.py", "--lr", "0.1", "--nesterov")
    assert result.returncode == 0, text(result.stderr)
    trial = trial_id_in(result.stderr)
    resolved = journal.get_trial(trial)["resolved"]
    assert resolved["values"] == {
        "lr": 0.1,
        "epochs": 3,
        "batch-size": 64,
        "api-key": "***",
        "nesterov": True,
        "data": "data/",
    }
    assert sorted(resolved["defaults"]) == ["api-key", "batch-size", "data", "epochs"]

    shown = text(invoke("info", trial[:7], env=env, cwd=project).stdout)
    assert "  lr:           0.1\n" in shown
    assert "  epochs:       3  (default)\n" in shown
    assert "  batch-size:   64  (default)\n" in shown
    assert "s3cr3t" not in shown

    import kleio as api

    found = api.load_trial(trial, home=str(env["KLEIO_HOME"]))
    assert found.configuration == {
        "lr": 0.1,
        "nesterov": True,
        "epochs": 3,
        "batch-size": 64,
        "api-key": "***",
        "data": "data/",
    }
    assert found.configuration.get("epochs") == 3 and found.command_configuration == {
        "lr": 0.1,
        "nesterov": True,
    }
    assert sorted(found.defaults) == ["api-key", "batch-size", "data", "epochs"]


def test_compare_shows_a_default_the_other_trial_typed(kleio, project, env):
    """Two trials that differ only by a default (--lr 20, typed or not) are told apart."""
    write_script(project, "train_args.py", WITH_DEFAULTS)
    commit(project)
    typed = trial_id_in(kleio("python", "train_args.py", "--lr", "0.1").stderr)
    default = trial_id_in(kleio("python", "train_args.py").stderr)
    rows = json.loads(invoke("compare", "--format", "json", env=env, cwd=project).stdout)
    assert {row["id"]: row["lr"] for row in rows} == {typed: 0.1, default: 20.0}
    assert "epochs" not in rows[0]  # the same default in both: no column
    listed = invoke("ls", "--where", "lr=20", "--format", "json", env=env, cwd=project)
    assert [row["id"] for row in json.loads(listed.stdout)] == [default]


def test_the_script_sees_what_it_sees_without_kleio(kleio, project, env):
    write_script(project, "train_args.py", WITH_DEFAULTS)
    commit(project)
    for epochs, pythonpath in enumerate((None, "", "/opt/lib")):
        extra = {} if pythonpath is None else {"PYTHONPATH": pythonpath}
        base = {k: v for k, v in env.items() if k != "PYTHONPATH"}
        words = ["python", "train_args.py", "--epochs", str(epochs)]
        bare = subprocess.run(words, cwd=project, env={**base, **extra}, capture_output=True)
        under = run_kleio(*words, env={**base, **extra}, cwd=project)
        assert under.returncode == 0, text(under.stderr)
        assert json.loads(under.stdout) == json.loads(bare.stdout)


def test_the_same_command_is_the_same_trial_with_or_without_the_hook(kleio, project, journal):
    write_script(project, "train_args.py", WITH_DEFAULTS)
    commit(project)
    hooked = trial_id_in(kleio("python", "train_args.py", "--lr", "0.1").stderr)
    again = kleio("--no-hook", "python", "train_args.py", "--lr", "0.1")
    assert again.returncode == 0
    assert f"trial {hooked[:7]} is already completed" in text(again.stderr)


def test_no_hook_and_kleio_hook_0_record_nothing(kleio, project, journal):
    write_script(project, "train_args.py", WITH_DEFAULTS)
    commit(project)
    for words, extra in (
        (["--no-hook", "python", "train_args.py", "--lr", "1"], {}),
        (["python", "train_args.py", "--lr", "2"], {"KLEIO_HOOK": "0"}),
    ):
        result = kleio(*words, **extra)
        assert result.returncode == 0, text(result.stderr)
        document = journal.get_trial(trial_id_in(result.stderr))
        assert "resolved" not in document


SUBCOMMANDS = """\
import argparse

parser = argparse.ArgumentParser(prog="tool")
parser.add_argument("--seed", type=int, default=0)
commands = parser.add_subparsers(dest="command", required=True)
train = commands.add_parser("train")
train.add_argument("--epochs", type=int, default=10)
train.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
evaluate = commands.add_parser("evaluate")
evaluate.add_argument("--split", default="test")
known, rest = parser.parse_known_args()
print("known", vars(known), "rest", rest)
"""


def test_subparsers_and_parse_known_args_record_the_chosen_commands_values(kleio, project, journal):
    write_script(project, "tool.py", SUBCOMMANDS)
    commit(project)
    result = kleio("python", "tool.py", "train", "--epochs", "5", "--unknown", "7")
    assert result.returncode == 0, text(result.stderr)
    assert "rest ['--unknown', '7']" in text(result.stdout)
    resolved = journal.get_trial(trial_id_in(result.stderr))["resolved"]
    assert resolved["values"] == {"seed": 0, "command": "train", "epochs": 5, "optimizer": "sgd"}
    assert sorted(resolved["defaults"]) == ["optimizer", "seed"]


def test_a_script_failing_inside_argparse_fails_as_it_would_and_records_nothing(
    kleio, project, journal
):
    write_script(project, "train_args.py", WITH_DEFAULTS)
    commit(project)
    helped = kleio("python", "train_args.py", "--help")
    assert helped.returncode == 0 and "usage: train_args.py" in text(helped.stdout)
    bad = kleio("python", "train_args.py", "--lr", "fast")
    assert bad.returncode == 2
    assert "train_args.py: error: argument --lr: invalid float value: 'fast'" in text(bad.stderr)
    assert "hook" not in text(bad.stderr) and "Traceback" not in text(bad.stderr)
    for result in (helped, bad):
        assert "resolved" not in journal.get_trial(trial_id_in(result.stderr))
    bare = subprocess.run(
        ["python", "train_args.py", "--lr", "fast"], cwd=project, capture_output=True
    )
    assert text(bad.stderr).endswith(
        text(bare.stderr) + f"kleio: trial {trial_id_in(bad.stderr)[:7]} is broken (exit code 2)\n"
    )


UNPRINTABLE = """\
import argparse

class Odd:
    def __str__(self):
        raise RuntimeError("no text for you")
    __repr__ = __str__

parser = argparse.ArgumentParser()
parser.add_argument("--odd", type=lambda text: Odd(), default=None)
args = parser.parse_args()
args = parser.parse_args()
print("parsed twice", type(args.odd).__name__)
"""


def test_a_failure_inside_the_hook_is_said_once_and_the_script_runs_on(kleio, project, journal):
    write_script(project, "odd.py", UNPRINTABLE)
    commit(project)
    result = kleio("python", "odd.py", "--odd", "x")
    assert result.returncode == 0, text(result.stderr)
    assert text(result.stdout) == "parsed twice Odd\n"
    said = [line for line in text(result.stderr).splitlines() if "hook" in line]
    assert said == [
        "kleio: the configuration hook failed (RuntimeError: no text for you); the script "
        "goes on, its resolved configuration is not recorded"
    ]
    assert "resolved" not in journal.get_trial(trial_id_in(result.stderr))


def test_the_value_the_script_typed_wins_over_the_command_lines_text(kleio, project, env):
    """``--lr 20`` with ``type=float``: the script ran with 20.0, and every reader says
    so (compare, ls, --where, the API), though the command line's text reads as 20."""
    write_script(project, "train_args.py", WITH_DEFAULTS)
    commit(project)
    trial = trial_id_in(kleio("python", "train_args.py", "--lr", "20", "--epochs", "2").stderr)
    shown = invoke("compare", "--format", "json", "--keys", "lr", env=env, cwd=project)
    rows = json.loads(shown.stdout)
    assert [row["lr"] for row in rows] == [20.0] and isinstance(rows[0]["lr"], float)
    for condition in ("lr=20.0", "lr=20", "lr>19.5"):
        listed = invoke("ls", "--where", condition, "--format", "json", env=env, cwd=project)
        assert [row["id"] for row in json.loads(listed.stdout)] == [trial], condition
    import kleio as api

    found = api.load_trial(trial, home=str(env["KLEIO_HOME"]))
    assert found.configuration["lr"] == 20.0 and isinstance(found.configuration["lr"], float)
    assert found.command_configuration["lr"] == 20  # the identity: the command line's


CRASHES_BEFORE_PARSING = """\
import argparse, sys
from kleio.client.logger import kleio_logger as log
if "--crash" in sys.argv:
    sys.exit(3)  # before the parser resolved its defaults
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, required=True)
for name in "abcdefghijklmno":
    parser.add_argument(f"--{name}", type=int, default=ord(name))
args = parser.parse_args()
log.log_statistic(loss=args.lr * 2)
"""


def test_a_key_differs_only_when_two_trials_hold_different_values(kleio, project, env):
    """A trial that failed before its parser resolved 15 defaults made every default
    'differ' in compare, plot legends and the dashboard: 16 columns for 1 swept key."""
    write_script(project, "sweep.py", CRASHES_BEFORE_PARSING)
    commit(project)
    for lr in ("0.1", "0.2", "0.3"):
        assert kleio("python", "sweep.py", "--lr", lr).returncode == 0
    assert kleio("python", "sweep.py", "--lr", "0.4", "--crash").returncode == 3
    compared = invoke("compare", "--format", "json", env=env, cwd=project)
    rows = json.loads(compared.stdout)
    keys = set().union(*map(set, rows)) - {"id", "short_id", "status", "run_time", "loss:last"}
    assert keys == {"lr"}, keys
    from kleio.core.model.catalogue import open_journal
    from kleio.core.reading.comparison import compare_trials
    from kleio.core.reading.query import Query
    from kleio.core.reading.series import trial_labels

    with open_journal(str(env["KLEIO_HOME"]) + "/kleio.db") as store:
        comparison = compare_trials(store, Query(), 60.0)
    labels = trial_labels(comparison.rows, comparison.configuration)
    assert sorted(label.split(" ", 1)[1] for label in labels.values()) == [
        "lr=0.1",
        "lr=0.2",
        "lr=0.3",
        "lr=0.4",
    ]
