"""A study read as groups, end to end: ``kleio compare --group-by`` and
``kleio.compare(group_by=...)`` over a real journal of 3 learning rates x 3 seeds.

The study (built once): nine trials of one script, tagged ``study``, each seed also
shuffling the data (``split``, a seed under another name); two more with
``--optimizer adam`` (tagged ``adam``), and one run without the configuration hook, whose
configuration lacks ``optimizer`` and ``split`` (tagged ``bare``). The commands only read:
they run in this process (``tests.helpers.invoke``).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import script_project
from tests.helpers import invoke, start_kleio, text
from tests.helpers import one_line_error as any_one_line_error

#: Bad options of compare exit with 2, as argparse's own refusals do.
one_line_error = functools.partial(any_one_line_error, code=2)

TRAIN = """\
import argparse, random
from kleio.client.logger import kleio_logger as log

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, required=True)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--split", type=int, default=0)
parser.add_argument("--optimizer", default="sgd")
args = parser.parse_args()
noise = random.Random(args.seed * 7 + args.split)
for epoch in range(3):
    loss = args.lr * 10 / (epoch + 1) + noise.random() / 50
    log.log_statistic(
        epoch=epoch, loss=loss, acc=1 - loss / 10, grad_norm=3 * loss, lr_now=args.lr / (epoch + 1)
    )
"""

RATES = (0.1, 0.01, 0.001)
SEEDS = (1, 2, 3)
#: (kleio's options, the script's): the study, then the trials that do not belong to it.
RUNS = [
    *(
        (["--tags", "study"], ["--lr", str(lr), "--seed", str(seed), "--split", str(seed)])
        for lr in RATES
        for seed in SEEDS
    ),
    *(
        (["--tags", "adam"], ["--lr", "0.1", "--seed", str(seed), "--optimizer", "adam"])
        for seed in (1, 2)
    ),
    (["--tags", "bare", "--no-hook"], ["--lr", "0.1", "--seed", "5"]),
]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The journal's environment and folder, the twelve trials run side by side."""
    project, env = script_project(tmp_path_factory.mktemp("study"), TRAIN)
    runs = [
        start_kleio(env, project, "run", *options, "python", "train.py", *script)
        for options, script in RUNS
    ]
    for run in runs:
        _, errors = run.communicate(timeout=180)
        assert run.returncode == 0, text(errors)
    return env, project


def kleio(study, *args: str, **extra: str) -> subprocess.CompletedProcess:
    env, project = study
    return invoke(*args, env={**env, **extra}, cwd=project)


def rows_of(study, *args: str) -> list[dict]:
    result = kleio(study, "compare", *args, "--format", "json")
    assert result.returncode == 0, text(result.stderr)
    return json.loads(text(result.stdout))


def expected_groups(study, column: str) -> dict[float, list[float]]:
    """Each learning rate's values of ``column`` over its trials, read trial by trial."""
    trials = rows_of(study, "--tags", "study", "--keys", column)
    assert len(trials) == 9
    values: dict[float, list[float]] = {}
    for trial in trials:
        values.setdefault(trial["lr"], []).append(trial[column])
    return values


def test_group_by_gives_one_row_per_group_with_numpys_mean_and_std(study):
    trials = expected_groups(study, "loss:min")
    rows = rows_of(study, "--tags", "study", "--group-by", "lr", "--keys", "loss:min")
    assert [row["lr"] for row in rows] == sorted(RATES)  # by the grouping key
    assert [list(row) for row in rows] == [["lr", "n", "loss:min:mean", "loss:min:std"]] * 3
    for row in rows:
        values = trials[row["lr"]]
        assert row["n"] == len(values) == 3
        assert row["loss:min:mean"] == pytest.approx(np.mean(values), rel=1e-12)
        assert row["loss:min:std"] == pytest.approx(np.std(values), rel=1e-12, abs=1e-15)
        assert row["loss:min:std"] > 0  # the seeds differ: a spread, not a copy
    # Without --keys, the last value of every statistic, as compare shows trials.
    last = rows_of(study, "--tags", "study", "--group-by", "lr")
    assert list(last[0]) == [
        "lr",
        "n",
        *(
            f"{key}:last:{how}"
            for key in ("acc", "epoch", "grad_norm", "loss", "lr_now")
            for how in ("mean", "std")
        ),
    ]
    by_rate = expected_groups(study, "acc:last")
    for row in last:
        assert row["acc:last:mean"] == pytest.approx(np.mean(by_rate[row["lr"]]), rel=1e-12)


