"""``kleio tag ID... +TAG -TAG``: add and remove tags after the fact."""

from __future__ import annotations

import argparse

from kleio.cli.output import print_lines


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tag",
        help="add (+TAG) and remove (-TAG) tags of trials; without changes, show them",
        description="Add (+TAG) and remove (-TAG) tags of one or more trials after the fact; "
        "each change is journalled. Without changes, show the trials' tags.",
        epilog="examples: kleio tag 3f9c2e0 +best -wip; kleio tag 3f9c2e0 4d1a7b2",
    )
    parser.add_argument(
        "words",
        nargs=argparse.REMAINDER,
        metavar="ID... [+TAG] [-TAG]",
        help="trial ids or unique prefixes, then +TAG to add and -TAG to remove",
    )


def execute(args: argparse.Namespace, context) -> int:
    from kleio.core.curation.notes import change_tags
    from kleio.core.model.errors import SettingsError
    from kleio.core.model.trial import short_id

    ids = [word for word in args.words if not word.startswith(("+", "-"))]
    add = [word[1:] for word in args.words if word.startswith("+")]
    remove = [word[1:] for word in args.words if word.startswith("-")]
    if not ids:
        raise SettingsError("kleio tag needs a trial id: kleio tag ID... +TAG -TAG")
    records = [context.record(text) for text in ids]  # every id resolves before a change

    def changed():  # each trial's line as soon as its tags changed
        for record in records:
            tags = change_tags(context.store, record.document, add, remove)
            yield f"{short_id(record.id)}  {', '.join(tags) or '-'}"

    print_lines(context.stdout, changed())
    return 0
