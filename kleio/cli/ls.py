"""``kleio ls``: the trials of the journal, newest first."""

from __future__ import annotations

import argparse
import shlex

from kleio.cli.output import print_json, table
from kleio.core import clock
from kleio.core.status import observed_status
from kleio.core.trial import short_id


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("ls", help="list trials, newest first")
    parser.add_argument("--json", action="store_true", help="print a JSON list")


def _row(document: dict, lease: float) -> dict:
    return {
        "id": document["_id"],
        "short_id": short_id(document["_id"]),
        "status": observed_status(document, lease),
        "created": clock.iso(document.get("created")),
        "tags": document.get("tags") or [],
        "commandline": shlex.join(document.get("commandline") or []),
        "parent": (document.get("refers") or {}).get("parent"),
    }


def execute(args: argparse.Namespace, context) -> int:
    lease = context.settings.lease
    rows = [_row(document, lease) for document in context.store.find_trials()]
    if args.json:
        print_json(rows)
        return 0
    table(
        ["ID", "STATUS", "CREATED", "TAGS", "COMMAND"],
        [
            [r["short_id"], r["status"], r["created"], ",".join(r["tags"]), r["commandline"]]
            for r in rows
        ],
    )
    return 0
