"""``kleio rm``: delete trials with their events and artifacts, after asking."""

from __future__ import annotations

import argparse
import shlex
import sys

from kleio.cli import arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "rm",
        help="delete trials with their events and artifacts (lists them and asks first)",
        description="Delete trials with their events and artifacts. The trials are listed "
        "first and, on a terminal, Kleio asks; a running trial or one with children is "
        "refused unless asked for.",
        epilog="examples: kleio rm --status broken --dry-run; kleio rm 3f9c2e0 --yes; "
        "kleio rm --where 'loss:min>1' --since 7d --dry-run",
    )
    arguments.trial_ids(parser, "delete the trials")
    arguments.selection(parser)
    arguments.query_options(parser)
    parser.add_argument("-y", "--yes", action="store_true", help="do not ask: delete")
    parser.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    parser.add_argument(
        "--with-children",
        action="store_true",
        help="also delete the branches of these trials (refused otherwise)",
    )


def _ask(context, question: str) -> bool:
    stdin = sys.stdin
    if stdin is None or not stdin.isatty():
        from kleio.core.model.errors import SettingsError

        raise SettingsError(
            "kleio rm asks before deleting, and no terminal is there to answer: "
            "add --yes to delete, or --dry-run to only list"
        )
    context.stderr.write(f"{question} [y/N] ")
    context.stderr.flush()
    return stdin.readline().strip().lower() in ("y", "yes")


def execute(args: argparse.Namespace, context) -> int:
    from kleio.core.curation.removal import finish_pending_deletions, plan_removal, remove_trials
    from kleio.core.model import clock
    from kleio.core.model.errors import SettingsError
    from kleio.core.model.status import observed_status
    from kleio.core.model.trial import short_id
    from kleio.core.reading import readable
    from kleio.core.reading.query import query_trials
    from kleio.core.reading.selection import nothing_selected

    query = arguments.trial_query(args)
    selection = query.selection
    narrowed = (
        selection.ids
        or selection.tags
        or selection.statuses
        or selection.project
        or selection.study
    )
    if not (narrowed or selection.since is not None or query.where):
        # -n alone does not narrow: `kleio rm -n 1000` is every trial of most journals.
        raise SettingsError(
            "kleio rm needs trial ids, --tags, --status, --project, --study, --since or --where: "
            "it never deletes every trial by default"
        )
    store, lease = context.store, context.settings.lease
    finished = [] if args.dry_run else finish_pending_deletions(store)
    if finished:
        context.notify(
            f"finished deleting {readable.count(len(finished), 'trial')} an interrupted "
            f"`kleio rm` left: {', '.join(short_id(trial_id) for trial_id in finished)}"
        )
    ids = [text for text in selection.ids if not any(f.startswith(text.lower()) for f in finished)]
    if selection.ids and not ids:
        return 0
    # A damaged trial (another program wrote its document) is selected without the
    # fields that do not hold: whatever its document holds, it can be deleted.
    query = query.replace(selection=selection.replace(ids=ids))
    selected = query_trials(store, query, lease, None, named_incomplete=True, damaged=True).facts
    if not selected:
        context.notify(nothing_selected(store, "nothing to delete"))
        return 0
    plan = plan_removal(store, [facts.document for facts in selected], lease, args.with_children)
    for document in plan.trials:
        command = shlex.join(document.get("commandline") or [])
        context.stdout.write(
            f"{short_id(document['_id'])}  {observed_status(document, lease):<11}  "
            f"{clock.iso(document.get('created'))}  {command}\n"
        )
    summary = (
        f"{readable.count(len(plan.trials), 'trial')}, {readable.count(plan.events, 'event')}, "
        f"{readable.count(plan.artifacts, 'artifact')} ({readable.size(plan.bytes)} of blobs)"
    )
    if args.dry_run:
        context.notify(f"would delete {summary}")
        return 0
    if not args.yes and not _ask(context, f"delete {summary}?"):
        context.notify("nothing deleted")
        return 1
    count = remove_trials(store, plan, lease)
    context.notify(f"deleted {readable.count(count, 'trial')}; `kleio gc` gives their space back")
    return 0
