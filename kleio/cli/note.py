"""``kleio note ID "text"``: attach a note to a trial; without text, list its notes."""

from __future__ import annotations

import argparse

from kleio.cli import arguments
from kleio.cli.output import display_of, display_options, print_lines


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "note",
        help="attach a timestamped note to a trial; without text, list its notes",
        description="Attach a timestamped note to a trial (several are kept, in order, and "
        "shown by kleio info); without text, list the trial's notes.",
        epilog='examples: kleio note 3f9c2e0 "diverged after the lr warm-up"; kleio note 3f9c2e0',
    )
    arguments.trial_id(parser)
    parser.add_argument("text", nargs="?", help="the note (quote it)")
    display_options(parser)


def execute(args: argparse.Namespace, context) -> int:
    from kleio.core.curation.notes import add_note, notes_of

    record = context.record(args.id)
    if args.text is not None:
        add_note(context.store, record.id, args.text)
        return 0
    # As `kleio info` shows them: no header names the zone, so each time does.
    zoned = display_of(args, context.stdout).zoned
    notes = notes_of(context.store, record.id)
    print_lines(context.stdout, (f"{zoned(note['time'])}  {note['text']}" for note in notes))
    return 0
