"""``kleio sync``: upload what was kept on disk while the database did not answer."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    subparsers.add_parser(
        "sync",
        help="upload statistics and artifacts spooled while the database was down",
        description="Upload the statistics, artifacts and output that scripts kept in "
        "KLEIO_HOME/spool while the database did not answer.",
        epilog="example: kleio sync (after a MongoDB outage)",
    )


def execute(args: argparse.Namespace, context) -> int:
    from kleio.core.model.errors import KleioError
    from kleio.core.running.spool import replay_messages, replay_spools, spool_folder

    replay = replay_spools(lambda: context.store, spool_folder(context.settings.home))
    messages = replay_messages(replay)
    if replay.error is not None:
        raise KleioError(messages[0])
    for message in messages:
        context.notify(message)
    return 0
