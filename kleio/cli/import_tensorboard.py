"""``kleio import-tensorboard DIR [--trial ID]``: the scalars of TensorBoard event files,
as statistics."""

from __future__ import annotations

import argparse

from kleio.cli import arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import-tensorboard",
        help="read the scalars of TensorBoard event files as statistics (again: adds nothing)",
        description="Read the scalars of the TensorBoard event files (events.out.tfevents.*) "
        "under DIR as statistics: each scalar is a statistic named by its tag, with its "
        "step as `step` and its wall time as the statistic's time. Each run folder (a "
        "folder holding event files) becomes a completed trial of its own, its command "
        "line `tensorboard RUN` (RUN the folder's path from the top of its git "
        "repository, else from DIR); with --trial, every scalar goes to that trial. "
        "Importing again adds nothing, but what the files gained since. Images, "
        "histograms and other summaries are skipped and counted; a damaged file is "
        "read up to the damage, said in one line (exit status 1).",
        epilog="examples: kleio import-tensorboard runs/; "
        "kleio import-tensorboard lightning_logs/version_3 --trial 3f9c2e0",
    )
    parser.add_argument(
        "folder", metavar="DIR", help="a folder of event files (searched whole), or one file"
    )
    parser.add_argument(
        "--trial", metavar="ID", help="import every scalar into this trial (id, prefix or name)"
    ).completer = arguments.complete_trial_ids
    parser.add_argument(
        "--project",
        help="project of the trials made (default: KLEIO_PROJECT, else the git "
        "repository's name, else DIR's name)",
    )
    parser.add_argument(
        "--tags", metavar="A;B", help="tags of the trials made, besides `tensorboard`"
    ).completer = arguments.complete_tags


def execute(args: argparse.Namespace, context) -> int:
    import os

    from kleio.core.capture import tensorboard as tb
    from kleio.core.capture.event_files import PREFIX
    from kleio.core.model.errors import KleioError
    from kleio.core.model.trial import short_id, split_tags
    from kleio.core.reading import readable

    folder = args.folder
    if os.path.isfile(folder):
        if not os.path.basename(folder).startswith(PREFIX):
            raise KleioError(f"{folder} is no TensorBoard event file (named {PREFIX}*)")
        paths = [folder]
        folder = os.path.dirname(folder) or "."
    elif os.path.isdir(folder):
        paths, _ = tb.event_files(folder)
        if not paths:
            raise KleioError(f"no TensorBoard event files ({PREFIX}*) under {folder}")
    else:
        raise KleioError(f"no folder or file {folder}")
    if args.trial is not None and (args.project or args.tags):
        raise KleioError("--project and --tags describe the trials made; --trial makes none")
    store = context.store
    if args.trial is not None:
        document = context.record(args.trial).document
        groups = {"": ([*paths], document, False)}
    else:
        root, project = tb.run_root(folder, args.project)
        tags = split_tags(args.tags)
        groups = {}
        for run_folder, files in tb.run_folders(paths).items():
            document, made = tb.run_trial(store, root, project, run_folder, tags)
            groups[run_folder] = (files, document, made)
    damaged = False
    for files, document, made in groups.values():
        read = added = 0
        for path in files:
            result = tb.import_file(store, document["_id"], path)
            read, added = read + result.read, added + result.added
            for line in tb.file_messages(result, path):
                context.notify(line)
            damaged = damaged or result.damage is not None
        run = "" if args.trial else f" {' '.join(document['commandline'])}"
        context.notify(
            f"trial {short_id(document['_id'])}{run}{' (new)' if made else ''}: "
            f"{readable.count(read, 'statistic')} in {readable.count(len(files), 'file')}, "
            f"{added:,} new"
        )
    return 1 if damaged else 0
