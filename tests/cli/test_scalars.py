"""``kleio run --scalars``: the numbers a script prints become statistics of its trial,
marked as read from the output, and a run that does not ask reads nothing.

The training logs under ``tests/fixtures/training-logs/`` are what PyTorch Lightning,
Hugging Face Transformers and Keras 3 print (progress bars rewritten with ``\\r``, ANSI
colours, the frameworks' banners); a tiny script replays them byte for byte, a few bytes
a write, so lines reach Kleio cut anywhere.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import write_script
from tests.helpers import invoke, one_line_error, start_kleio, stop, text, trial_id_in

LOGS = Path(__file__).resolve().parents[1] / "fixtures" / "training-logs"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "train.py"

REPLAY = """\
import os, sys
data = open(sys.argv[1], "rb").read()
stream = os.fdopen(2 if sys.argv[2:] == ["stderr"] else 1, "wb", buffering=0)
for start in range(0, len(data), 7):
    stream.write(data[start : start + 7])
"""

#: What each log's lines say, as the default patterns read them.
EXPECTED = {
    "lightning.log": [
        # The training bar ends its line, then is drawn again with the validation loss.
        {"epoch": 0, "train_loss": 0.31},
        {"epoch": 0, "train_loss": 0.31, "val_loss": 0.29},
        {"epoch": 1, "train_loss": 0.242, "val_loss": 0.29},
        {"epoch": 1, "train_loss": 0.242, "val_loss": 0.231},
        {"epoch": 2, "train_loss": 0.219, "val_loss": 0.231},
        {"epoch": 2, "train_loss": 0.219, "val_loss": 0.214},
    ],
    "transformers.log": [
        {"epoch": 0.5, "loss": 0.6931, "grad_norm": 1.2345, "learning_rate": 4.5e-05},
        {
            "epoch": 1.0,
            "eval_loss": 0.5821,
            "eval_accuracy": 0.712,
            "eval_runtime": 0.5123,
            "eval_samples_per_second": 390.4,
            "eval_steps_per_second": 48.8,
        },
        {"epoch": 1.5, "loss": 0.4127, "grad_norm": 2.071, "learning_rate": 5e-06},
        {
            "epoch": 2.0,
            "eval_loss": 0.4473,
            "eval_accuracy": 0.803,
            "eval_runtime": 0.4987,
            "eval_samples_per_second": 401.0,
            "eval_steps_per_second": 50.1,
        },
        {
            "epoch": 2.0,
            "train_runtime": 12.3456,
            "train_samples_per_second": 162.0,
            "train_steps_per_second": 20.25,
            "train_loss": 0.5529,
        },
    ],
    # "Epoch 1/3" gives the epoch of the lines after it; each step's state is rewritten,
    # the epoch's last one is kept.
    "keras.log": [
        {"epoch": 1, "accuracy": 0.7031, "loss": 0.6112, "val_accuracy": 0.81, "val_loss": 0.4821},
        {"epoch": 2, "accuracy": 0.8594, "loss": 0.3921, "val_accuracy": 0.88, "val_loss": 0.331},
        {"epoch": 3, "accuracy": 0.9102, "loss": 0.2874, "val_accuracy": 0.9, "val_loss": 0.2705},
    ],
}


def _stats(trial: str, env, cwd, *options: str) -> list[dict]:
    listed = invoke("stats", trial, "--format", "json", *options, env=env, cwd=cwd)
    assert listed.returncode == 0, text(listed.stderr)
    return json.loads(listed.stdout)


@pytest.mark.parametrize(
    ("log", "stream"),
    [("lightning.log", "stdout"), ("transformers.log", "stderr"), ("keras.log", "stdout")],
)
def test_a_frameworks_printed_metrics_become_the_trials_statistics(
    kleio, project, env, log, stream
):
    write_script(project, "replay.py", REPLAY)
    shutil.copy(LOGS / log, project / log)
    ran = kleio("run", "--scalars", "python", "replay.py", log, stream)
    assert ran.returncode == 0, text(ran.stderr)
    trial = trial_id_in(ran.stderr)
    printed = ran.stdout if stream == "stdout" else ran.stderr.split(b"\n", 1)[1]
    assert printed == (LOGS / log).read_bytes()  # the output itself is unchanged

    assert _stats(trial, env, project) == EXPECTED[log]
    rows = _stats(trial, env, project, "--with-meta")
    assert {row["_source"] for row in rows} == {"output"}
    assert {row["_execution"] for row in rows} == {1}


def test_without_scalars_nothing_is_read_from_the_output(kleio, project, env):
    write_script(project, "replay.py", REPLAY)
    shutil.copy(LOGS / "keras.log", project / "keras.log")
    ran = kleio("python", "replay.py", "keras.log")
    assert ran.returncode == 0, text(ran.stderr)
    trial = trial_id_in(ran.stderr)
    assert _stats(trial, env, project) == []
    # Nor does --no-scalars beside a setting that asks for them.
    write_script(project, "again.py", "print('loss: 0.5')\n")
    ran = kleio("--no-scalars", "python", "again.py", KLEIO_SCALARS="1")
    assert _stats(trial_id_in(ran.stderr), env, project) == []


def test_the_example_prints_space_separated_pairs_a_pattern_of_ones_own_reads(kleio, project, env):
    """``epoch   1  loss 3.51671  weight 0.211  bias -0.180``: the default patterns take
    ``key: value`` and ``key=value`` only (prose is full of "word number"), so they take
    nothing here; a pattern of one's own takes every pair, beside the logger's own
    statistics, and ``_source`` tells them apart."""
    shutil.copy(EXAMPLE, project / "example.py")
    command = ["python", "example.py", "--epochs", "4", "--sleep", "0"]
    ran = kleio("run", "--scalars", *command)
    assert ran.returncode == 0, text(ran.stderr)
    rows = _stats(trial_id_in(ran.stderr), env, project, "--with-meta")
    assert {row["_source"] for row in rows} == {"logger"} and len(rows) == 4

    pattern = r"(?P<key>[a-z]+)\s+(?P<value>-?[0-9.]+)"
    ran = kleio("run", "--scalar-pattern", pattern, *command, "--seed", "2")
    assert ran.returncode == 0, text(ran.stderr)
    rows = _stats(trial_id_in(ran.stderr), env, project, "--with-meta")
    printed = [
        dict(zip(fields[::2], map(float, fields[1::2]), strict=True))
        for fields in (line.split() for line in text(ran.stdout).splitlines())
    ]
    from_output = [row for row in rows if row["_source"] == "output"]
    assert [{key: row[key] for key in printed[0]} for row in from_output] == printed
    assert [row["epoch"] for row in from_output] == [1, 2, 3, 4]
    assert isinstance(from_output[0]["epoch"], int)  # as printed: an integer
    logged = [row for row in rows if row["_source"] == "logger"]
    assert [row["epoch"] for row in logged] == [1, 2, 3, 4]
    for mine, theirs in zip(from_output, logged, strict=True):
        assert mine["loss"] == pytest.approx(theirs["loss"], abs=1e-5)


@pytest.mark.parametrize(
    ("pattern", "says"),
    [
        ("loss: (?P<value>[0-9.]+", "is not a regular expression"),
        (r"loss: (?P<value>\S+)", "needs a group named key"),
        (r"(?P<key>\w+)=", "needs a group named value"),
        (r"loss: \S+", "names no group"),
        (r"(?P<key>\w+)=(?P<value>\S+) (?P<unit>\w+)", "no other group may be named"),
        (r"loss: (?P<_loss>\S+)", "starting with _ are Kleio's"),
    ],
)
def test_a_bad_pattern_is_one_line_before_anything_runs(kleio, project, env, pattern, says):
    write_script(project, "touch.py", "open('ran', 'w').close()\nprint('loss: 1')\n")
    refused = kleio("run", "--scalar-pattern", pattern, "python", "touch.py")
    line = one_line_error(refused, says)
    assert pattern[:20] in line
    assert not (project / "ran").exists()
    listed = invoke("ls", "--format", "json", env=env, cwd=project)
    assert json.loads(listed.stdout) == []


LINES = """\
import os, sys
out = sys.stdout
if os.environ["KLEIO_EXECUTION"] == "1":
    out.write("Epoch 1/2\\r\\n")                     # a Windows line end
    out.write("step 10 loss: 0.5 lr=1e-3 acc: nan\\n")
    out.write("Total params: 66\\nloss: 0.4s\\n")     # no pair: a word before, a unit after
    out.flush()
    sys.exit(130)                                    # interrupted: resumable
