"""Curating trials after the fact: tags added or removed, notes attached, edited or
removed.

Both are journalled as events (``tag``, ``note``), so their history is kept like the
rest; the current tags are also on the trial document, where selection finds them.

Notes are numbered from 1 in the order they were attached, and keep their number: an
edit or a removal is a ``note`` event of its own naming the note it supersedes by the
key of the event that attached it (``{"text": ..., "edits": KEY}``, ``{"removes":
KEY}``), so a removed note leaves a gap and never renumbers the others, and every
version stays in the journal (:func:`note_history`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from kleio.core.model import clock
from kleio.core.model.errors import KleioError, SettingsError
from kleio.core.model.journal import writer
from kleio.core.model.printed import readable_events
from kleio.core.model.trial import TrialDocument, short_id
from kleio.store.base import Store

TAG = "tag"
NOTE = "note"
_TAG = re.compile(r"[^\s,;]+")


def check_tag(tag: str) -> str:
    """A tag as given, or a one-line error: tags are words without ``,`` or ``;``
    (which separate tags in ``--tags A;B``)."""
    if not _TAG.fullmatch(tag):
        raise SettingsError(f"bad tag {tag!r}: a tag is one word without ',' or ';'")
    return tag


def change_tags(
    store: Store, document: TrialDocument, add: Sequence[str], remove: Sequence[str]
) -> list[str]:
    """Add and remove tags of a trial; returns its tags. A compare-and-set on the
    document's ``updated`` time, retried if the trial changed meanwhile."""
    for tag in [*add, *remove]:
        check_tag(tag)
    trial_id = document["_id"]
    for _ in range(10):
        current = list(document.get("tags") or [])
        tags = [tag for tag in dict.fromkeys([*current, *add]) if tag not in set(remove)]
        if tags == current:
            return tags
        now = clock.now()
        if store.update_trial(
            trial_id, {"tags": tags, "updated": now}, {"updated": document.get("updated")}
        ):
            added = [tag for tag in tags if tag not in current]
            removed = [tag for tag in current if tag not in tags]
            store.append_events(
                [writer.event(trial_id, TAG, {"add": added, "remove": removed, "tags": tags})]
            )
            return tags
        document = store.get_trial(trial_id) or {}
        if not document:
            break
    raise KleioError(f"trial {short_id(trial_id)} kept changing; try again")


def add_note(store: Store, trial_id: str, text: str) -> dict[str, Any]:
    """Attach a note to a trial (several may be); returns it as :func:`notes_of` does."""
    _check_text(text, 'kleio note ID "text"')
    event = writer.event(trial_id, NOTE, {"text": text})
    store.append_events([event])
    notes = _notes(store, trial_id)
    return next(note for note in notes.values() if note["key"] == event.key)


def edit_note(store: Store, trial_id: str, number: int, text: str) -> dict[str, Any]:
    """Replace the text of note ``number``; the former text stays in the journal."""
    _check_text(text, f'kleio note ID --edit {number} "text"')
    note = _note(store, trial_id, number)
    event = writer.event(trial_id, NOTE, {"text": text, "edits": note["key"]})
    store.append_events([event])
    return {**note, "text": text, "edited": event.time}


def remove_note(store: Store, trial_id: str, number: int) -> dict[str, Any]:
    """Remove note ``number`` from the trial's notes (not from the journal); returns it."""
    note = _note(store, trial_id, number)
    store.append_events([writer.event(trial_id, NOTE, {"removes": note["key"]})])
    return note


def notes_of(store: Store, trial_id: str) -> list[dict[str, Any]]:
    """The trial's notes, oldest first (its own: a branch does not inherit them): each
    its ``number``, the ``time`` it was attached, its current ``text`` and when it was
    last ``edited`` (None if never). Removed notes are left out."""
    return [
        {key: note[key] for key in ("number", "time", "text", "edited")}
        for note in _notes(store, trial_id).values()
        if not note["removed"]
    ]


def note_history(store: Store, trial_id: str) -> list[dict[str, Any]]:
    """Every version of the trial's notes, in the order they were written: each its
    note's ``number``, ``time``, what happened (``added``, ``edited``, ``removed``) and
    the ``text`` it then had."""
    numbers: dict[str, int] = {}
    history = []
    for event in readable_events(store.read_events(trial_id, [NOTE])):
        data = event.data
        target = data.get("edits") or data.get("removes")
        if target is None:
            numbers[event.key] = len(numbers) + 1
            number, action = numbers[event.key], "added"
        elif target in numbers:
            number, action = numbers[target], "removed" if "removes" in data else "edited"
        else:  # names no note of this trial: nothing to show
            continue
        history.append(
            {"number": number, "time": event.time, "action": action, "text": data.get("text")}
        )
    return history


def _check_text(text: str, usage: str) -> None:
    if not text.strip():
        raise SettingsError(f"a note needs some text: {usage}")


def _notes(store: Store, trial_id: str) -> dict[int, dict[str, Any]]:
    """Every note ever attached, by number, as its latest event leaves it (``key``: the
    event that attached it; ``removed``: whether a later event removed it)."""
    notes: dict[int, dict[str, Any]] = {}
    by_key: dict[str, dict[str, Any]] = {}
    for event in readable_events(store.read_events(trial_id, [NOTE])):
        data = event.data
        target = data.get("edits") or data.get("removes")
        if target is None:
            note = {
                "number": len(notes) + 1,
                "time": event.time,
                "text": data.get("text", ""),
                "edited": None,
                "removed": False,
                "key": event.key,
            }
            notes[note["number"]] = by_key[event.key] = note
        elif target in by_key:
            if "removes" in data:
                by_key[target]["removed"] = True
            else:
                by_key[target].update(text=data.get("text", ""), edited=event.time)
    return notes


def _note(store: Store, trial_id: str, number: int) -> dict[str, Any]:
    """Note ``number`` of the trial, still there; a one-line error otherwise."""
    notes = _notes(store, trial_id)
    note = notes.get(number)
    label = short_id(trial_id)
    if note is None or note["removed"]:
        present = [str(n) for n, found in notes.items() if not found["removed"]]
        has = f"its notes are {', '.join(present)}" if present else "it has no notes"
        what = "was removed" if note is not None else "does not exist"
        raise KleioError(f"note {number} of trial {label} {what}: {has} (see `kleio note {label}`)")
    return note
