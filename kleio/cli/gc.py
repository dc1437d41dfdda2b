"""``kleio gc``: give back the space of deleted trials."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    subparsers.add_parser(
        "gc",
        help="give back the space of deleted trials: finish interrupted deletions, remove "
        "orphaned events and blobs, compact the database",
        description="Give back the space of deleted trials: finish interrupted deletions, "
        "remove events and blobs no trial owns, and compact the database (SQLite).",
        epilog="examples: kleio gc",
    )


def execute(args: argparse.Namespace, context) -> int:
    from kleio.core.curation.removal import collect_garbage
    from kleio.core.model.trial import short_id
    from kleio.core.reading import readable

    say = context.notify
    collected = collect_garbage(
        context.store,
        on_wait=lambda: say("waiting for another `kleio gc` of this journal to finish"),
    )
    if collected.deletions:
        say(
            f"finished deleting {readable.count(len(collected.deletions), 'trial')} an "
            f"interrupted `kleio rm` left: {', '.join(map(short_id, collected.deletions))}"
        )
    if collected.orphan_trials:
        say(
            f"removed {readable.count(collected.orphan_events, 'event')} of "
            f"{readable.count(len(collected.orphan_trials), 'trial')} that no longer exist"
        )
    if collected.orphan_blobs or collected.abandoned_chunks:
        say(
            f"removed {readable.count(collected.orphan_blobs, 'blob')} of trials that no "
            f"longer exist and {readable.count(collected.abandoned_chunks, 'chunk')} of "
            "abandoned uploads"
        )
    if collected.half_imported:
        say(
            f"{readable.count(len(collected.half_imported), 'trial')} half imported "
            f"({', '.join(map(short_id, collected.half_imported[:5]))}): import the file "
            "again to finish, or delete them with `kleio rm`"
        )
    if collected.size_before is not None and collected.size_after is not None:
        say(
            f"database {context.store.address}: {readable.size(collected.size_before)} -> "
            f"{readable.size(collected.size_after)}"
        )
    else:
        say(f"database {context.store.address}: done")
    return 0