out.write("epoch=2 loss: 0.25\\n")
out.write("progress 10%\\rprogress 90%\\rloss: 0.125")  # the last line, never ended
"""


def test_settings_ask_for_scalars_and_a_resumed_trial_reads_each_execution(
    kleio, project, env, tmp_path
):
    write_script(project, "lines.py", LINES)
    config = tmp_path / "kleio.yaml"
    config.write_text("scalars: true\n")
    first = kleio("--config", str(config), "python", "lines.py")
    assert first.returncode == 130, text(first.stderr)
    trial = trial_id_in(first.stderr)
    second = kleio("run", trial[:7], KLEIO_SCALARS="1")
    assert second.returncode == 0, text(second.stderr)

    rows = _stats(trial, env, project, "--with-meta")
    assert [row["_execution"] for row in rows] == [1, 2, 2]
    rows = [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]
    assert rows[0].pop("acc") == "NaN"  # as kleio's JSON writes a NaN
    assert rows == [
        {"epoch": 1, "step": 10, "loss": 0.5, "lr": 0.001},
        {"epoch": 2, "loss": 0.25},
        # a new execution starts with no epoch of its own: it reads its own lines
        {"epoch": 2, "loss": 0.125},
    ]


def test_a_bad_setting_is_one_line(kleio, project, env):
    write_script(project, "quiet.py", "print('loss: 1')\n")
    refused = kleio("python", "quiet.py", KLEIO_SCALARS="maybe")
    one_line_error(refused, "scalars must be true, false or a list of patterns", "KLEIO_SCALARS")


def test_scalars_while_it_runs(project, env):
    """Read as the output is: a statistic is in the journal while the script still runs."""
    write_script(
        project,
        "slow.py",
        """\
        import os, time
        print("loss: 0.5", flush=True)
        while not os.path.exists("stop"):
            time.sleep(0.05)
        """,
    )
    process = start_kleio(env, project, "run", "--scalars", "python", "slow.py")
    try:
        found: list[dict] = []
        deadline = time.monotonic() + 60
        while not found and time.monotonic() < deadline:
            trials = json.loads(invoke("ls", "--format", "json", env=env, cwd=project).stdout)
            found = _stats(trials[0]["id"], env, project) if trials else []
            time.sleep(0.1)
        assert found == [{"loss": 0.5}]
        assert process.poll() is None  # still running
    finally:
        (project / "stop").touch()
        try:
            assert process.wait(60) == 0
        finally:
            stop(process)
