"""A branch or a resumed execution whose script starts its counters again is told so.

``kleio branch --timestamp epoch=2`` of a script that does not load its checkpoint logs
epochs 1, 2 again after its parent's 1, 2: the branch's view reads 1, 2, 1, 2, 3.
Kleio says so once, on stderr and in the execution's record; a script that loads its
checkpoint hears nothing.
"""

from __future__ import annotations

from tests.conftest import commit, write_script
from tests.helpers import text, trial_id_in

FROM_ZERO = """\
import argparse
from kleio.client.logger import kleio_logger as log
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--resume", action="store_true")
args = parser.parse_args()
start = len(log.load_statistics()) if args.resume else 0  # loads its checkpoint, or not
for epoch in range(start, args.epochs):
    log.log_statistic(epoch=epoch + 1, loss=args.lr / (epoch + 1), note="text")
"""


def _ends(journal, trial_id):
    return [
        e.data for e in journal.read_events(trial_id, ["execution"]) if e.data["phase"] == "end"
    ]


def test_a_branch_that_starts_again_from_epoch_1_is_told_so(kleio, project, journal):
    write_script(project, "train.py", FROM_ZERO)
    commit(project)
    parent = trial_id_in(kleio("python", "train.py", "--epochs", "3").stderr)
    branched = kleio("branch", parent[:7], "--timestamp", "epoch=2", "--lr", "0.05")
    said = text(branched.stderr)
    assert branched.returncode == 0, said
    branch = trial_id_in(branched.stderr)
    warning = [line for line in said.splitlines() if "restarted" in line]
    assert warning == [
        f"kleio: trial {branch[:7]}: the script restarted at epoch=1 (its trial had reached "
        "epoch=2): does it load its checkpoint? see docs/branching.rst"
    ], said
    (end,) = _ends(journal, branch)
    assert end["restarted"] == {"epoch": [1, 2]}


def test_a_branch_that_loads_its_checkpoint_hears_nothing(kleio, project, journal):
    write_script(project, "train.py", FROM_ZERO)
    commit(project)
    parent = trial_id_in(kleio("python", "train.py", "--epochs", "3", "--resume").stderr)
    branched = kleio(
        "branch", parent[:7], "--timestamp", "epoch=2", "--lr", "0.05", "--epochs", "4"
    )
    assert branched.returncode == 0 and "restarted" not in text(branched.stderr)
    (end,) = _ends(journal, trial_id_in(branched.stderr))
    assert "restarted" not in end


def test_a_resumed_execution_that_starts_its_steps_again_is_told_so(kleio, project, journal):
    write_script(
        project,
        "steps.py",
        """\
        import os, sys
        from kleio.client.logger import kleio_logger as log
        for step in range(5):
            log.log_statistic(step=step, loss=1.0 / (step + 1))
            if step == 3 and not os.path.exists("second"):
                open("second", "w").close()
                sys.exit(130)
        """,
    )
    (project / ".gitignore").write_text("second\n")
    commit(project)
    first = kleio("python", "steps.py")
    trial = trial_id_in(first.stderr)
    assert journal.get_trial(trial)["status"] == "interrupted", text(first.stderr)
    again = kleio("python", "steps.py")
    assert again.returncode == 0, text(again.stderr)
    assert "restarted at step=0 (its trial had reached step=3)" in text(again.stderr)
    assert _ends(journal, trial)[-1]["restarted"] == {"step": [0, 3]}
