"""Hugging Face Transformers writes into Kleio trials (``KleioCallback``): a real
training of a tiny model on the CPU, under ``kleio`` and without it (see ``training.py``)."""

from __future__ import annotations

import pytest

from kleio.integrations.trials import CONFIGURATION
from tests.integrations.training import refuses_without, trains_alone, trains_under_kleio


@pytest.mark.slow
def test_under_kleio_a_training_journals_its_metrics_configuration_and_checkpoints(tmp_path):
    """``artifacts=True``: each file of each checkpoint folder, with its step."""
    project, env, trial = trains_under_kleio(tmp_path, "transformers")
    files = {a.filename: a for a in trial.artifacts if a.filename != CONFIGURATION}
    for step in (2, 4):
        folder = project / "out" / f"checkpoint-{step}"
        expected = {f"checkpoint-{step}/{p.name}" for p in folder.iterdir() if p.is_file()}
        assert expected and expected <= set(files)
        weights = files[f"checkpoint-{step}/model.safetensors"]
        assert weights.attributes["step"] == step
        assert weights.read() == (folder / "model.safetensors").read_bytes()


@pytest.mark.slow
def test_without_kleio_a_training_is_a_trial_of_its_own(tmp_path):
    trains_alone(tmp_path, "transformers")


def test_without_transformers_the_callback_says_which_extra_installs_it(monkeypatch):
    refuses_without(monkeypatch, "transformers", ["transformers"], "transformers")
