"""Lightning, Transformers and Keras write into Kleio trials: each a real training of a
tiny model on the CPU, run as a user runs it, under ``kleio`` and without it.

Each script (``scripts/train_*.py``) trains with Kleio's logger or callback and a twin
that keeps what the framework gave (``framework.json``): the trial must hold every one
of those metrics, with its step, in order.
"""

from __future__ import annotations

import importlib
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kleio.client import api
from kleio.core.model.errors import KleioError
from kleio.integrations.trials import CONFIGURATION
from tests.conftest import commit, git
from tests.helpers import clean_environment, run_kleio, text

SCRIPTS = Path(__file__).parent / "scripts"


def _project(tmp_path: Path, framework: str, flavour: str = "") -> tuple[Path, dict[str, str]]:
    project = tmp_path / "project"
    project.mkdir(parents=True)
    git(project, "init", "-q", "-b", "main")
    shutil.copy(SCRIPTS / f"train_{framework}.py", project / "train.py")
    shutil.copy(SCRIPTS / "common.py", project / "common.py")
    (project / ".gitignore").write_text("framework.json\ncalls.json\nout/\nkleio-logs/\n")
    commit(project, "first")
    env = clean_environment(
        tmp_path / "home", HF_HUB_OFFLINE="1", KERAS_BACKEND="torch", FLAVOUR=flavour
    )
    return project, env


def _run(project: Path, env: dict[str, str], *args: str, wrapped: bool, **extra: str):
    if wrapped:
        return run_kleio("python", "train.py", *args, env={**env, **extra}, cwd=project)
    command = [sys.executable, "train.py", *args]
    return subprocess.run(
        command, env={**env, **extra}, cwd=project, capture_output=True, timeout=120
    )


def _the_trial(env: dict[str, str]) -> api.Trial:
    (trial,) = api.list_trials(home=env["KLEIO_HOME"])
    return trial


def _close(value, expected) -> bool:
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(value, float) and math.isnan(value)
    return math.isclose(value, expected, rel_tol=1e-6, abs_tol=1e-12)


def _check_statistics(trial: api.Trial, project: Path) -> list[dict]:
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


def _recorded_configuration(trial: api.Trial) -> dict:
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


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["lightning", "transformers", "keras"])
def test_under_kleio_a_training_journals_its_metrics_and_configuration(tmp_path, framework):
    project, env = _project(tmp_path, framework)
    result = _run(project, env, wrapped=True)
    assert result.returncode == 0, text(result.stderr)
    trial = _the_trial(env)
    assert trial.status == "completed"
    rows = _check_statistics(trial, project)
    assert SHAPES[framework](rows), rows
    CONFIGURATION_CHECKS[framework](_recorded_configuration(trial))
    assert trial.configuration == {}  # the command line's: the trial's identity


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["lightning", "transformers", "keras"])
def test_under_kleio_a_training_that_raises_leaves_its_trial_broken_with_its_metrics(
    tmp_path, framework
):
    project, env = _project(tmp_path, framework)
    result = _run(project, env, "--fail-at", "2", wrapped=True)
    assert result.returncode != 0
    assert "diverged" in text(result.stderr)
    trial = _the_trial(env)
    assert trial.status == "broken"
    rows = _check_statistics(trial, project)
    assert rows and max(row["step"] for row in rows) <= 2


