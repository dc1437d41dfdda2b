"""``kleio ls``: the trials of the journal, newest first."""

from __future__ import annotations

import argparse
import shlex

from kleio.cli.output import print_json, table
from kleio.core import clock
from kleio.core.errors import SettingsError
from kleio.core.status import ACTIVE, LOST, STATUSES, observed_status
from kleio.core.trial import short_id

#: What a listing needs of each document: parsing whole documents is what makes
#: listing slow, since environments and diffs are large.
_FIELDS = [
    "status",
    "heartbeat",
    "created",
    "started",
    "run_time",
    "tags",
    "commandline",
    "refers",
    "project",
]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("ls", help="list trials, newest first")
    parser.add_argument("--tags", metavar="A;B", help="only trials with all these tags")
    parser.add_argument(
        "--status",
        metavar="S,S",
        help=f"only trials with one of these statuses ({', '.join(STATUSES)})",
    )
    parser.add_argument("--project", help="only trials of this project")
    parser.add_argument("--json", action="store_true", help="print a JSON list")


def _run_time(document: dict, status: str) -> float:
    total = float(document.get("run_time") or 0.0)
    if status in ACTIVE and document.get("started"):
        total += max(0.0, clock.now() - document["started"])
    return total


def _row(document: dict, lease: float) -> dict:
    status = observed_status(document, lease)
    return {
        "id": document["_id"],
        "short_id": short_id(document["_id"]),
        "status": status,
        "created": document.get("created"),
        "run_time": _run_time(document, status),
        "tags": document.get("tags") or [],
        "commandline": shlex.join(document.get("commandline") or []),
        "parent": (document.get("refers") or {}).get("parent"),
        "project": document.get("project"),
    }


def execute(args: argparse.Namespace, context) -> int:
    from kleio.cli.run import split_tags

    wanted = [s.strip() for s in (args.status or "").split(",") if s.strip()]
    unknown = [s for s in wanted if s not in STATUSES]
    if unknown:
        raise SettingsError(f"unknown status {unknown[0]!r}: choose among {', '.join(STATUSES)}")
    stored = None
    if wanted:  # lost is observed, not stored: ask for the statuses that can become it
        stored = sorted({*wanted, *(ACTIVE if LOST in wanted else ())} - {LOST})
    lease = context.settings.lease
    documents = context.store.find_trials(
        tags=split_tags(args.tags) or None, status=stored, project=args.project, fields=_FIELDS
    )
    rows = [_row(document, lease) for document in documents]
    if wanted:
        rows = [row for row in rows if row["status"] in wanted]
    if args.json:
        print_json([{**row, "created": clock.iso(row["created"], precise=True)} for row in rows])
        return 0
    table(
        ["ID", "STATUS", "CREATED", "RUN TIME", "TAGS", "COMMAND"],
        [
            [
                row["short_id"],
                row["status"],
                clock.iso(row["created"]),
                clock.duration(row["run_time"]),
                ",".join(row["tags"]),
                row["commandline"],
            ]
            for row in rows
        ],
    )
    return 0
