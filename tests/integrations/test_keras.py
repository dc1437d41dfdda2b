"""Keras 3 (on the torch backend) writes into Kleio trials (``KleioCallback``): a real
training of a tiny model on the CPU, under ``kleio`` and without it (see ``training.py``)."""

from __future__ import annotations

import pytest

from tests.integrations.training import refuses_without, trains_alone, trains_under_kleio


@pytest.mark.slow
def test_under_kleio_a_training_journals_its_metrics_and_configuration(tmp_path):
    trains_under_kleio(tmp_path, "keras")


@pytest.mark.slow
def test_without_kleio_a_training_is_a_trial_of_its_own(tmp_path):
    trains_alone(tmp_path, "keras")


def test_without_keras_the_callback_says_which_extra_installs_it(monkeypatch):
    refuses_without(monkeypatch, "keras", ["keras"], "keras")
