"""``kleio tail [-n N] [-f] ID``: the end of a trial's output, and what follows."""

from __future__ import annotations

import argparse
import time
from collections import deque

from kleio.cli import arguments

#: Seconds between two reads of a followed trial.
POLL = 0.2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tail",
        help="print the last lines of a trial's output",
        description="Print the last lines trial ID wrote; with -f, keep printing what it "
        "writes until it stops running.",
        epilog="examples: kleio tail 3f9c2e0; kleio tail -f -n 50 3f9c2e0",
    )
    arguments.trial_id(parser)
    parser.add_argument(
        "-n", "--lines", type=int, default=10, metavar="N", help="how many lines (default 10)"
    )
    parser.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep printing new output until the trial stops running",
    )
    parser.add_argument("--stderr", action="store_true", help="include stderr")
    arguments.rank(parser)


def _last_lines(chunks, count: int) -> bytes:
    """The last ``count`` lines of a byte stream, keeping memory bounded."""
    if count <= 0:
        for _ in chunks:
            pass
        return b""
    lines: deque[bytes] = deque(maxlen=count + 1)
    pending = b""
    for chunk in chunks:
        pieces = (pending + chunk).split(b"\n")
        pending = pieces.pop()
        lines.extend(piece + b"\n" for piece in pieces)
    if pending:
        lines.append(pending)
    return b"".join(list(lines)[-count:])


def execute(args: argparse.Namespace, context) -> int:
    from kleio.core.model.printed import RankedLines, rank_of, readable_output
    from kleio.core.model.status import ACTIVE

    record = context.record(args.id)
    kinds = ["stdout", "stderr"] if args.stderr else ["stdout"]
    out = context.stdout.buffer
    last_key = None
    ranked = RankedLines() if args.rank is None else None

    def printed(event) -> bytes:
        """What the chosen rank printed (every rank's, each line after its rank)."""
        if ranked is None and rank_of(event) != args.rank:
            return b""
        data = readable_output(event) or b""
        return data if ranked is None else ranked(rank_of(event), data)

    def chunks():
        nonlocal last_key
        for event in record.output_events(kinds):
            if event.trial == record.id:
                last_key = event.key
            yield printed(event)

    out.write(_last_lines(chunks(), args.lines))
    out.flush()
    if not args.follow:
        return 0
    while True:
        running = record.reload().status in ACTIVE
        for event in record.output_after(kinds, last_key):
            last_key = event.key
            out.write(printed(event))
        out.flush()
        if not running:  # read once more after it stopped: nothing is left behind
            return 0
        time.sleep(POLL)
