"""``kleio ui [--host 127.0.0.1] [--port 8321] [--open]``: the local web dashboard."""

from __future__ import annotations

import argparse

#: Where the dashboard listens unless told otherwise.
HOST, PORT = "127.0.0.1", 8321


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ui",
        help="serve a local web dashboard of the journal: trials, plots, live output",
        description="Serve a read-only web dashboard of the journal (SQLite or MongoDB): "
        "the trials of kleio compare, each trial's record and live output, and plots of "
        "statistics. Everything it needs is in the package: it works offline. It listens "
        "on 127.0.0.1 only, unless --host says otherwise; Ctrl-C stops it.",
        epilog="examples: kleio ui; kleio ui --port 8400 --open; "
        "on a cluster node: kleio ui, then ssh -L 8321:localhost:8321 NODE",
    )
    parser.add_argument(
        "--host",
        default=HOST,
        help=f"address to listen on (default {HOST}: this machine only; 0.0.0.0 lets "
        "anyone who reaches this machine read the journal)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=PORT,
        help=f"port to listen on (default {PORT}; 0: any free one)",
    )
    parser.add_argument("--open", action="store_true", help="open the dashboard in a browser")


def execute(args: argparse.Namespace, context) -> int:
    from kleio import __version__
    from kleio.store import mask_address
    from kleio.store.addresses import without_secrets
    from kleio.ui.api import Dashboard
    from kleio.ui.server import is_loopback, make_server

    settings = context.settings
    if not 0 <= args.port <= 65535:
        from kleio.core.model.errors import SettingsError

        raise SettingsError(f"--port must be from 0 to 65535, not {args.port}")
    database = mask_address(settings.db_address)
    if settings.db_address.startswith("mongodb"):
        database = f"{database} (database {settings.db_name})"
    dashboard = Dashboard(context.store, settings.lease, database, __version__)
    server = make_server(
        dashboard,
        args.host,
        args.port,
        # What the server logs (a request that failed) may quote the database's address.
        lambda message: context.notify(without_secrets(message, settings.db_address)),
    )
    if not is_loopback(args.host):
        context.notify(
            f"warning: listening on {args.host}: anyone who can reach this machine on port "
            f"{server.server_address[1]} can read this journal (the default, 127.0.0.1, is "
            "this machine only)"
        )
    context.notify(f"dashboard of {database} at {server.url} (Ctrl-C stops it)")
    if args.open:
        import threading
        import webbrowser

        # In a thread: a browser in the terminal (lynx, w3m) waits for the page it asks
        # for, which the server must be serving by then.
        address = server.url.replace("://0.0.0.0:", "://127.0.0.1:")
        threading.Thread(target=webbrowser.open, args=(address,), daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        context.notify("dashboard stopped")
    finally:
        server.server_close()
    return 0
