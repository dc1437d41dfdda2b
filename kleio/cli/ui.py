"""``kleio ui [--host 127.0.0.1] [--port 8321] [--open] [--no-token]``: the local web
dashboard."""

from __future__ import annotations

import argparse
import os
import re

#: Where the dashboard listens unless told otherwise.
HOST, PORT = "127.0.0.1", 8321
#: The variable that fixes the dashboard's token (a command-line option would show it to
#: every user of the machine in ``ps``; another user cannot read a process's variables).
TOKEN_VARIABLE = "KLEIO_UI_TOKEN"
#: What a fixed token may hold: it travels in an address and a cookie as it is.
_TOKEN = re.compile(r"[A-Za-z0-9._~-]{16,256}")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ui",
        help="serve a local web dashboard of the journal: trials, plots, live output",
        description="Serve a read-only web dashboard of the journal (SQLite or MongoDB): "
        "the trials of kleio compare, each trial's record and live output, and plots of "
        "statistics. Everything it needs is in the package: it works offline. It listens "
        "on 127.0.0.1 only, unless --host says otherwise, and answers only requests that "
        f"carry its token: a random one printed in its address, or ${TOKEN_VARIABLE}'s "
        "(16 or more letters, digits, '.', '_', '~' or '-'). Ctrl-C stops it.",
        epilog="examples: kleio ui; kleio ui --port 8400 --open; "
        "on a cluster node: kleio ui, then ssh -L 8321:localhost:8321 NODE and open "
        "the address it printed",
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
    parser.add_argument(
        "--no-token",
        action="store_true",
        help="answer requests without a token (any user of this machine, and of any machine "
        "that reaches --host, can then read the journal)",
    )


def _token(args: argparse.Namespace) -> str | None:
    """The token requests must carry: none with --no-token, the variable's if set, else a
    new random one (256 bits)."""
    from kleio.core.model.errors import SettingsError

    fixed = os.environ.get(TOKEN_VARIABLE)
    if args.no_token:
        return None
    if fixed is not None:
        if not _TOKEN.fullmatch(fixed):
            raise SettingsError(
                f"{TOKEN_VARIABLE} must be 16 to 256 letters, digits, '.', '_', '~' or '-'"
            )
        return fixed
    import secrets

    return secrets.token_urlsafe(32)


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
    token = _token(args)
    dashboard = Dashboard(context.store, settings.lease, database, __version__)
    server = make_server(
        dashboard,
        args.host,
        args.port,
        # What the server logs (a request that failed) may quote the database's address.
        lambda message: context.notify(without_secrets(message, settings.db_address)),
        token,
    )
    port = server.server_address[1]
    if token is None:
        reach = "of this machine" if is_loopback(args.host) else "who can reach this machine"
        context.notify(f"warning: no token: any user {reach} can read this journal on port {port}")
    elif not is_loopback(args.host):
        context.notify(
            f"warning: listening on {args.host}: anyone who can reach this machine on port "
            f"{port} and learns the token can read this journal (the default, 127.0.0.1, is "
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