@pytest.mark.slow
def test_checkpoints_are_artifacts_when_asked(tmp_path):
    """Lightning's ``log_model=True``: each checkpoint saved, with its epoch and step;
    Transformers' ``artifacts=True``: each file of each checkpoint folder."""
    project, env = _project(tmp_path, "lightning")
    assert _run(project, env, wrapped=True).returncode == 0
    saved = {a.filename: a for a in _the_trial(env).artifacts if a.filename.endswith(".ckpt")}
    assert set(saved) == {"epoch=0-step=4.ckpt", "epoch=1-step=8.ckpt"}
    assert saved["epoch=1-step=8.ckpt"].attributes == {"epoch": 1, "step": 8}
    (on_disk,) = project.glob("kleio-logs/*/checkpoints/epoch=1-step=8.ckpt")
    assert on_disk.parent.parent.name == _the_trial(env).id  # the logger's version
    assert saved["epoch=1-step=8.ckpt"].read() == on_disk.read_bytes()

    project, env = _project(tmp_path / "hf", "transformers")
    assert _run(project, env, wrapped=True).returncode == 0
    files = {a.filename: a for a in _the_trial(env).artifacts if a.filename != CONFIGURATION}
    for step in (2, 4):
        folder = project / "out" / f"checkpoint-{step}"
        expected = {f"checkpoint-{step}/{p.name}" for p in folder.iterdir() if p.is_file()}
        assert expected and expected <= set(files)
        weights = files[f"checkpoint-{step}/model.safetensors"]
        assert weights.attributes["step"] == step
        assert weights.read() == (folder / "model.safetensors").read_bytes()


@pytest.mark.slow
def test_the_lightning_logger_works_with_pytorch_lightning_too(tmp_path):
    project, env = _project(tmp_path, "lightning", flavour="pytorch_lightning")
    result = _run(project, env, wrapped=True)
    assert result.returncode == 0, text(result.stderr)
    trial = _the_trial(env)
    assert trial.status == "completed"
    _check_statistics(trial, project)


# -- without kleio: the integration opens the trial itself --------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["lightning", "transformers", "keras"])
@pytest.mark.parametrize("fail", [False, True])
def test_without_kleio_the_integration_starts_the_trial_and_ends_it_with_the_outcome(
    tmp_path, framework, fail
):
    """``kleio.start`` (a stand-in that records its calls) with the framework's
    configuration, the logger's options, and ``end`` with the training's outcome: once."""
    project, env = _project(tmp_path, framework)
    calls = project / "calls.json"
    args = ("--fail-at", "2") if fail else ()
    result = _run(project, env, *args, wrapped=False, FAKE_START=str(calls))
    assert (result.returncode != 0) == fail, text(result.stderr)
    start, *rest = json.loads(calls.read_text())
    CONFIGURATION_CHECKS[framework](start.pop("start"))
    assert start == {"project": None, "tags": ["tiny"], "name": None, "resume": True}
    assert rest == [{"end": None, "error": "RuntimeError" if fail else None}]


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["lightning", "transformers", "keras"])
def test_without_kleio_a_training_is_a_trial_of_its_own(tmp_path, framework):
    project, env = _project(tmp_path, framework)
    result = _run(project, env, wrapped=False)
    assert result.returncode == 0, text(result.stderr)
    trial = _the_trial(env)
    assert trial.status == "completed"
    assert trial.tags == ["tiny"]
    rows = _check_statistics(trial, project)
    assert SHAPES[framework](rows), rows
    CONFIGURATION_CHECKS[framework](trial.configuration)


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["lightning", "transformers", "keras"])
def test_without_kleio_a_training_that_raises_is_a_broken_trial(tmp_path, framework):
    project, env = _project(tmp_path, framework)
    result = _run(project, env, "--fail-at", "2", wrapped=False)
    assert result.returncode != 0
    trial = _the_trial(env)
    assert trial.status == "broken"
    rows = _check_statistics(trial, project)
    assert rows and max(row["step"] for row in rows) <= 2


# -- without the framework -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "frameworks", "extra"),
    [
        ("lightning", ["lightning", "pytorch_lightning"], "lightning"),
        ("transformers", ["transformers"], "transformers"),
        ("keras", ["keras"], "keras"),
    ],
)
def test_without_its_framework_an_integration_says_which_extra_installs_it(
    monkeypatch, module, frameworks, extra
):
    for name in frameworks:
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    monkeypatch.delitem(sys.modules, f"kleio.integrations.{module}", raising=False)
    with pytest.raises(KleioError, match=rf"pip install 'kleio\[{extra}\]'"):
        importlib.import_module(f"kleio.integrations.{module}")
