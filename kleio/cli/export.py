"""``kleio export``: selected trials with their events and artifacts, in one file."""

from __future__ import annotations

import argparse
import sys

from kleio.cli import arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write selected trials with their events and artifacts to one file "
        "(a tar archive; see `kleio import`)",
        description="Write the selected trials (as for ls), with their events and "
        "artifacts, to one file: a versioned tar archive, streamed; to stdout without -o.",
        epilog="examples: kleio export --tags sweep -o sweep.kleio; "
        "kleio --database mongodb://db/ import sweep.kleio",
    )
    arguments.trial_ids(parser, "export the trials")
    arguments.selection(parser)
    arguments.query_options(parser)
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="the file to write, created for you alone (default, or -: standard output)",
    )


def _with_ancestors(store, documents: list[dict]) -> tuple[list[dict], int]:
    """The documents and the ancestors their views read, ancestors first."""
    from kleio.core.model.view import lineage

    chosen = {document["_id"]: document for document in documents}
    ordered: dict[str, dict] = {}
    added = 0
    for document in documents:
        for segment in lineage(store, document)[:-1]:
            if segment.trial not in chosen and segment.trial not in ordered:
                ancestor = store.get_trial(segment.trial)
                if ancestor is not None:
                    ordered[segment.trial] = ancestor
                    added += 1
        ordered.setdefault(document["_id"], document)
    return list(ordered.values()), added


def execute(args: argparse.Namespace, context) -> int:
    from kleio.core.curation.transfer import export_trials
    from kleio.core.model.destinations import check_destination, destination
    from kleio.core.model.errors import SettingsError
    from kleio.core.reading import readable
    from kleio.core.reading.query import query_trials

    store = context.store
    if args.output not in (None, "-"):
        check_destination(args.output)  # before reading anything
    trials = query_trials(store, arguments.trial_query(args), context.settings.lease, None)
    context.warn_skipped(trials.skipped)
    documents, ancestors = _with_ancestors(store, [facts.document for facts in trials.facts])
    if args.output in (None, "-"):
        stream = getattr(context.stdout, "buffer", None) or sys.stdout.buffer
        if stream.isatty():
            raise SettingsError("kleio export writes an archive: give -o FILE, or redirect it")
        counts = export_trials(store, documents, stream)
        stream.flush()
        where = "standard output"
    else:
        with destination(args.output) as stream:
            counts = export_trials(store, documents, stream)
        where = args.output
    context.notify(
        f"exported {readable.count(counts.trials, 'trial')}"
        + (f" ({ancestors} of them ancestors the selected branches read)" if ancestors else "")
        + f", {readable.count(counts.events, 'event')} and {readable.count(counts.blobs, 'blob')}"
        f" ({readable.size(counts.bytes)}) to {where}"
    )
    return 0