def test_every_aggregate_is_a_column_of_its_own_in_json_and_csv(study):
    asked = ["--tags", "study", "--group-by", "lr", "--keys", "loss:min"]
    aggregates = ["--agg", "mean,std,min,max,median"]
    rows = rows_of(study, *asked, *aggregates)
    trials = expected_groups(study, "loss:min")
    for row in rows:
        values = trials[row["lr"]]
        assert row["loss:min:min"] == min(values) and row["loss:min:max"] == max(values)
        assert row["loss:min:median"] == pytest.approx(np.median(values), rel=1e-12)
    printed = kleio(study, "compare", *asked, *aggregates, "--format", "csv")
    table = list(csv.reader(io.StringIO(text(printed.stdout))))
    assert table[0] == ["lr", "n", *(f"loss:min:{how}" for how in aggregates[1].split(","))]
    # Every digit: the CSV reads back as the JSON's numbers.
    assert [[float(cell) for cell in line] for line in table[1:]] == [
        list(map(float, row.values())) for row in rows
    ]
    assert "±" not in text(printed.stdout)


def test_groups_sort_filter_and_limit_by_their_columns(study):
    asked = ["--tags", "study", "--group-by", "lr", "--keys", "loss:min,acc:max"]
    means = {row["lr"]: row["loss:min:mean"] for row in rows_of(study, *asked)}
    ascending = sorted(means, key=means.get)
    assert [r["lr"] for r in rows_of(study, *asked, "--sort", "loss:min:mean")] == ascending
    assert [r["lr"] for r in rows_of(study, *asked, "--sort", "-acc:max:mean")] == ascending
    assert [r["lr"] for r in rows_of(study, *asked, "--sort", "-lr")] == sorted(RATES)[::-1]
    # -n counts groups, after sorting them.
    assert [r["lr"] for r in rows_of(study, *asked, "--sort", "loss:min:mean", "-n", "1")] == [
        ascending[0]
    ]
    # A condition on a group's column keeps groups; on a key of the trials, trials.
    middle = sorted(means.values())[1]
    kept = rows_of(study, *asked, "--where", f"loss:min:mean<={middle}")
    assert sorted(r["lr"] for r in kept) == sorted(ascending[:2])
    assert all(r["n"] == 3 for r in kept)
    assert [r["lr"] for r in rows_of(study, *asked, "--where", "lr=0.1")] == [0.1]
    assert rows_of(study, *asked, "--where", "n<3") == []
    trials = expected_groups(study, "loss:min")[0.1]
    cut = sorted(trials)[1]
    (fewer,) = rows_of(study, *asked, "--where", "lr=0.1", "--where", f"loss:min<={cut}")
    assert fewer["n"] == 2
    assert fewer["loss:min:mean"] == pytest.approx(np.mean(sorted(trials)[:2]), rel=1e-12)
    # A column sorted by but not asked for is computed and shown, as compare does.
    (extra,) = rows_of(study, *asked, "--sort", "loss:min:median", "-n", "1")
    assert "loss:min:median" in extra


def test_every_key_but_the_seeds_groups_the_study(study):
    # `split` is a seed under another name: unnamed, it splits every trial off.
    assert len(rows_of(study, "--tags", "study", "--group-by", "*")) == 9
    rows = rows_of(study, "--tags", "study", "--group-by", "*", "--seed-key", "split")
    assert [(row["lr"], row["n"]) for row in rows] == [(lr, 3) for lr in sorted(RATES)]
    assert "seed" not in rows[0] and "split" not in rows[0]
    # Keys with one value everywhere tell no group apart: out of the columns, unless --all.
    assert "optimizer" not in rows[0]
    every = rows_of(study, "--tags", "study", "--group-by", "*", "--seed-key", "split", "--all")
    assert [(row["lr"], row["optimizer"], row["n"]) for row in every] == [
        (lr, "sgd", 3) for lr in sorted(RATES)
    ]


def test_a_text_key_and_a_key_some_trials_lack_group_too(study):
    # The study, two trials with adam, one without the hook (no optimizer, no split).
    asked = ["compare", "--where", "tags~study|adam|bare", "--group-by", "optimizer"]
    rows = rows_of(study, *asked[1:], "--group-by", "lr", "--keys", "loss:min")
    assert [(row["optimizer"], row["lr"], row["n"]) for row in rows] == [
        ("adam", 0.1, 2),
        ("sgd", 0.001, 3),
        ("sgd", 0.01, 3),
        ("sgd", 0.1, 3),
        (None, 0.1, 1),
    ]
    by_optimizer = rows_of(study, *asked[1:], "--keys", "loss:min")
    assert [(row["optimizer"], row["n"]) for row in by_optimizer] == [
        ("adam", 2),
        ("sgd", 9),
        (None, 1),
    ]
    table = text(kleio(study, *asked, "--keys", "loss:min", COLUMNS="80").stdout).splitlines()
    assert table[0].split() == ["optimizer", "n", "loss:min"]
    assert table[-1].startswith(" ") and table[-1].split()[0] == "1"  # a blank, then n


