"""What the framework integrations' tests share: a project holding one training script
(``scripts/train_*.py``: a tiny model trained on the CPU with Kleio's logger or callback,
and a twin that keeps what the framework gave in ``framework.json``), running it under
``kleio`` or without it, and what its trial must hold: every metric the framework gave,
with its step, in order, and the framework's configuration.

One test file per framework (``test_lightning.py``...): the suite's two workers take a
file each, and a framework's trainings take seconds each.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

from kleio.client import api
from kleio.integrations.trials import CONFIGURATION
from tests.conftest import commit, git
from tests.helpers import clean_environment, run_kleio

SCRIPTS = Path(__file__).parent / "scripts"


def project_of(tmp_path: Path, framework: str, flavour: str = "") -> tuple[Path, dict[str, str]]:
    project = tmp_path / "project"
    project.mkdir(parents=True)
    git(project, "init", "-q", "-b", "main")
    shutil.copy(SCRIPTS / f"train_{framework}.py", project / "train.py")
    shutil.copy(SCRIPTS / "common.py", project / "common.py")
    (project / ".gitignore").write_text("framework.json\nout/\nkleio-logs/\n")
    commit(project, "first")
    env = clean_environment(
        tmp_path / "home", HF_HUB_OFFLINE="1", KERAS_BACKEND="torch", FLAVOUR=flavour
    )
    return project, env


def run(project: Path, env: dict[str, str], *args: str, wrapped: bool, **extra: str):
    if wrapped:
        return run_kleio("python", "train.py", *args, env={**env, **extra}, cwd=project)
    command = [sys.executable, "train.py", *args]
    return subprocess.run(
        command, env={**env, **extra}, cwd=project, capture_output=True, timeout=120
    )


def the_trial(env: dict[str, str]) -> api.Trial:
    (trial,) = api.list_trials(home=env["KLEIO_HOME"])
    return trial


def _close(value, expected) -> bool:
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(value, float) and math.isnan(value)
    return math.isclose(value, expected, rel_tol=1e-6, abs_tol=1e-12)


def check_statistics(trial: api.Trial, project: Path) -> list[dict]:
    """Every metric the framework gave is a statistic of the trial, with its step, in
    the framework's order."""
    given = json.loads((project / "framework.json").read_text())
    rows = [dict(row) for row in trial.statistics]
    assert len(rows) == len(given), (rows, given)
    for row, (step, metrics) in zip(rows, given, strict=True):
        assert row["step"] == step, (row, step)
        for key, value in metrics.items():
            assert _close(row[key], value), (key, row, metrics)
    return rows


def recorded_configuration(trial: api.Trial) -> dict:
    """The framework's configuration in a trial open before the training (the wrapper's)."""
    (artifact,) = [a for a in trial.artifacts if a.filename == CONFIGURATION][:1]
    document = json.loads(artifact.read())
    return document["configuration"]


#: What each framework's configuration holds, from the scripts.
def _lightning_configuration(configuration: dict) -> None:
    assert configuration == {"lr": 0.05, "hidden": 4}


def _transformers_configuration(configuration: dict) -> None:
    assert configuration["args"]["max_steps"] == 4
    assert configuration["args"]["per_device_train_batch_size"] == 2
    assert configuration["model"]["hidden_size"] == 8
    assert configuration["model"]["vocab_size"] == 50
    json.dumps(configuration, allow_nan=True)  # JSON through and through


def _keras_configuration(configuration: dict) -> None:
    assert configuration["fit"] == {"verbose": 0, "epochs": 2, "steps": 2}
    assert configuration["optimizer"]["name"] == "sgd"
    assert math.isclose(configuration["optimizer"]["learning_rate"], 0.05, rel_tol=1e-6)


CONFIGURATION_CHECKS = {
    "lightning": _lightning_configuration,
    "transformers": _transformers_configuration,
    "keras": _keras_configuration,
}

#: What each framework's statistics hold besides the twin's metrics.
SHAPES = {
    # 2 epochs of 4 batches: a training loss per step, a validation loss per epoch.
    "lightning": lambda rows: (
        [row["step"] for row in rows if "train_loss" in row] == list(range(8))
        and [row["epoch"] for row in rows if "val_loss" in row] == [0, 1]
    ),
    # 4 steps, logged each, evaluated at 2 and 4 (once each), then the final summary.
    "transformers": lambda rows: (
        [row["step"] for row in rows if "loss" in row] == [1, 2, 3, 4]
        and [row["step"] for row in rows if "eval_loss" in row] == [2, 4]
        and [row["epoch"] for row in rows if "eval_loss" in row] == [0.5, 1.0]
        and "train_runtime" in rows[-1]
    ),
    # 2 epochs of 2 batches: batch metrics at steps 1 to 4, epoch metrics after 2 and 4.
    "keras": lambda rows: (
        [row["step"] for row in rows if "batch_loss" in row] == [1, 2, 3, 4]
        and [(row["epoch"], row["step"]) for row in rows if "val_loss" in row] == [(0, 2), (1, 4)]
    ),
}


def trains_under_kleio(
    tmp_path: Path, framework: str, flavour: str = ""
) -> tuple[Path, dict, api.Trial]:
    """A training under ``kleio``: completed, every metric with its step, the framework's
    configuration beside the command line's (the trial's identity, empty here)."""
    project, env = project_of(tmp_path, framework, flavour)
    result = run(project, env, wrapped=True)
    assert result.returncode == 0, result.stderr.decode()
    trial = the_trial(env)
    assert trial.status == "completed"
    rows = check_statistics(trial, project)
    assert SHAPES[framework](rows), rows
    CONFIGURATION_CHECKS[framework](recorded_configuration(trial))
    assert trial.configuration == {}
    return project, env, trial


def trains_alone(tmp_path: Path, framework: str) -> None:
    """Without ``kleio``: the integration opens a trial of its own with the framework's
    configuration, completed; a training that raises at step 2 leaves another broken
    trial with its metrics up to there."""
    project, env = project_of(tmp_path, framework)
    result = run(project, env, wrapped=False)
    assert result.returncode == 0, result.stderr.decode()
    trial = the_trial(env)
    assert trial.status == "completed"
    assert trial.tags == ["tiny"]
    rows = check_statistics(trial, project)
    assert SHAPES[framework](rows), rows
    CONFIGURATION_CHECKS[framework](trial.configuration)

    project, env = project_of(tmp_path / "failing", framework)
    result = run(project, env, "--fail-at", "2", wrapped=False)
    assert result.returncode != 0
    trial = the_trial(env)
    assert trial.status == "broken"
    rows = check_statistics(trial, project)
    assert rows and max(row["step"] for row in rows) <= 2


def refuses_without(monkeypatch, module: str, frameworks: list[str], extra: str) -> None:
    """Without its framework, an integration's import is one line naming its extra."""
    import importlib

    import pytest

    from kleio.core.model.errors import KleioError

    for name in frameworks:
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    monkeypatch.delitem(sys.modules, f"kleio.integrations.{module}", raising=False)
    with pytest.raises(KleioError, match=rf"pip install 'kleio\[{extra}\]'"):
        importlib.import_module(f"kleio.integrations.{module}")
