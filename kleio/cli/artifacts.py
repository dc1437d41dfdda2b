"""``kleio artifacts ID`` lists a trial's artifacts; ``kleio artifacts get ID NAME`` writes
one to a folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kleio.cli import arguments
from kleio.cli.output import Column, display_of, output_options, output_rows


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "artifacts",
        help="list a trial's artifacts, or write one: artifacts get ID NAME",
        description="`kleio artifacts ID` lists; `kleio artifacts get ID NAME [-o DIR]` writes "
        "the latest artifact NAME (matching --where, as ls compares) into DIR.",
        epilog="examples: kleio artifacts 3f9c2e0; "
        "kleio artifacts get 3f9c2e0 model.pt --where epoch=10 -o checkpoints/",
    )
    parser.add_argument(
        "words", nargs="+", metavar="ID | get ID NAME", help="a trial id, or get ID NAME"
    ).completer = arguments.complete_trial_ids
    arguments.conditions(parser, "artifacts whose metadata")
    parser.add_argument(
        "-o",
        "--output",
        metavar="DIR",
        default=".",
        help="folder to write into (default: the current folder; -: standard output); "
        "the file is created for you alone",
    )
    output_options(parser)


def safe_name(filename: str) -> str:
    """The last component of a stored name: ``../../x`` and ``/etc/x`` give ``x``."""
    name = filename.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return name if name not in ("", ".", "..") else "artifact"


def _matching(record, name: str | None, where) -> list:
    """The trial's artifacts (named ``name`` unless None) whose metadata meet ``where``
    (a test of :func:`~kleio.core.reading.query.matching`, or None), latest first."""
    return [
        artifact
        for artifact in record.artifacts
        if (name is None or artifact.filename == name)
        and (where is None or where(artifact.attributes))
    ]


def execute(args: argparse.Namespace, context) -> int:
    from kleio.core.model.errors import KleioError
    from kleio.core.reading import readable
    from kleio.core.reading.query import matching, parse_condition
    from kleio.core.reading.record import artifact_entry

    words = args.words
    conditions = [parse_condition(text) for text in args.where]
    where = matching(conditions) if conditions else None
    if words[0] == "get":
        if len(words) != 3:
            raise KleioError("usage: kleio artifacts get ID NAME [--where KEY<OP>VALUE] [-o DIR]")
        return _get(context, words[1], words[2], args.where, where, Path(args.output))
    if len(words) != 1:
        raise KleioError("usage: kleio artifacts ID, or kleio artifacts get ID NAME")
    record = context.record(words[0])
    columns = [
        Column("filename", "NAME"),
        Column("size", "SIZE", readable.size),
        Column("time", "TIME", time=True),
        Column("attributes", "METADATA", readable.attributes, fit=True),
    ]
    entries = [artifact_entry(artifact) for artifact in _matching(record, None, where)]
    if any("rank" in entry for entry in entries):  # logged by ranks of a parallel launch
        columns.insert(3, Column("rank", "RANK"))
    output_rows(context.stdout, args.format, columns, entries, display_of(args, context.stdout))
    return 0


def _get(context, trial: str, name: str, written: list[str], where, folder: Path) -> int:
    from kleio.core.model.errors import KleioError

    record = context.record(trial)
    matching = _matching(record, name, where)
    if not matching:
        raise KleioError(
            f"trial {record.short_id} has no artifact {name!r}"
            + (f" where {' and '.join(written)}" if written else "")
        )
    artifact = matching[0]  # the latest
    if str(folder) == "-":
        stdout = getattr(context.stdout, "buffer", None) or sys.stdout.buffer
        if stdout.isatty():
            raise KleioError(f"artifact {name!r} holds bytes: redirect them, or give -o DIR")
        for chunk in artifact.chunks():
            stdout.write(chunk)
        stdout.flush()
        target = "standard output"
    else:
        target = folder / safe_name(artifact.filename)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            reason = (
                "it is a file, not a folder"
                if isinstance(error, (FileExistsError, NotADirectoryError))
                else error.strerror or str(error)
            )
            raise KleioError(f"cannot write artifact {name!r} into {folder}: {reason}") from None
        artifact.save(target)
    context.notify(
        f"wrote {target} ({artifact.size} bytes"
        + (f", {len(matching)} artifacts matched: the latest" if len(matching) > 1 else "")
        + ")"
    )
    return 0
