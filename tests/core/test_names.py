"""Human names of trials: unique in a journal, never read as an id, never part of one."""

from __future__ import annotations

import pytest

from kleio.core.model.errors import SettingsError, UnknownTrial
from kleio.core.model.names import NameTaken, check_name, name_trial, settle
from kleio.core.model.trial import TrialSpec, new_trial_document, resolve_trial


def _trial(store, lr: float) -> dict:
    document = new_trial_document(TrialSpec("mnist", ("python", "a.py", "--lr", str(lr))))
    store.create_trial(document)
    return document


@pytest.mark.parametrize("name", ["baseline", "lr-0.1", "run_2", "2024.11.sweep", "g" * 64])
def test_a_name_is_one_word_that_is_no_id(name):
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "cafe", "CAFE", "0123", "3f9c2e0", "-x", "+best", "a b", "a/b", "é", "a" * 65]
)
def test_a_name_an_id_could_be_or_a_shell_would_split_is_refused(name):
    with pytest.raises(SettingsError):
        check_name(name)


def test_a_hexadecimal_word_is_an_id_any_other_a_name(store):
    first, second = _trial(store, 0.1), _trial(store, 0.2)
    name_trial(store, first, "face-1")
    assert resolve_trial(store, "face-1")["_id"] == first["_id"]
    assert resolve_trial(store, second["_id"][:8])["_id"] == second["_id"]
    with pytest.raises(UnknownTrial, match="no trial is named 'face-2'"):
        resolve_trial(store, "face-2")
    # Naming changes no id: the spec stays the identity.
    assert TrialSpec.of(store.get_trial(first["_id"])).id == first["_id"]


def test_two_trials_named_at_once_never_both_keep_the_name(store):
    """Each process writes its name, then reads: the later reader sees both and backs
    out, whichever order the writes took."""
    first, second = _trial(store, 0.1), _trial(store, 0.2)
    for document in (first, second):  # both written before either checks again
        store.update_trial(document["_id"], {"name": "best"})
        document["name"] = "best"
    with pytest.raises(NameTaken, match="taken by trial"):
        settle(store, first)
    settle(store, second)  # the other backed out: this one keeps it
    assert [d["_id"] for d in store.find_trials() if d.get("name") == "best"] == [second["_id"]]
    with pytest.raises(NameTaken):
        name_trial(store, first, "best")
    assert "name" not in store.get_trial(first["_id"])
