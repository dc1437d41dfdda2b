"""``kleio run --study NAME --jobs K`` (or ``--tags T --jobs K``): K workers from one ``kleio``.

Each worker is a ``kleio run`` of its own (the same options, ``--capture``d), so the
trials run exactly as they would under K separate workers: each once, each reserved,
journalled and ended by its worker. Their output is journalled apart, trial by trial
(``kleio cat ID``); this process shows progress instead: on a terminal, a line per
trial, redrawn; elsewhere, a line as each trial starts and ends. Workers' own messages
(a trial skipped, a refusal) are passed on, each prefixed with its worker.

A stopping signal (Ctrl-C, SIGTERM) is passed to every worker: each stops its trial,
which ends ``interrupted`` and resumable, and takes no other.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

from kleio.cli.output import visible

#: Seconds between two looks at the study's trials.
POLL = 0.5
#: Messages of workers that only say what the display shows already.
_ROUTINE = ("trial reserved with id:", "kleio: no trial ")


def worker_argv(argv: Sequence[str]) -> list[str]:
    """The command line of one worker: this one without ``--jobs K``, with ``--capture``."""
    words, skip = [], False
    for word in argv:
        if skip:
            skip = False
        elif word == "--jobs":
            skip = True
        elif not word.startswith("--jobs="):
            words.append(word)
    if words[:1] == ["run"]:
        words = words[1:]
    return [sys.executable, "-m", "kleio", "run", "--capture", *words]


def run_jobs(context, jobs: int, chosen: dict, what: str, argv: Sequence[str]) -> int:
    """Start ``jobs`` workers of the trials ``find_trials(**chosen)`` finds, show their
    progress, and return 0 if every worker did (else the first failing worker's code)."""
    command = worker_argv(argv)
    workers = [
        subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        for _ in range(jobs)
    ]
    terminal = context.stderr.isatty()
    said: list[str] = []
    readers = [
        threading.Thread(target=_relay, args=(n + 1, w, said, context, terminal), daemon=True)
        for n, w in enumerate(workers)
    ]
    for reader in readers:
        reader.start()
    stopped: list[int] = []

    def stop(signum: int, _frame: object = None) -> None:
        stopped.append(signum)
        for worker in workers:
            if worker.poll() is None:
                try:
                    worker.send_signal(signum)
                except ProcessLookupError:
                    pass

    display = _Progress(context, chosen, terminal)
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while any(worker.poll() is None for worker in workers):
            display.update()
            time.sleep(POLL)
        display.update(final=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for reader in readers:
        reader.join(timeout=5)
    for line in said if terminal else ():
        context.stderr.write(line)
    codes = [worker.returncode for worker in workers]
    context.notify(f"{jobs} workers ran the trials {what}: {display.summary()}")
    if stopped:
        return 128 + stopped[0]
    return next((code for code in codes if code), 0)


def _relay(number: int, worker: subprocess.Popen, said: list[str], context, terminal: bool):
    """Pass a worker's messages on (kept for the end on a terminal, where the display
    is redrawn), but those the display shows."""
    for raw in worker.stderr:
        line = raw.decode("utf-8", "replace")
        if any(line.startswith(routine) for routine in _ROUTINE):
            continue
        text = f"[worker {number}] {visible(line.rstrip())}\n"
        if terminal:
            said.append(text)
        else:
            context.stderr.write(text)
            context.stderr.flush()


class _Progress:
    """What the trials are doing: a line per trial that started while the workers ran."""

    def __init__(self, context, chosen: dict, terminal: bool):
        self.context, self.chosen, self.terminal = context, chosen, terminal
        self.first: dict[str, str] = {}  # status of each trial when the workers started
        self.last: dict[str, str] = {}
        self.labels: dict[str, str] = {}
        self.drawn = 0
        self.started = time.monotonic()
        self._look(initial=True)

    def _look(self, initial: bool = False) -> list[tuple[str, str, dict]]:
        from kleio.core.model.status import observed_status

        fields = ["status", "heartbeat", "started", "run_time", "commandline"]
        documents = self.context.store.find_trials(fields=fields, **self.chosen)
        changed = []
        for document in sorted(documents, key=lambda d: d["_id"]):
            status = observed_status(document, self.context.settings.lease)
            trial = document["_id"]
            if initial:
                self.first[trial] = status
            if self.last.get(trial) != status:
                changed.append((trial, status, document))
            self.last[trial] = status
            self.labels.setdefault(trial, _label(document))
        return changed

    def _ours(self) -> list[str]:
        """Trials that ran or run since the workers started."""
        return [
            trial
            for trial, status in self.last.items()
            if status != self.first.get(trial) or status in ("reserved", "running")
        ]

    def update(self, final: bool = False) -> None:
        from kleio.core.model.trial import short_id

        changed = self._look()
        if not self.terminal:
            for trial, status, _ in changed:
                if status != "new":
                    self.context.stderr.write(
                        f"{short_id(trial)} {status:<11} {self.labels[trial]}\n"
                    )
            self.context.stderr.flush()
            return
        width, height = _size(self.context.stderr)
        ours = self._ours()
        shown = ours[-max(height - 3, 1) :]
        lines = [f"{short_id(t)} {self.last[t]:<11} {self.labels[t]}"[: width - 1] for t in shown]
        lines.append(self.summary()[: width - 1])
        out = self.context.stderr
        if self.drawn:
            out.write(f"\x1b[{self.drawn}F")
        for line in lines:
            out.write("\x1b[2K" + line + "\n")
        self.drawn = len(lines)
        out.flush()

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for status in self.last.values():
            counts[status] = counts.get(status, 0) + 1
        elapsed = time.monotonic() - self.started
        parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        return f"{parts or 'no trial'} ({elapsed:.0f} s)"


def _size(stream) -> tuple[int, int]:
    """Columns and lines of the terminal: ``COLUMNS`` and ``LINES`` when set, else its
    size, else 80 x 24 (a terminal whose size was never set says 0 x 0)."""
    try:
        measured = os.get_terminal_size(stream.fileno())
    except (OSError, ValueError):
        measured = os.terminal_size((0, 0))

    def pick(name: str, value: int, default: int) -> int:
        given = os.environ.get(name, "")
        return int(given) if given.isdigit() and int(given) > 0 else value or default

    return pick("COLUMNS", measured.columns, 80), pick("LINES", measured.lines, 24)


def _label(document: dict) -> str:
    """A trial as a progress line names it: its command line, past the program."""
    from kleio.core.model.commandline import shell_join

    words = list(document.get("commandline") or ())
    return visible(shell_join(words[1:] if len(words) > 1 else words))
