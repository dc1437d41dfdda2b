"""``kleio name ID NAME``: give a trial a human name, change it, or take it away
(``--remove``); without NAME, print it."""

from __future__ import annotations

import argparse

from kleio.cli import arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "name",
        help="give a trial a name usable wherever an id is, or change it; without NAME, print it",
        description="Give trial ID the name NAME, replacing the name it had: every command "
        "that takes a trial id takes the name too. A name is unique in the journal, 1 to 64 "
        "letters, digits, '.', '_' or '-', and not made of hexadecimal digits only (that "
        "reads as an id). --remove takes the name away. Without NAME, print the name.",
        epilog="examples: kleio name 3f9c2e0 baseline; kleio info baseline; "
        "kleio name baseline --remove",
    )
    arguments.trial_id(parser)
    parser.add_argument("name", nargs="?", metavar="NAME", help="the trial's new name")
    parser.add_argument("--remove", action="store_true", help="take the trial's name away")


def execute(args: argparse.Namespace, context) -> int:
    from kleio.core.model.errors import SettingsError
    from kleio.core.model.names import check_name, name_trial, unname_trial

    if args.name is not None:
        if args.remove:
            raise SettingsError("--remove takes no NAME: kleio name ID --remove")
        check_name(args.name)  # before the journal is read
    record = context.record(args.id)
    label = record.short_id
    if args.remove:
        former = unname_trial(context.store, record.document)
        context.notify(
            f"trial {label} is no longer named {former}" if former else f"trial {label} has no name"
        )
        return 0
    if args.name is None:
        name = record.document.get("name")
        if name is None:
            context.notify(f"trial {label} has no name (give one with `kleio name {label} NAME`)")
        else:
            context.stdout.write(f"{name}\n")
        return 0
    former = name_trial(context.store, record.document, args.name)
    if former != args.name:
        context.notify(
            f"trial {label} renamed {former} -> {args.name}"
            if former
            else f"trial {label} named {args.name}"
        )
    return 0
