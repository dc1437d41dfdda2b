"""Small things a researcher meets in a day: each one seen, each one fixed."""

from __future__ import annotations

import json
import re
import subprocess

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


def test_notes_are_edited_and_removed_by_number_and_their_history_kept(kleio, journal):
    """A note written could not be corrected nor taken back."""
    ran = trial_id_in(kleio("python", "train.py").stderr)
    short = ran[:7]
    for note in ("diverged at epoch 3", "typo here", "check the seed"):
        assert kleio("note", short, note).returncode == 0
    edited = kleio("note", short, "--edit", "1", "diverged at epoch 4")
    assert edited.returncode == 0 and f"note 1 of trial {short} edited" in text(edited.stderr)
    removed = kleio("note", short, "--remove", "2")
    assert removed.returncode == 0 and f"note 2 of trial {short} removed" in text(removed.stderr)
    listed = text(kleio("note", short).stdout).splitlines()
    assert [line.split("  ", 2)[::2] for line in listed] == [
        ["1", "diverged at epoch 4  (edited)"],
        ["3", "check the seed"],  # numbers stay: 3 is still 3
    ], listed
    info = text(kleio("info", short).stdout)
    assert "diverged at epoch 4" in info and "typo here" not in info
    assert [n["text"] for n in json.loads(kleio("info", short, "--json").stdout)["notes"]] == [
        "diverged at epoch 4",
        "check the seed",
    ]
    history = text(kleio("note", short, "--history").stdout).splitlines()
    assert [line.split("  ", 2)[0] + " " + line.split("  ", 2)[2] for line in history] == [
        "1 added  diverged at epoch 3",
        "2 added  typo here",
        "3 added  check the seed",
        "1 edited  diverged at epoch 4",
        "2 removed",
    ], history
    assert len(list(journal.read_events(ran, ["note"]))) == 5  # nothing lost
    # Bad numbers: one line, nothing written.
    for args, said in (
        (("--remove", "2"), f"note 2 of trial {short} was removed: its notes are 1, 3"),
        (("--edit", "9", "x"), f"note 9 of trial {short} does not exist"),
        (("--edit", "1"), "--edit: expected 2 arguments"),
        (("--remove", "0"), "expected a note's number (1, 2...), not '0'"),
        (("--remove", "1", "text"), "unrecognized arguments: text"),
        (("--edit", "1", "  "), "a note needs some text"),
    ):
        refused = kleio("note", short, *args)
        assert refused.returncode != 0 and said in text(refused.stderr), text(refused.stderr)
        assert "Traceback" not in text(refused.stderr), text(refused.stderr)
    assert len(list(journal.read_events(ran, ["note"]))) == 5


NO_TRIALS = "kleio: no trials yet: run `kleio python train.py` to make one\n"


def test_an_empty_journal_says_how_to_make_a_trial_and_json_stays_valid(kleio):
    """`kleio ls` on a new journal printed a header alone: no word of why, nor what to do."""
    for command in ("ls", "compare"):
        shown = kleio(command)
        assert (shown.returncode, text(shown.stdout), text(shown.stderr)) == (0, "", NO_TRIALS)
        as_json = kleio(command, "--format", "json")
        assert json.loads(as_json.stdout) == [] and text(as_json.stderr) == NO_TRIALS
        as_csv = kleio(command, "--format", "csv")
        assert len(text(as_csv.stdout).splitlines()) == 1  # the header: a valid empty table
    for command in (("info", "3f9c2e0"), ("stats", "3f9c"), ("plot", "--y", "loss")):
        refused = kleio(*command)
        said = text(refused.stderr)
        assert refused.returncode != 0 and "no trials yet" in said and said.count("\n") == 1, said
    # A selection that matches nothing in a journal that has trials says so.
    ran = trial_id_in(kleio("python", "train.py").stderr)
    for command in ("ls", "compare"):
        none = kleio(command, "--tags", "nope")
        assert (text(none.stdout), text(none.stderr)) == ("", "kleio: no trial matches\n")
        none = kleio(command, "--tags", "nope", "--json" if command == "ls" else "--format=json")
        assert json.loads(none.stdout) == []
    assert ran[:7] in text(kleio("ls").stdout) and not kleio("ls").stderr
    assert "see `kleio ls`" in text(kleio("info", "0" if ran[0] != "0" else "1").stderr)


