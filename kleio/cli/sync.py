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
    from kleio.core.running.spool import pending_spools, replay_trial_spools, spool_folder
    from kleio.store import StoreError

    folder = spool_folder(context.settings.home)
    pending = pending_spools(folder)
    if not pending:
        context.notify(f"nothing to upload: {folder} holds no spooled events")
        return 0
    refused: list[str] = []
    try:
        events, artifacts = replay_trial_spools(
            context.store, folder, on_refused=lambda event, error: refused.append(str(error))
        )
    except StoreError as error:
        left = len(pending_spools(folder))
        raise KleioError(f"{error}; {left} spool files remain in {folder}") from None
    context.notify(
        f"uploaded {events} events and {artifacts} artifacts from {len(pending)} spool files"
    )
    if refused:
        context.notify(
            f"left out {len(refused)} events the database refuses ({refused[0]}): "
            "they can never be stored"
        )
    return 0
