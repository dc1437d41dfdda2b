"""``kleio note ID "text"``: attach a note to a trial; edit or remove one by its number;
without text, list the trial's notes."""

from __future__ import annotations

import argparse

from kleio.cli import arguments
from kleio.cli.output import display_of, display_options, print_lines


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "note",
        help="attach a timestamped note to a trial, edit or remove one; without text, list "
        "its notes",
        description="Attach a timestamped note to a trial (several are kept, numbered in "
        "order, and shown by kleio info); --edit N replaces the text of note N, --remove N "
        "removes it (both journalled: --history shows every version). Without text, list "
        "the trial's notes with their numbers.",
        epilog='examples: kleio note 3f9c2e0 "diverged after the lr warm-up"; kleio note '
        '3f9c2e0; kleio note 3f9c2e0 --edit 1 "diverged at epoch 3"; kleio note 3f9c2e0 '
        "--remove 1",
    )
    arguments.trial_id(parser)
    parser.add_argument("text", nargs="?", help="the note (quote it)")
    change = parser.add_mutually_exclusive_group()
    change.add_argument(
        "--edit", nargs=2, metavar=("N", "TEXT"), help="replace the text of note N with TEXT"
    )
    change.add_argument("--remove", metavar="N", help="remove note N")
    change.add_argument(
        "--history",
        action="store_true",
        help="list every version of the notes: added, edited, removed",
    )
    display_options(parser)


def _number(text: str) -> int:
    """A note's number (``--edit N TEXT``, ``--remove N``), or a one-line error."""
    from kleio.core.model.errors import SettingsError

    if not text.isdigit() or int(text) < 1:
        raise SettingsError(f"expected a note's number (1, 2...), not {text!r}")
    return int(text)


def execute(args: argparse.Namespace, context) -> int:
    from kleio.core.curation.notes import (
        add_note,
        edit_note,
        note_history,
        notes_of,
        remove_note,
    )
    from kleio.core.model.errors import SettingsError

    record = context.record(args.id)
    label = record.short_id
    if args.text is not None and (args.remove is not None or args.history):
        option = "--history" if args.history else f"--remove {args.remove}"
        raise SettingsError(f"{option} takes no text")
    if args.edit is not None:
        number, new_text = _number(args.edit[0]), args.edit[1]
        if args.text is not None:
            raise SettingsError(f'give the new text once: kleio note ID --edit {number} "text"')
        edit_note(context.store, record.id, number, new_text)
        context.notify(f"note {number} of trial {label} edited")
        return 0
    if args.remove is not None:
        number = _number(args.remove)
        remove_note(context.store, record.id, number)
        context.notify(f"note {number} of trial {label} removed")
        return 0
    if args.text is not None:
        note = add_note(context.store, record.id, args.text)
        context.notify(f"note {note['number']} added to trial {label}")
        return 0
    # As `kleio info` shows them: no header names the zone, so each time does.
    zoned = display_of(args, context.stdout).zoned
    if args.history:
        versions = note_history(context.store, record.id)
        print_lines(
            context.stdout,
            (
                f"{v['number']}  {zoned(v['time'])}  {v['action']}"
                + (f"  {v['text']}" if v["text"] is not None else "")
                for v in versions
            ),
        )
        return 0
    notes = notes_of(context.store, record.id)
    print_lines(context.stdout, (_line(note, zoned) for note in notes))
    return 0


def _line(note: dict, zoned) -> str:
    """A note as ``kleio note ID`` shows it (``kleio info`` too): its number, time and
    text, and whether it was edited."""
    edited = "  (edited)" if note.get("edited") is not None else ""
    return f"{note['number']}  {zoned(note['time'])}  {note['text']}{edited}"
