"""Branching a trial from a point of its history, with some options changed.

The branch's command line is its parent's with options replaced or added (positional
arguments never change: they are not named, so there is nothing to say which to
replace). Its branch point is the parent's last statistic where KEY equals VALUE
(``--timestamp epoch=10``) together with what the parent logged after it in the same
step, up to its next statistic (the checkpoint of epoch 10, typically); or a given
time; or the end of the parent. The branch sees its parent's journal up to that point
as its own past.
"""

from __future__ import annotations

from kleio.core.model import clock
from kleio.core.model.commandline import (
    Assignment,
    Option,
    parse_assignment,
    split_command,
    with_options,
)
from kleio.core.model.errors import KleioError
from kleio.core.model.status import ACTIVE
from kleio.core.model.trial import TrialDocument, short_id
from kleio.core.model.view import read_view
from kleio.core.running.execution import Runner
from kleio.core.running.matching import check_changes, create_trial
from kleio.store.base import Store


class BranchExists(KleioError):
    """This very branch (same parent, point and options) was made before."""


def branch_point(store: Store, parent: TrialDocument, timestamp: str | None) -> float:
    """The time the branch starts from (see the module documentation)."""
    if not timestamp:
        if parent.get("status") in ACTIVE:
            return clock.now()
        return max(parent.get("updated") or 0.0, parent.get("created") or 0.0)
    if "=" in timestamp:
        key, value = parse_assignment(timestamp)
        found, following = False, None
        logged: list = []
        for event in read_view(store, parent, ["statistic"]):
            if key in event.data:
                logged.append(event.data[key])
            if event.data.get(key, _MISSING) == value:
                found, following = True, None
            elif found and following is None:
                following = event.time
        if not found:
            raise KleioError(
                f"no statistic of trial {short_id(parent['_id'])} has {key}={value!r}: "
                + _logged_values(key, logged)
            )
        if following is None:  # the last statistic: the rest of the parent comes along
            return branch_point(store, parent, None)
        # The step of that statistic: what was logged after it (its checkpoint...) up to
        # the next statistic, exclusive.
        return just_before(following)
    try:
        return clock.parse_iso(timestamp)
    except ValueError:
        raise KleioError(
            f"--timestamp takes KEY=VALUE (a statistic) or an ISO time, not {timestamp!r}"
        ) from None


_MISSING = object()


def just_before(seconds: float) -> float:
    """The last time before the microsecond an event at ``seconds`` is keyed by: a view
    cut there holds everything before that event and not the event (``seconds - 1e-6``
    could round back into the event's own microsecond: a float near 1.7e9 steps by
    0.24 us)."""
    return (int(seconds * 1_000_000 + 0.5) - 1) / 1_000_000


def _logged_values(key: str, logged: list) -> str:
    """What the parent logged for ``key``, for an error: the range of its numbers, or
    its first distinct values."""
    if not logged:
        return f"it logged no {key}"
    numbers = [v for v in logged if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(numbers) == len(logged):
        return f"it logged {key} from {min(numbers)!r} to {max(numbers)!r} ({len(logged)} values)"
    distinct = list(dict.fromkeys(repr(v) for v in logged))
    shown = ", ".join(distinct[:10]) + (", ..." if len(distinct) > 10 else "")
    return f"it logged {key} = {shown}"


def changed_options(words: list[str]) -> tuple[list[Option], list[Assignment]]:
    """The options and Hydra-style assignments a branch changes; any other positional
    argument is an error."""
    command = split_command(["branch", *words])
    if command.positionals:
        raise KleioError(
            f"positional arguments cannot change when branching ({command.positionals[0]!r}):"
            " give options or assignments only, like --lr 0.01 or model.depth=4"
        )
    return command.options, command.assignments


def make_branch(
    runner: Runner, parent: TrialDocument, words: list[str], timestamp: str | None
) -> TrialDocument:
    """Create the branch of ``parent``; raises :class:`BranchExists` if it was made."""
    store = runner.store
    options, assignments = changed_options(words) if words else ([], [])
    argv = with_options(parent["commandline"], [(o.name, o.values) for o in options], assignments)
    point = branch_point(store, parent, timestamp)
    # The parent's outputs (metrics.json) are part of its past, not the branch's input.
    snapshot = runner.snapshot(argv, parent["cwd"], parent.get("project"))
    snapshot = snapshot.without_outputs_of(parent)
    check_changes(parent, snapshot, runner.options.allowed, "to branch it with them")
    refers = {
        "parent": parent["_id"],
        "time": point,
        "reason": "branch",
        "timestamp": timestamp or None,
    }
    spec = snapshot.spec.replace(project=parent["project"], refers=refers)
    tags = list(dict.fromkeys([*(parent.get("tags") or []), *runner.options.tags]))
    document, created = create_trial(store, spec, snapshot, tags, runner.options.name)
    if not created:
        label = short_id(document["_id"])
        raise BranchExists(
            f"this branch exists already: trial {label} ({document.get('status')}), id "
            f"{document['_id']}; run it with `kleio run {label}`"
        )
    return document
