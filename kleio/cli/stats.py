"""``kleio stats ID``: the statistics a trial logged, sorted and selected by any key."""

from __future__ import annotations

import argparse

from kleio.cli import arguments
from kleio.cli.output import Column, display_of, output_options, output_rows


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stats",
        help="print a trial's statistics (its parent's up to the branch point first)",
        description="Print the statistics trial ID logged (its parent's up to the branch "
        "point first), one row each, in the order they were logged unless sorted.",
        epilog="examples: kleio stats 3f9c2e0 --sort loss --keys epoch,loss; "
        "kleio stats 3f9c2e0 --where epoch=10 --format json",
    )
    arguments.trial_id(parser)
    parser.add_argument(
        "--sort",
        metavar="[-]KEY",
        help="sort by this key (any key: there is no special timestamp field); -KEY: in "
        "descending order, as kleio ls sorts",
    )
    parser.add_argument("--reverse", action="store_true", help="sort in descending order")
    parser.add_argument("--keys", metavar="A,B", help="only these keys, in this order")
    arguments.conditions(parser, "statistics that")
    parser.add_argument(
        "--with-meta",
        action="store_true",
        help="add where each statistic comes from: _trial, _execution (its number), "
        "_time (when it was logged) and, when some were read from the output (kleio run "
        "--scalars), _source (output or logger)",
    )
    parser.add_argument(
        "--resources",
        action="store_true",
        help="print the resource samples of the trial's executions instead (CPU, memory, "
        "threads, I/O, GPUs), each with its time",
    )
    output_options(parser)


def execute(args: argparse.Namespace, context) -> int:
    from kleio.core.model.errors import SettingsError
    from kleio.core.reading.query import matching, parse_condition, parse_order
    from kleio.core.reading.statistics import statistic_pages, statistics_of

    if args.resources and args.with_meta:
        raise SettingsError(
            "--with-meta is for statistics: resource samples have their time and execution"
        )
    record = context.record(args.id)  # an unknown id first, as every command says it
    conditions = [parse_condition(text) for text in args.where]
    where = matching(conditions) if conditions else None
    if args.sort:  # -KEY descends, as kleio ls sorts
        order = parse_order(args.sort)
        args.sort, args.reverse = order.key, args.reverse != order.descending
    chosen = [k.strip() for k in args.keys.split(",") if k.strip()] if args.keys else None
    if not args.resources:
        # Not --sort: sorting by a key no statistic holds keeps the logging order.
        _check_keys(record, [*(chosen or ()), *(c.key for c in conditions)])
    if args.format == "json" and not (args.resources or args.sort or args.reverse):
        # Streamed page by page: a million statistics in bounded memory.
        if not (where or chosen is not None or args.with_meta):  # each page as it is read
            pages = statistic_pages(record.store, record.segments)
            _print_pages(context, (page.datas for page in pages))
            return 0
        _print_stream(context, args, record.statistics_stream(args.with_meta), where, chosen)
        return 0
    if args.resources:
        statistics = record.usage
    elif args.with_meta:  # read with the statistics, not after them
        statistics = statistics_of(
            record.store, record.document, segments=record.segments, meta=True
        )
    else:
        statistics = record.statistics
    if where:
        statistics = statistics._like(s for s in statistics if where(s))
    if args.sort:
        statistics = statistics.sorted_by(args.sort, reverse=args.reverse)
    elif args.reverse:
        statistics = statistics.reversed()
    keys = chosen if chosen is not None else statistics.keys()
    if args.with_meta:
        keys += [key for key in statistics.meta_keys() if key not in keys]
        statistics = statistics.with_meta()
    timed = "time" if args.resources else "_time"
    columns = [Column(key, key.upper(), time=key == timed) for key in keys]
    if not columns and args.format == "table":
        columns = [Column("", "(NO STATISTICS)")]
    rows = ({key: statistic[key] for key in keys if key in statistic} for statistic in statistics)
    output_rows(context.stdout, args.format, columns, rows, display_of(args, context.stdout))
    return 0


