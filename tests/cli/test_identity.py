"""Which project and which code a run is: the repository's, wherever it is run from.

A checkout or a clone of a repository in a folder of another name is the same project;
a script is versioned by the repository that holds it, not by the one the command is
run from.
"""

from __future__ import annotations

import re

from tests.conftest import commit, git
from tests.helpers import text, trial_id_in


def _completed_again(result, trial_id: str) -> None:
    said = text(result.stderr)
    assert result.returncode == 0, said
    assert f"trial {trial_id[:7]} is already completed" in said, said
    assert "trial reserved" not in said, said


def test_a_checked_out_trial_run_from_its_checkout_is_the_same_trial(
    kleio, project, journal, tmp_path
):
    """``kleio checkout`` makes a worktree named after the folder it is given: the
    project is still the repository's, so running the printed command there finds the
    trial done, instead of a new trial in a project named ``co``."""
    ran = trial_id_in(kleio("python", "train.py", "--lr", "0.1").stderr)
    assert journal.get_trial(ran)["project"] == "mnist"
    checkout = kleio("checkout", ran[:8], str(tmp_path / "co"))
    assert checkout.returncode == 0, text(checkout.stderr)
    again = kleio("python", "train.py", "--lr", "0.1", cwd=tmp_path / "co")
    _completed_again(again, ran)


def test_a_clone_in_a_folder_of_another_name_is_the_same_project(kleio, project, journal, tmp_path):
    ran = trial_id_in(kleio("python", "train.py", "--lr", "0.1").stderr)
    git(tmp_path, "clone", "-q", str(project), "elsewhere")
    again = kleio("python", "train.py", "--lr", "0.1", cwd=tmp_path / "elsewhere")
    _completed_again(again, ran)
    other = trial_id_in(
        kleio("python", "train.py", "--lr", "0.2", cwd=tmp_path / "elsewhere").stderr
    )
    assert journal.get_trial(other)["project"] == "mnist"


def test_the_origin_remote_names_the_project_and_trials_named_after_the_folder_resume(
    kleio, project, journal
):
    """A repository cloned into ``mnist`` from ``.../mnist-experiments.git`` is the
    project ``mnist-experiments``; a trial made when Kleio named projects after their
    folder (``mnist``) still resumes."""
    older = trial_id_in(kleio("--project", "mnist", "python", "train.py").stderr)
    git(project, "remote", "add", "origin", "git@example.org:lab/mnist-experiments.git")
    _completed_again(kleio("python", "train.py"), older)
    new = trial_id_in(kleio("python", "train.py", "--lr", "0.3").stderr)
    assert journal.get_trial(new)["project"] == "mnist-experiments"


def test_a_script_outside_the_repository_is_versioned_by_its_own_content(
    kleio, project, journal, tmp_path
):
    """``kleio python /elsewhere/tiny.py`` from inside a repository: the script is no
    file of it, so editing the script is a change of code, not "already completed"."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = elsewhere / "tiny.py"
    script.write_text("print('one')\n")
    ran = trial_id_in(kleio("python", str(script)).stderr)
    version = journal.get_trial(ran)["version"]
    assert version["type"] == "file" and version["sha256"]
    script.write_text("print('two')\n")
    changed = kleio("python", str(script))
    assert changed.returncode != 0 and "changed" in text(changed.stderr), text(changed.stderr)


def test_a_script_in_a_repository_run_from_outside_git_is_versioned_by_its_repository(
    kleio, project, journal, tmp_path
):
    outside = tmp_path / "outside"
    outside.mkdir()
    ran = trial_id_in(kleio("python", str(project / "train.py"), cwd=outside).stderr)
    document = journal.get_trial(ran)
    assert document["version"]["type"] == "git"
    assert document["version"]["root"] == str(project)
    assert document["project"] == "mnist"
    (project / "train.py").write_text((project / "train.py").read_text() + "# changed\n")
    commit(project, "changed")
    changed = kleio("python", str(project / "train.py"), cwd=outside)
    assert changed.returncode != 0, text(changed.stderr)
    assert re.search(r"commit [0-9a-f]{7} -> [0-9a-f]{7}", text(changed.stderr))
