"""What ``kleio.start(config=...)`` makes of the configurations scripts hold: an
``argparse.Namespace``, a dataclass, an OmegaConf (Hydra) config, a mapping; each becomes
the same plain values, so one setting is one trial whichever form gave it."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import pathlib

import pytest
from omegaconf import OmegaConf

from kleio.client.configuration import plain_configuration

PLAIN = {"lr": 0.1, "model": {"depth": 4, "act": "relu"}, "seeds": [1, 2], "tag": None}


class Act(enum.Enum):
    RELU = "relu"


@dataclasses.dataclass
class Model:
    depth: int
    act: Act


@dataclasses.dataclass
class Config:
    lr: float
    model: Model
    seeds: tuple
    tag: str | None = None


def test_every_form_of_one_setting_is_the_same_plain_configuration():
    namespace = argparse.Namespace(
        lr=0.1, model={"depth": 4, "act": "relu"}, seeds=(1, 2), tag=None
    )
    dataclass = Config(0.1, Model(4, Act.RELU), (1, 2))
    omega = OmegaConf.create({"lr": 0.1, "model": {"depth": 4, "act": "relu"}, "seeds": [1, 2],
                              "tag": None})  # fmt: skip
    for given in (PLAIN, namespace, dataclass, omega):
        assert plain_configuration(given) == PLAIN, type(given).__name__


def test_omegaconf_interpolations_are_resolved():
    config = OmegaConf.create({"width": 8, "model": {"hidden": "${width}"}})
    assert plain_configuration(config) == {"width": 8, "model": {"hidden": 8}}


def test_paths_sets_and_number_keys_become_json_values():
    given = {"data": pathlib.Path("/data/x"), "ids": {3, 1, 2}, 1: "one"}
    assert plain_configuration(given) == {"data": "/data/x", "ids": [1, 2, 3], "1": "one"}


def test_a_value_that_cannot_be_made_plain_is_one_line_naming_its_key():
    with pytest.raises(TypeError) as raised:
        plain_configuration({"model": {"layers": [1, object()]}})
    assert "model.layers[1]" in str(raised.value) and "\n" not in str(raised.value)
    with pytest.raises(TypeError, match="config must be a mapping"):
        plain_configuration([1, 2])
    assert plain_configuration(None) is None
