"""Curating trials after the fact: tags added or removed, notes attached.

Both are journalled as events (``tag``, ``note``), so their history is kept like the
rest; the current tags are also on the trial document, where selection finds them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from kleio.core.model import clock
from kleio.core.model.errors import KleioError, SettingsError
from kleio.core.model.journal import writer
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
    """Attach a note to a trial (several may be); returns it with its time."""
    if not text.strip():
        raise SettingsError('a note needs some text: kleio note ID "text"')
    event = writer.event(trial_id, NOTE, {"text": text})
    store.append_events([event])
    return {"time": event.time, "text": text}


def notes_of(store: Store, trial_id: str) -> list[dict[str, Any]]:
    """The trial's notes, oldest first (its own: a branch does not inherit them)."""
    return [
        {"time": event.time, "text": event.data.get("text", "")}
        for event in store.read_events(trial_id, [NOTE])
    ]
