"""Per-trial folders: ``{trial.working_dir}`` and the other templates of a command line."""

from __future__ import annotations

import os

from tests.conftest import commit, write_script
from tests.helpers import invoke, text, trial_id_in

SAVER = """\
import argparse, os, sys

parser = argparse.ArgumentParser()
parser.add_argument("--save")
parser.add_argument("--load")
parser.add_argument("--tag", default="")
args = parser.parse_args()
if args.load:
    print("loaded", open(args.load).read())
with open(args.save, "w") as out:
    out.write(args.tag)
print("saved", args.save, "env", os.environ["KLEIO_TRIAL_WORKING_DIR"], "argv", sys.argv[1:])
"""


def test_each_trial_writes_its_own_folder_and_the_same_template_finds_the_same_trial(
    kleio, project, journal, home
):
    write_script(project, "saver.py", SAVER)
    commit(project)
    command = ("python", "saver.py", "--save", "{trial.working_dir}/model.pt", "--tag", "a")
    result = kleio(*command)
    assert result.returncode == 0, text(result.stderr)
    trial = trial_id_in(result.stderr)
    folder = home / "trials" / trial
    assert (folder / "model.pt").read_text() == "a"
    assert f"saved {folder}/model.pt env {folder} " in text(result.stdout)
    document = journal.get_trial(trial)
    assert document["working_dir"] == str(folder)
    assert document["commandline"][3] == "{trial.working_dir}/model.pt"
    assert document["configuration"]["save"] == "{trial.working_dir}/model.pt"
    again = kleio(*command)
    assert again.returncode == 0 and "already completed" in text(again.stderr)
    other = trial_id_in(
        kleio("python", "saver.py", "--save", "{trial.working_dir}/model.pt").stderr
    )
    assert other != trial and (home / "trials" / other / "model.pt").exists()
    assert (folder / "model.pt").read_text() == "a"  # the other trial wrote its own


def test_a_branch_writes_its_own_folder_and_reads_its_parents(kleio, project, journal, home):
    write_script(project, "saver.py", SAVER)
    commit(project)
    parent = trial_id_in(
        kleio("python", "saver.py", "--save", "{trial.working_dir}/model.pt", "--tag", "a").stderr
    )
    result = kleio(
        "branch",
        parent[:7],
        "--tag",
        "b",
        "--load",
        "{trial.parent.working_dir}/model.pt",
    )
    assert result.returncode == 0, text(result.stderr)
    branch = trial_id_in(result.stderr)
    assert (home / "trials" / parent / "model.pt").read_text() == "a"  # untouched
    assert (home / "trials" / branch / "model.pt").read_text() == "b"
    assert "loaded a" in text(result.stdout)
    assert os.listdir(home / "trials" / branch) == ["model.pt"]  # nothing copied


def test_id_short_id_and_project_templates_and_literal_braces(kleio, project, home):
    result = kleio(
        "python", "train.py", "--name", "{trial.short_id}-{trial.project}", "--fmt", "{x}/{0}"
    )
    trial = trial_id_in(result.stderr)
    assert f"'--name', '{trial[:7]}-mnist', '--fmt', '{{x}}/{{0}}'" in text(result.stdout)
    assert (home / "trials" / trial).is_dir()


def test_an_unknown_template_is_a_one_line_error_and_nothing_is_recorded(kleio, journal):
    result = kleio("python", "train.py", "--out", "{trial.folder}/x")
    assert result.returncode == 2
    assert text(result.stderr).strip().splitlines() == [
        "kleio: error: unknown template {trial.folder} in '{trial.folder}/x': Kleio knows "
        "{trial.id}, {trial.short_id}, {trial.project}, {trial.working_dir}, "
        "{trial.parent.working_dir}"
    ]
    assert journal.find_trials() == []


def test_a_root_trial_has_no_parent_folder(kleio, journal):
    result = kleio("python", "train.py", "--load", "{trial.parent.working_dir}/m.pt")
    assert result.returncode == 2
    (line,) = text(result.stderr).strip().splitlines()
    assert line.startswith("kleio: error: {trial.parent.working_dir}: trial ")
    assert line.endswith(" has no parent")
    (trial,) = journal.find_trials()
    assert trial["status"] == "new" and trial.get("executions") == 0  # it never started


def test_working_dir_option_roots_the_folders_and_info_shows_the_folder(
    kleio, project, env, tmp_path
):
    root = tmp_path / "scratch"
    result = kleio("--working-dir", str(root), "python", "train.py", "--out", "{trial.working_dir}")
    trial = trial_id_in(result.stderr)
    assert (root / trial).is_dir()
    info = text(invoke("info", trial[:7], env=env, cwd=project).stdout)
    assert f"working dir:  {root / trial}" in info
