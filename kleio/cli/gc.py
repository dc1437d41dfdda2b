"""``kleio gc``: give back the space of deleted trials."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    subparsers.add_parser(
        "gc",
        help="give back the space of deleted trials: finish interrupted deletions, remove "
        "orphaned events and blobs, compact the database",
    )


def execute(args: argparse.Namespace, context) -> int:
    from kleio.core import display
    from kleio.core.removal import collect_garbage
    from kleio.core.trial import short_id

    collected = collect_garbage(context.store)
    say = context.notify
    if collected.deletions:
        say(
            f"finished deleting {len(collected.deletions)} trials an interrupted `kleio rm` "
            f"left: {', '.join(map(short_id, collected.deletions))}"
        )
    if collected.orphan_trials:
        say(
            f"removed {collected.orphan_events:,} events of {len(collected.orphan_trials)} "
            "trials that no longer exist"
        )
    if collected.orphan_blobs or collected.abandoned_chunks:
        say(
            f"removed {collected.orphan_blobs} blobs of trials that no longer exist and "
            f"{collected.abandoned_chunks} chunks of abandoned uploads"
        )
    if collected.half_imported:
        say(
            f"{len(collected.half_imported)} trials are half imported "
            f"({', '.join(map(short_id, collected.half_imported[:5]))}): import the file "
            "again to finish, or delete them with `kleio rm`"
        )
    if collected.size_before is not None and collected.size_after is not None:
        say(
            f"database {context.store.address}: {display.size(collected.size_before)} -> "
            f"{display.size(collected.size_after)}"
        )
    else:
        say(f"database {context.store.address}: done")
    return 0
