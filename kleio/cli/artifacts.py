"""``kleio artifacts ID`` lists a trial's artifacts; ``kleio artifacts get ID NAME`` writes
one to a folder."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from kleio.cli.context import trial_record
from kleio.cli.messages import notify
from kleio.cli.output import print_json, table
from kleio.core import clock
from kleio.core.commandline import parse_assignment
from kleio.core.errors import KleioError
from kleio.core.record import artifact_entry


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "artifacts",
        help="list a trial's artifacts, or write one: artifacts get ID NAME",
        description="`kleio artifacts ID` lists; `kleio artifacts get ID NAME [-o DIR]` writes "
        "the latest artifact NAME (matching --where) into DIR.",
    )
    parser.add_argument("words", nargs="+", metavar="ID | get ID NAME")
    parser.add_argument(
        "--where",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="only artifacts whose metadata KEY equals VALUE (repeatable)",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="DIR",
        default=".",
        help="folder to write into (default: the current folder)",
    )
    parser.add_argument("--json", action="store_true", help="list as JSON")


def safe_name(filename: str) -> str:
    """The last component of a stored name: ``../../x`` and ``/etc/x`` give ``x``."""
    name = filename.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return name if name not in ("", ".", "..") else "artifact"


def execute(args: argparse.Namespace, context) -> int:
    words = args.words
    where = dict(parse_assignment(text) for text in args.where)
    if words[0] == "get":
        if len(words) != 3:
            raise KleioError("usage: kleio artifacts get ID NAME [--where KEY=VALUE] [-o DIR]")
        return _get(context, words[1], words[2], where, Path(args.output))
    if len(words) != 1:
        raise KleioError("usage: kleio artifacts ID, or kleio artifacts get ID NAME")
    record = trial_record(context, words[0])
    artifacts = [
        a
        for a in record.artifacts
        if all(a.attributes.get(k, _MISSING) == v for k, v in where.items())
    ]
    entries = [artifact_entry(artifact) for artifact in artifacts]
    if args.json:
        print_json(entries)
        return 0
    table(
        ["NAME", "SIZE", "TIME", "METADATA"],
        [
            [
                e["filename"],
                e["size"],
                clock.iso(e["time"]),
                " ".join(
                    f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in e["attributes"].items()
                ),
            ]
            for e in entries
        ],
    )
    return 0


_MISSING = object()


def _get(context, trial: str, name: str, where: dict, folder: Path) -> int:
    record = trial_record(context, trial)
    matching = [
        a
        for a in record.artifacts
        if a.filename == name and all(a.attributes.get(k, _MISSING) == v for k, v in where.items())
    ]
    if not matching:
        raise KleioError(
            f"trial {record.short_id} has no artifact {name!r}"
            + (f" with {', '.join(f'{k}={v!r}' for k, v in where.items())}" if where else "")
        )
    artifact = matching[0]  # the latest
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / safe_name(artifact.filename)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.part")
    artifact.save(temporary)
    os.replace(temporary, target)
    notify(
        f"wrote {target} ({artifact.size} bytes"
        + (f", {len(matching)} artifacts matched: the latest" if len(matching) > 1 else "")
        + ")"
    )
    return 0
