"""``kleio checkout ID DIR``: the code a trial ran, rebuilt in a folder, and the command
that resumes the trial there."""

from __future__ import annotations

import argparse

from kleio.cli import arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "checkout",
        help="rebuild the code a trial ran in a new folder (a git worktree or clone at its "
        "commit, with its uncommitted changes) and print the command to run there",
        description="Rebuild the code a trial ran in DIR: a git worktree (or clone) of its "
        "repository at the recorded commit, with its recorded uncommitted changes applied; "
        "print the command that runs the trial there: `cd FOLDER && kleio COMMAND`, the "
        "command line as recorded ({trial.*} templates kept, Kleio fills them), so it "
        "finds the same trial (a completed one is not run again).",
        epilog="examples: kleio checkout 3f9c2e0 ../best-run",
    )
    arguments.trial_id(parser)
    parser.add_argument("folder", metavar="DIR", help="a new or empty folder")


def execute(args: argparse.Namespace, context) -> int:
    import shlex

    from kleio.cli.main import COMMANDS
    from kleio.core.reading.repository import checkout_trial

    record = context.record(args.id)
    done = checkout_trial(context.store, record.document, args.folder)
    label = record.short_id
    context.notify(f"trial {label}'s code is in {done.folder} ({done.how})")
    for name in done.not_restored:
        context.notify(f"not restored: {name}")
    # `kleio run` before a program named like a Kleio command (`kleio rm` is Kleio's).
    words = ["kleio"] + (["run"] if done.argv and done.argv[0] in COMMANDS else [])
    words += ["--project", done.project] if done.project else []
    masked = record.document.get("masked") or []
    if masked:
        context.notify(
            f"{', '.join(masked)} recorded masked (***): put the real value back in the "
            "command before you run it"
        )
    refers = record.document.get("refers") or {}
    if refers.get("reason") == "branch":
        context.notify(
            f"trial {label} is a branch of trial {refers['parent'][:7]}: this command makes a "
            f"trial of the same command line, not the branch (`kleio run {label}` resumes "
            "the branch, in its own folder)"
        )
    elif not done.same_code:
        context.notify(
            f"the code rebuilt is not quite the code trial {label} ran (see above): Kleio "
            "will see a code change and ask for --allow-code-change"
        )
    context.stdout.write(f"cd {shlex.quote(str(done.where))} && {shlex.join(words + done.argv)}\n")
    return 0
