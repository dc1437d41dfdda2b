"""The configuration a script really used: Hydra-style assignments on the command line,
and what the script's argument parser resolved (defaults included), through the hook."""

from __future__ import annotations

from tests.conftest import commit, write_script
from tests.helpers import text, trial_id_in

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