WRITES = """\
import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--out")
args = parser.parse_args()
open(args.out, "w").write("weights")
"""


def test_checkout_prints_a_command_that_finds_the_trial_again(kleio, project, env, tmp_path):
    """checkout printed `cd DIR && python fit.py --out '{trial.working_dir}/...'`: no
    kleio, so the trial was not found again and the template reached the script raw."""
    write_script(project, "fit.py", WRITES)
    commit(project)
    template = "{trial.working_dir}/model.txt"
    for project_option in ([], ["--project", "elsewhere"]):
        ran = trial_id_in(kleio(*project_option, "python", "fit.py", "--out", template).stderr)
        folder = tmp_path / f"copy{len(project_option)}"
        printed = text(kleio("checkout", ran[:7], str(folder)).stdout)
        assert printed == (
            f"cd {folder} && kleio {' '.join(project_option)}{' ' if project_option else ''}"
            f"python fit.py --out '{template}'\n"
        ), printed
        again = subprocess.run(["bash", "-c", printed], env=env, capture_output=True, timeout=120)
        said = text(again.stderr)
        assert again.returncode == 0, said
        assert f"trial {ran[:7]} is already completed" in said and "reserved" not in said, said
        assert not list(folder.rglob("model.txt"))  # nothing ran there


NAMED = """\
import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--name", default="resnet")
parser.parse_args()
"""


def _one_line(result, *fragments: str) -> str:
    said = text(result.stderr)
    assert result.returncode != 0 and "Traceback" not in said and said.count("\n") == 1, said
    for fragment in fragments:
        assert fragment in said, said
    return said


def test_a_trial_has_a_name_every_reader_shows_and_every_command_takes(kleio, project, journal):
    """Trials had ids only: `3f9c2e0` in a notebook says nothing a week later."""
    write_script(project, "fit.py", NAMED)
    commit(project)
    ran = trial_id_in(kleio("--name", "baseline", "python", "fit.py", "--lr", "0.1").stderr)
    assert journal.get_trial(ran)["name"] == "baseline"
    # Shown by ls, compare and info, as text and as JSON.
    listed = text(kleio("ls").stdout).splitlines()
    assert listed[0].split()[:3] == ["ID", "NAME", "STATUS"] and "baseline" in listed[1]
    assert json.loads(kleio("ls", "--json").stdout)[0]["name"] == "baseline"
    rows = json.loads(kleio("compare", "--format", "json").stdout)
    assert rows[0]["trial_name"] == "baseline"
    assert "\nname:         baseline\n" in text(kleio("info", "baseline").stdout)
    # Accepted wherever an id is: readers, curation, and a run that resumes it.
    assert kleio("tag", "baseline", "+keep").returncode == 0
    assert kleio("note", "baseline", "first try").returncode == 0
    assert json.loads(kleio("info", "baseline", "--json").stdout)["tags"] == ["keep"]
    resumed = kleio("run", "baseline")
    assert f"trial {ran[:7]} is already completed" in text(resumed.stderr)
    # A name is the journal's once: the same name for another trial is refused, before
    # any trial is made.
    taken = kleio("--name", "baseline", "python", "fit.py", "--lr", "0.2")
    _one_line(taken, f"the name 'baseline' is taken by trial {ran[:7]}")
    assert len(journal.find_trials()) == 1
    # A word of hexadecimal digits is an id, never a name.
    for bad in ("cafe", "1234", "-x", "a b", "x" * 65):
        assert kleio("save", "--name", bad, "python", "fit.py").returncode == 2
    assert len(journal.find_trials()) == 1
    # Named later: save and branch take --name; kleio name renames; run --name names a
    # completed trial and says so.
    other = kleio("save", "--name", "low-lr", "python", "fit.py", "--lr", "0.01")
    low = text(other.stderr).split("id: ")[1].strip()
    assert journal.get_trial(low)["name"] == "low-lr"
    branched = kleio("branch", "--no-run", "baseline", "--name", "tuned", "--", "--lr", "0.5")
    assert branched.returncode == 0, text(branched.stderr)
    assert [d["_id"] for d in journal.find_trials() if d.get("name") == "tuned"]
    renamed = kleio("run", "--name", "first", "baseline")
    assert f"trial {ran[:7]} renamed baseline -> first" in text(renamed.stderr)
    assert text(kleio("name", ran[:7]).stdout) == "first\n"
    _one_line(kleio("info", "baseline"), "no trial is named 'baseline'")
    diffed = text(kleio("diff", "first", "low-lr").stdout)
    assert diffed.startswith(f"Trials {ran} (first) -> {low} (low-lr)\n"), diffed
    # The script's own --name after a branch's id is ambiguous: refused, not guessed.
    _one_line(
        kleio("branch", "--no-run", "first", "--name", "vgg"),
        "the script of trial",
        "takes --name too",
    )
    kept = kleio("branch", "--no-run", "first", "--", "--name", "vgg")
    assert kept.returncode == 0, text(kept.stderr)


