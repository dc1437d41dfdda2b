"""Statistics know where they come from: a trial resumed after an interrupted epoch
redoes part of it, and each record says which execution logged it, and when."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import write_script
from tests.helpers import invoke, text, trial_id_in

REDO = """\
import os, sys
from kleio.client.logger import kleio_logger

execution = int(os.environ["KLEIO_EXECUTION"])
if execution == 1:
    for epoch, batch in ((1, 1), (1, 2), (2, 1), (2, 2), (3, 1)):
        kleio_logger.log_statistic(epoch=epoch, batch=batch, loss=1.0 / (epoch + batch))
    kleio_logger.log_statistic(note="interrupted", loss=None)
    sys.exit(130)  # as after Ctrl-C: the trial is interrupted, resumable
for epoch, batch in ((3, 1), (3, 2)):  # epoch 3 again, from its checkpoint
    kleio_logger.log_statistic(epoch=epoch, batch=batch, loss=0.1 * batch)
"""

API = """\
import json, sys
import kleio

statistics = kleio.load_trial(sys.argv[1]).statistics
latest = statistics.latest_by("epoch", "batch")
frame = statistics.to_pandas(with_meta=True)
print(json.dumps({
    "latest": [[s["epoch"], s["batch"], statistics.meta(s).execution] for s in latest],
    "columns": list(frame.columns),
    "executions": frame["_execution"].tolist(),
    "plain_columns": list(statistics.to_pandas().columns),
    "loss_none": statistics.where(loss=None),
    "epochs": statistics.column("epoch"),
}))
"""


def test_a_resumed_trial_tells_its_executions_statistics_apart(kleio, project, env):
    write_script(project, "redo.py", REDO)
    first = kleio("python", "redo.py")
    trial = trial_id_in(first.stderr)
    assert first.returncode == 130 and "interrupted" in text(first.stderr)
    second = kleio("run", trial[:7])
    assert second.returncode == 0, text(second.stderr)

    listed = invoke("stats", trial[:7], "--with-meta", "--format", "json", env=env, cwd=project)
    rows = json.loads(listed.stdout)
    assert [row["_execution"] for row in rows] == [1, 1, 1, 1, 1, 1, 2, 2]
    assert all(row["_trial"] == trial for row in rows)
    times = [row["_time"] for row in rows]
    assert all(time.endswith("Z") for time in times) and times == sorted(times)
    table = text(invoke("stats", trial[:7], "--with-meta", env=env, cwd=project).stdout)
    assert table.splitlines()[0].split() == [
        "EPOCH",
        "BATCH",
        "LOSS",
        "NOTE",
        "_TRIAL",
        "_EXECUTION",
        "_TIME",
        "(UTC)",
    ]

    result = subprocess.run(
        [sys.executable, "-c", API, trial], cwd=project, env=env, capture_output=True, timeout=60
    )
    assert result.returncode == 0, text(result.stderr)
    answer = json.loads(result.stdout)
    assert answer["latest"] == [[1, 1, 1], [1, 2, 1], [2, 1, 1], [2, 2, 1], [3, 1, 2], [3, 2, 2]]
    assert answer["columns"] == ["epoch", "batch", "loss", "note", "_trial", "_execution", "_time"]
    assert answer["executions"] == [1, 1, 1, 1, 1, 1, 2, 2]
    assert answer["plain_columns"] == ["epoch", "batch", "loss", "note"]
    assert answer["loss_none"] == [{"note": "interrupted", "loss": None}]
    assert answer["epochs"] == [1, 1, 2, 2, 3, 3, 3]  # the note has no epoch: skipped


def test_with_meta_is_for_statistics_only(kleio, project, env):
    trial = trial_id_in(kleio("python", "train.py").stderr)
    refused = invoke("stats", trial[:7], "--resources", "--with-meta", env=env, cwd=project)
    assert refused.returncode == 2
    assert text(refused.stderr) == (
        "kleio: error: --with-meta is for statistics: resource samples have their time "
        "and execution\n"
    )
