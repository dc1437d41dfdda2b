"""A trial's id is a pure function of its spec."""

from __future__ import annotations

import pytest

from kleio.core.model.errors import AmbiguousTrial, UnknownTrial
from kleio.core.model.trial import ID_LENGTH, TrialSpec, new_trial_document, resolve_trial, short_id

SPEC = TrialSpec(
    project="mnist",
    commandline=("python", "train.py", "--lr", "0.1", "--epochs", "3"),
    configuration={"lr": 0.1, "epochs": 3, "model": {"layers": [64, 64], "act": "relu"}},
)


def test_the_same_spec_always_gives_the_same_id():
    again = TrialSpec("mnist", list(SPEC.commandline), dict(SPEC.configuration))
    assert again.id == SPEC.id
    assert len(SPEC.id) == ID_LENGTH and int(SPEC.id, 16) >= 0
    # Pinned: an id must not change between Kleio versions, or resuming breaks.
    assert SPEC.id == TrialSpec.of(new_trial_document(SPEC)).id


def test_the_id_is_pinned_across_versions():
    # Changing how ids are computed would orphan every journalled trial: resuming
    # `kleio python a.py --x 1` must find the trial made by an earlier Kleio.
    assert TrialSpec("p", ("python", "a.py"), {"x": 1}).id == "5475367403fb87121dc7b9f8cbc57cba"


def test_configuration_key_order_does_not_change_the_id():
    reordered = TrialSpec(
        "mnist",
        SPEC.commandline,
        {"model": {"act": "relu", "layers": [64, 64]}, "epochs": 3, "lr": 0.1},
    )
    assert reordered.id == SPEC.id


def test_argument_order_changes_the_id():
    swapped = TrialSpec(
        "mnist", ("python", "train.py", "--epochs", "3", "--lr", "0.1"), SPEC.configuration
    )
    assert swapped.id != SPEC.id


@pytest.mark.parametrize(
    "change",
    [
        {"project": "cifar"},
        {"configuration": {"lr": 0.2, "epochs": 3, "model": {"layers": [64, 64], "act": "relu"}}},
        {"configuration": {"lr": 0.1, "epochs": 3, "model": {"layers": [64, 32], "act": "relu"}}},
        {"refers": {"parent": "0" * 32, "time": 12.5}},
    ],
)
def test_any_other_part_of_the_spec_changes_the_id(change):
    fields = {
        "project": SPEC.project,
        "commandline": SPEC.commandline,
        "configuration": SPEC.configuration,
        "refers": SPEC.refers,
        **change,
    }
    assert TrialSpec(**fields).id != SPEC.id


def test_list_order_in_the_configuration_matters():
    assert (
        TrialSpec("p", ("a",), {"layers": [1, 2]}).id
        != TrialSpec("p", ("a",), {"layers": [2, 1]}).id
    )


def _add(store, trial_id, command="python train.py"):
    store.create_trial({"_id": trial_id, "created": 1.0, "commandline": command.split()})


def test_a_unique_prefix_finds_its_trial(store):
    _add(store, "abc123" + "0" * 26)
    _add(store, "abd456" + "0" * 26)
    assert resolve_trial(store, "abc")["_id"].startswith("abc123")
    assert resolve_trial(store, "ABD4")["_id"].startswith("abd456")
    assert resolve_trial(store, "abc123" + "0" * 26)["_id"] == "abc123" + "0" * 26
    assert short_id("abc123" + "0" * 26) == "abc1230"


def test_an_ambiguous_prefix_lists_the_candidates(store):
    _add(store, "abc123" + "0" * 26, "python a.py")
    _add(store, "abc456" + "0" * 26, "python b.py")
    _add(store, "ffff00" + "0" * 26)
    with pytest.raises(AmbiguousTrial) as raised:
        resolve_trial(store, "ab")
    message = str(raised.value)
    assert "2 trials" in message
    assert "abc123" in message and "abc456" in message and "ffff" not in message
    assert "python a.py" in message and "python b.py" in message
    assert len(raised.value.candidates) == 2


@pytest.mark.parametrize("text", ["0123", "zzz", "abc-1", "", "a" * 33])
def test_an_unknown_id_is_an_error(store, text):
    _add(store, "abc123" + "0" * 26)
    with pytest.raises(UnknownTrial):
        resolve_trial(store, text)