def test_the_dashboard_and_the_python_api_show_a_trials_name(kleio, project, journal, home):
    write_script(project, "quick.py", QUICK)
    commit(project)
    ran = trial_id_in(kleio("--name", "baseline", "python", "quick.py").stderr)
    other = trial_id_in(kleio("python", "quick.py", "--lr", "0.5").stderr)
    drawn = kleio("plot", other[:7], "baseline", "--y", "loss")  # named trials are drawn too
    assert drawn.returncode == 0, text(drawn.stderr)
    import kleio as api
    from kleio.ui.api import Dashboard

    dashboard = Dashboard(journal, 60.0, "kleio.db", "test")
    listed = dashboard.trials({})
    assert "trial_name" in listed["columns"]
    assert [row["trial_name"] for row in listed["rows"]] == [None, "baseline"]
    assert dashboard.trial("baseline", {})["name"] == "baseline"
    loaded = api.load_trial("baseline", home=str(home))
    assert (loaded.id, loaded.name) == (ran, "baseline")
    rows = api.compare(home=str(home))  # a DataFrame, or dicts without pandas
    rows = rows.to_dict("records") if hasattr(rows, "to_dict") else rows
    assert [row["trial_name"] == "baseline" for row in rows] == [False, True]  # NaN in pandas


def test_a_trial_imported_where_its_name_is_taken_comes_without_it(kleio, tmp_path):
    ran = trial_id_in(kleio("--name", "baseline", "python", "train.py", "--lr", "1").stderr)
    archive = tmp_path / "baseline.tar"
    assert kleio("export", "-o", str(archive)).returncode == 0
    other = str(tmp_path / "other-home")
    here = trial_id_in(
        kleio("--name", "baseline", "python", "train.py", "--lr", "2", KLEIO_HOME=other).stderr
    )
    imported = kleio("import", str(archive), KLEIO_HOME=other)
    assert imported.returncode == 0, text(imported.stderr)
    assert f"trial {ran[:7]} imported without its name 'baseline'" in text(imported.stderr)
    assert text(kleio("name", "baseline", KLEIO_HOME=other).stdout) == "baseline\n"
    assert json.loads(kleio("info", "baseline", "--json", KLEIO_HOME=other).stdout)["id"] == here
    assert "name" not in json.loads(kleio("info", ran, "--json", KLEIO_HOME=other).stdout)
    # Into a journal where the name is free, it comes with its name.
    third = str(tmp_path / "third-home")
    assert kleio("import", str(archive), KLEIO_HOME=third).returncode == 0
    assert json.loads(kleio("info", "baseline", "--json", KLEIO_HOME=third).stdout)["id"] == ran


def test_names_complete_where_ids_do(kleio, env, project):
    from tests.cli.test_conventions import completions

    for name, lr in (("baseline", "1"), ("best", "2"), ("final", "3")):
        assert kleio("--name", name, "python", "train.py", "--lr", lr).returncode == 0
    assert completions(env, project, "kleio info bes") == ["best"]
    assert {"baseline", "best"} <= set(completions(env, project, "kleio cat b"))  # hex too
    assert completions(env, project, "kleio note fi") == ["final"]
