"""PyTorch Lightning writes into Kleio trials (``KleioLogger``): a real training of a
tiny model on the CPU, under ``kleio`` and without it (see ``training.py``)."""

from __future__ import annotations

import pytest

from tests.helpers import text
from tests.integrations.training import (
    check_statistics,
    project_of,
    refuses_without,
    run,
    the_trial,
    trains_alone,
    trains_under_kleio,
)

pytestmark = pytest.mark.slow  # trainings of seconds each


def test_under_kleio_a_training_journals_its_metrics_configuration_and_checkpoints(tmp_path):
    """``log_model=True``: each checkpoint saved, with its epoch and step."""
    project, env, trial = trains_under_kleio(tmp_path, "lightning")
    saved = {a.filename: a for a in trial.artifacts if a.filename.endswith(".ckpt")}
    assert set(saved) == {"epoch=0-step=4.ckpt", "epoch=1-step=8.ckpt"}
    assert saved["epoch=1-step=8.ckpt"].attributes == {"epoch": 1, "step": 8}
    (on_disk,) = project.glob("kleio-logs/*/checkpoints/epoch=1-step=8.ckpt")
    assert on_disk.parent.parent.name == trial.id  # the logger's version
    assert saved["epoch=1-step=8.ckpt"].read() == on_disk.read_bytes()


def test_under_kleio_a_training_that_raises_leaves_the_wrappers_trial_to_the_wrapper(tmp_path):
    """The logger never ends a trial it joined: the wrapper makes it broken, with the
    metrics up to the failure."""
    project, env = project_of(tmp_path, "lightning")
    result = run(project, env, "--fail-at", "2", wrapped=True)
    assert result.returncode != 0
    assert "diverged" in text(result.stderr)
    trial = the_trial(env)
    assert trial.status == "broken"
    rows = check_statistics(trial, project)
    assert rows and max(row["step"] for row in rows) <= 2


def test_the_logger_works_with_pytorch_lightning_too(tmp_path):
    trains_under_kleio(tmp_path, "lightning", flavour="pytorch_lightning")


def test_without_kleio_a_training_is_a_trial_of_its_own(tmp_path):
    trains_alone(tmp_path, "lightning")


@pytest.mark.parametrize("missing", [["lightning", "pytorch_lightning"]])
def test_without_lightning_the_logger_says_which_extra_installs_it(monkeypatch, missing):
    refuses_without(monkeypatch, "lightning", missing, "lightning")