def test_the_table_shows_mean_and_spread_together_and_fits_80_columns(study):
    result = kleio(
        study,
        "compare",
        "--tags",
        "study",
        "--group-by",
        "lr",
        "--sort",
        "loss:last:mean",
        COLUMNS="80",
    )
    assert result.returncode == 0, text(result.stderr)
    lines = text(result.stdout).splitlines()
    assert len(lines) == 4 and all(len(line) <= 80 for line in lines), lines
    headers = lines[0].split()
    assert headers[:2] == ["lr", "n"] and "loss:last" in headers  # never left out
    best = lines[1].split()
    column = headers.index("loss:last")
    assert best[0] == str(min(RATES))
    # `0.0123* ± 0.004`: the mean is the best of its sorted column.
    assert best[2 + 3 * (column - 2)].endswith("*") and best[3 + 3 * (column - 2)] == "±"
    left_out = text(result.stderr)
    assert "columns left out to fit the terminal" in left_out
    assert "lr_now:last" in left_out and "±" not in left_out
    wide = kleio(study, "compare", "--tags", "study", "--group-by", "lr", COLUMNS="200")
    assert text(wide.stderr) == ""
    assert text(wide.stdout).splitlines()[0].split() == [
        "lr",
        "n",
        "acc:last",
        "epoch:last",
        "grad_norm:last",
        "loss:last",
        "lr_now:last",
    ]
    # Asked for apart, mean and std are columns of their own.
    apart = kleio(
        study,
        "compare",
        "--tags",
        "study",
        "--group-by",
        "lr",
        "--keys",
        "loss:min",
        "--agg",
        "mean,max",
        COLUMNS="80",
    )
    assert text(apart.stdout).splitlines()[0].split() == [
        "lr",
        "n",
        "loss:min:mean",
        "loss:min:max",
    ]


def test_bad_group_options_are_one_line_errors(study):
    missing = kleio(study, "compare", "--group-by", "nosuchkey")
    one_line_error(missing, "'nosuchkey'", "--group-by", "lr", "seed", "optimizer")
    one_line_error(
        kleio(study, "compare", "--group-by", "*", "--seed-key", "sede"), "'sede'", "--seed-key"
    )
    one_line_error(
        kleio(study, "compare", "--group-by", "lr", "--agg", "foo"),
        "'foo'",
        "mean, std, min, max, median",
    )
    one_line_error(kleio(study, "compare", "--agg", "mean"), "--agg", "--group-by")
    one_line_error(kleio(study, "compare", "--seed-key", "split"), "--seed-key", "--group-by")
    one_line_error(
        kleio(study, "compare", "--group-by", "lr", "--sort", "loss:min"),
        "'loss:min'",
        "loss:min:mean",
    )
    one_line_error(
        kleio(study, "compare", "--group-by", "lr", "--where", "loss:mean<1"), "loss:last:mean"
    )
    one_line_error(kleio(study, "compare", "--group-by", "lr", "-n", "-1"), "groups")
    helped = text(kleio(study, "compare", "--help").stdout)
    from kleio.core.reading.groups import GROUP_AGGREGATES

    assert ",".join(GROUP_AGGREGATES) in " ".join(helped.split())


def test_kleio_compare_in_python_gives_the_commands_groups(study, monkeypatch):
    import kleio

    env, project = study
    for name, value in env.items():
        if name.startswith(("KLEIO_", "XDG_")):
            monkeypatch.setenv(name, value)
    monkeypatch.chdir(project)
    asked = ["--tags", "study", "--group-by", "*", "--seed-key", "split", "--keys", "loss:min"]
    printed = rows_of(study, *asked, "--sort", "-loss:min:mean")
    frame = kleio.compare(
        tags="study", group_by="*", seed_keys="split", keys="loss:min", sort="-loss:min:mean"
    )
    assert list(frame.columns) == ["lr", "n", "loss:min:mean", "loss:min:std"]
    assert frame.to_dict("records") == printed
    monkeypatch.setitem(sys.modules, "pandas", None)  # not installed
    rows = kleio.compare(
        tags="study",
        group_by=["*"],
        seed_keys=["split"],
        keys="loss:min",
        agg="mean,std",
        sort="-loss:min:mean",
    )
    assert rows == printed