def _check_keys(record, named) -> None:
    """A key --keys or --where names that no statistic holds is an error naming
    those that exist, as ``kleio compare`` says it (not an empty column); read from the
    view's summaries, not its statistics."""
    from kleio.core.reading.query import QueryError
    from kleio.core.reading.statistics import META_KEYS, RANK_KEY, SOURCE_KEY
    from kleio.core.reading.summaries import view_summaries

    named = [key for key in named if key and key not in (*META_KEYS, SOURCE_KEY, RANK_KEY)]
    if not named:
        return
    logged = list(view_summaries(record.store, [record.document])[record.id])
    if not logged:
        return
    unknown = [key for key in dict.fromkeys(named) if key not in logged]
    if unknown:
        shown = ", ".join(logged[:25]) + (
            f" and {len(logged) - 25} more" if len(logged) > 25 else ""
        )
        raise QueryError(
            f"no statistic holds {', '.join(map(repr, unknown))}: the keys logged are {shown}"
        )


def _key_order():
    """A function giving the order in which a statistic's keys (a tuple) are printed:
    that of their first appearance in the statistics seen so far, as a list read whole
    gives them (a key's place is known once it has appeared). Call it in logging order."""
    seen: dict[str, int] = {}
    orders: dict[tuple[str, ...], tuple[str, ...]] = {}

    def order_of(names: tuple[str, ...]) -> tuple[str, ...]:
        order = orders.get(names)
        if order is None:
            for name in names:
                seen.setdefault(name, len(seen))
            order = orders[names] = tuple(sorted(names, key=seen.__getitem__))
        return order

    return order_of


def _in_order(statistic: dict, order_of) -> dict:
    """``statistic`` with its keys in the order ``order_of`` gives (itself if they are)."""
    names = tuple(statistic)
    order = order_of(names)
    return statistic if order == names else {key: statistic[key] for key in order}


def _print_pages(context, pages) -> None:
    """The statistics of ``pages`` (lists in logging order), as ``_print_stream``
    prints them without options, a page at a time: a page whose statistics all have
    their keys in order (the usual case, checked once per distinct tuple of keys) is
    encoded as it was read."""
    from kleio.cli.output import output_json_pages

    order_of = _key_order()

    def ordered():
        for page in pages:
            names = dict.fromkeys(map(tuple, page))
            if all([order_of(keys) == keys for keys in names]):
                yield page
                continue
            yield [_in_order(statistic, order_of) for statistic in page]

    output_json_pages(context.stdout, ordered())


def _print_stream(context, args: argparse.Namespace, pairs, where, chosen) -> None:
    """The rows ``execute`` prints, as JSON, from (statistic, meta) pairs in logging
    order: each row's keys in the order of their first appearance (see :func:`_key_order`)."""
    from kleio.core.reading.statistics import META_KEYS, RANK_KEY, SOURCE_KEY

    order_of = _key_order()
    metas = [*META_KEYS, SOURCE_KEY, RANK_KEY]
    wanted = None if chosen is None else chosen + [k for k in metas if k not in chosen]

    def rows():
        for statistic, meta in pairs:
            if where is not None and not where(statistic):
                continue
            extra = (
                {"_trial": meta.trial, "_execution": meta.execution, "_time": meta.time}
                if args.with_meta
                else None
            )
            if extra and meta.source is not None:
                extra[SOURCE_KEY] = meta.source
            if extra and meta.rank is not None:
                extra[RANK_KEY] = meta.rank
            if chosen is not None:
                full = {**statistic, **extra} if extra else statistic
                yield {key: full[key] for key in (wanted if extra else chosen) if key in full}
                continue
            row = _in_order(statistic, order_of)
            yield {**row, **extra} if extra else row

    columns = [Column("_time", "_TIME", time=True)] if args.with_meta else []
    output_rows(context.stdout, "json", columns, rows())
