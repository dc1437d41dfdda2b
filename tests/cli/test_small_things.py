"""Small things a researcher meets in a day: each one seen, each one fixed."""

from __future__ import annotations

import json
import re

from tests.conftest import commit, write_script
from tests.helpers import text, trial_id_in

QUICK = """\
import argparse
from kleio.client.logger import kleio_logger as log
parser = argparse.ArgumentParser()
parser.add_argument("--use-optimizer-with-a-long-name", default=False, action="store_true")
parser.add_argument("--lr", type=float, default=0.012037582709643698)
args = parser.parse_args()
log.log_statistic(loss=0.012037582709643698)
"""


def test_info_says_what_a_short_run_used_in_words_not_run_together(kleio, project, journal):
    """A run shorter than the sample interval had no resource sample; info ran long
    keys into their values and printed statistics to 17 digits."""
    write_script(project, "quick.py", QUICK)
    commit(project)
    ran = trial_id_in(kleio("python", "quick.py").stderr)
    samples = [e.data for e in journal.read_events(ran, ["usage"])]
    assert len(samples) == 1 and samples[0]["at_end"] is True, samples
    assert samples[0]["rss"] > 1 << 20 and samples[0]["processes"] == 1
    shown = text(kleio("info", ran[:7]).stdout)
    assert "  use-optimizer-with-a-long-name: false  (default)\n" in shown, shown
    assert re.search(r"  samples: +1\n  peak memory: +\d", shown), shown
    assert "last 0.01204\n" in shown, shown
    assert "0.012037582709643698  (default)" in shown  # configuration: in full


FIT = """\
import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--epochs", type=int, default=3)
parser.parse_args()
"""


def test_diff_tells_trials_apart_by_the_defaults_their_scripts_filled_in(kleio, project):
    """The same command line, run before and after the script's default changed: diff
    said "same configuration" because it compared the command lines only."""
    write_script(project, "fit.py", FIT)
    commit(project)
    first = trial_id_in(kleio("python", "fit.py", "--lr", "0.1").stderr)
    write_script(project, "fit.py", FIT.replace("default=3", "default=5"))
    commit(project, "five epochs")
    second = trial_id_in(kleio("--allow-code-change", "python", "fit.py", "--lr", "0.1").stderr)
    shown = text(kleio("diff", first[:7], second[:7]).stdout)
    assert "\n  ~ epochs: 3 (default) -> 5 (default)\n" in shown, shown
    assert "same configuration" not in shown and "lr" not in shown.split("Code")[0], shown
    difference = json.loads(kleio("diff", first[:7], second[:7], "--json").stdout)
    assert difference["configuration"]["changed"] == {"epochs": [3, 5]}
    assert difference["defaults"] == [["epochs"], ["epochs"]]
    # A value typed on one command line and left to its default on the other: a change.
    typed = trial_id_in(kleio("python", "fit.py", "--epochs", "7").stderr)
    changed = json.loads(kleio("diff", second[:7], typed[:7], "--json").stdout)["configuration"]
    assert changed == {"added": {}, "removed": {}, "changed": {"epochs": [5, 7]}}


def test_tags_given_to_a_completed_command_are_added_and_said(kleio, journal):
    """`kleio --tags best python train.py` of a trial already completed ran nothing and
    dropped the tag without a word."""
    ran = trial_id_in(kleio("--tags", "sweep", "python", "train.py").stderr)
    again = kleio("--tags", "best;sweep", "python", "train.py")
    said = text(again.stderr)
    assert again.returncode == 0, said
    assert f"kleio: trial {ran[:7]} tagged best\n" in said, said
    assert "is already completed" in said and "trial reserved" not in said, said
    assert journal.get_trial(ran)["tags"] == ["sweep", "best"]
    assert ran[:7] in text(kleio("ls", "--tags", "best").stdout)
    # Nothing new to add: nothing said.
    assert "tagged" not in text(kleio("--tags", "best", "python", "train.py").stderr)
