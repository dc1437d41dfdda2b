"""Reading the journal from Python: ``kleio.load_trial``, ``kleio.list_trials`` and
``kleio.compare``.

.. code:: python

    import kleio

    trial = kleio.load_trial("3f9c2e0")
    trial.status, trial.configuration["lr"]
    best = trial.statistics.sorted_by("loss")[0]
    frame = trial.statistics.to_pandas()
    weights = trial.artifacts[0].read()

    for trial in kleio.list_trials(tags=["sweep"], status="completed"):
        print(trial.id, trial.statistics.last("acc"))

    best = kleio.compare(tags="sweep", sort="loss:min", keys="loss:min,acc:max")

Settings (the database address...) are resolved as for the ``kleio`` command.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kleio.core.model.catalogue import open_journal
from kleio.core.model.settings import Settings, load_settings
from kleio.core.reading.record import TrialRecord
from kleio.store import Store

_STORES: dict[tuple[str, str], Store] = {}


def _store(settings: Settings) -> Store:
    key = (settings.db_address, settings.db_name)
    if key not in _STORES:
        _STORES[key] = open_journal(*key)
    return _STORES[key]


class Trial:
    """A read-only view of one trial; each part is read from the journal when asked for."""

    def __init__(self, record: TrialRecord):
        self._record = record

    def __repr__(self) -> str:
        return f"<Trial {self._record.short_id} {self.status}: {' '.join(self.commandline)}>"

    id = property(lambda self: self._record.id, doc="The full trial id.")
    short_id = property(lambda self: self._record.short_id)
    name = property(
        lambda self: self._record.document.get("name"),
        doc="The trial's name (``--name``, ``kleio name``), or None.",
    )
    status = property(
        lambda self: self._record.status,
        doc="new, reserved, running, completed, broken, interrupted or lost.",
    )
    commandline = property(lambda self: list(self._record.document.get("commandline") or []))
    configuration = property(
        lambda self: self._record.configuration,
        doc="What the script ran with: the command line's configuration, and the defaults "
        "its argument parser filled in (see ``defaults``).",
    )
    command_configuration = property(
        lambda self: self._record.document.get("configuration") or {},
        doc="The configuration the command line gives: the trial's identity.",
    )
    defaults = property(
        lambda self: self._record.defaults,
        doc="The keys of ``configuration`` the script's parser filled in, not typed.",
    )
    version = property(
        lambda self: self._record.document.get("version") or {},
        doc="The code version: git commit, branch, dirty flag, diff...",
    )
    environment = property(lambda self: self._record.document.get("environment") or {})
    tags = property(lambda self: list(self._record.document.get("tags") or []))
    working_dir = property(
        lambda self: self._record.document.get("working_dir"),
        doc="The trial's own folder, ``{trial.working_dir}`` on its command line.",
    )
    project = property(lambda self: self._record.document.get("project"))
    created = property(lambda self: self._record.document.get("created"))
    executions = property(
        lambda self: _warning(lambda: self._record.executions),
        doc="One dict per execution: host, start, end, exit code...",
    )
    statistics = property(
        lambda self: _warning(lambda: self._record.statistics),
        doc="A list of dicts with sorted_by, where, column, to_pandas.",
    )
    artifacts = property(
        lambda self: _warning(lambda: self._record.artifacts),
        doc="Artifacts latest first; each has read(), save(path).",
    )
    resources = property(
        lambda self: _warning(lambda: self._record.resources),
        doc="Inputs the script recorded with ``log_resource``: path, size, sha256.",
    )
    resource_usage = property(
        lambda self: _warning(lambda: self._record.usage),
        doc="Samples of CPU, memory, threads, I/O and GPUs while the script ran, one dict "
        "each with its ``time``; like ``statistics``, with ``to_pandas()``.",
    )

    @property
    def parent(self) -> Trial | None:
        parent = self._record.parent
        return load_trial(parent, _record=self._record) if parent else None

    @property
    def children(self) -> list[Trial]:
        return [load_trial(child["_id"], _record=self._record) for child in self._record.children]

    @property
    def stdout(self) -> str:
        """What the script printed (its parent's up to the branch point first), decoded
        as UTF-8 with invalid bytes replaced; ``stdout_bytes`` has them exactly."""
        return self.stdout_bytes.decode("utf-8", "replace")

    @property
    def stdout_bytes(self) -> bytes:
        return _warning(lambda: b"".join(self._record.output(("stdout",))))

    @property
    def stderr(self) -> str:
        printed = _warning(lambda: b"".join(self._record.output(("stderr",))))
        return printed.decode("utf-8", "replace")

    def as_dict(self) -> dict[str, Any]:
        """The whole record, as ``kleio info --json`` prints it."""
        return self._record.as_dict()


def _warning(read: Callable[[], Any]) -> Any:
    """What ``read`` returns; events and blobs another program damaged, which the
    readers skip, said in one line on stderr (as a command says them)."""
    from kleio.core.model.unreadable import noting_unreadable, on_stderr

    with noting_unreadable(on_stderr):
        return read()


def load_trial(id_or_prefix: str, *, _record: TrialRecord | None = None, **settings: Any) -> Trial:
    """The trial whose id is or starts with ``id_or_prefix``, or whose name it is.

    Raises ``kleio.core.model.errors.UnknownTrial`` or ``AmbiguousTrial`` (listing candidates).
    ``settings`` may give ``db_address``, ``db_name`` or ``home`` as the command's flags do.
    """
    from kleio.core.model.trial import resolve_trial

    if _record is not None:
        store, lease = _record.store, _record.lease
    else:
        resolved = load_settings(settings)
        store, lease = _store(resolved), resolved.lease
    return Trial(TrialRecord(store, resolve_trial(store, id_or_prefix), lease))


def list_trials(
    *,
    tags: list[str] | str | None = None,
    status: list[str] | str | None = None,
    project: str | None = None,
    parent: str | None = None,
    study: str | None = None,
    **settings: Any,
) -> list[Trial]:
    """Trials matching every filter given, newest first (``status`` may be ``"lost"``)."""
    from kleio.core.reading.selection import Selection, select_trials

    resolved = load_settings(settings)
    store = _store(resolved)
    selection = Selection(
        tags=[tags] if isinstance(tags, str) else tags or (),
        statuses=[status] if isinstance(status, str) else status or (),
        project=project,
        parent=parent,
        study=study,
    )
    return [
        Trial(TrialRecord(store, document, resolved.lease))
        for document, _ in select_trials(store, selection, resolved.lease)
    ]


def _listed(value: Any) -> list:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def compare(
    ids: list[str] | str | None = None,
    *,
    tags: list[str] | str | None = None,
    status: list[str] | str | None = None,
    project: str | None = None,
    study: str | None = None,
    where: list[str] | str | None = None,
    sort: list[str] | str | None = None,
    limit: int | None = None,
    since: str | float | None = None,
    keys: list[str] | str | None = None,
    all_configuration: bool = False,
    group_by: list[str] | str | None = None,
    seed_keys: list[str] | str | None = None,
    agg: list[str] | str | None = None,
    **settings: Any,
):
    """The rows of ``kleio compare``: a ``pandas.DataFrame`` when pandas is installed, a
    list of dicts otherwise; one row per trial, with ``id``, ``short_id``, ``status``,
    ``trial_name`` (when a trial compared has a name), the configuration keys that
    differ (all with ``all_configuration``), statistic summaries (``keys=["loss:min",
    "acc:max"]``; the last value of each statistic by default) and ``run_time``.

    Selection, ``where`` conditions and ``sort`` keys are those of the command::

        kleio.compare(tags="sweep", where="loss:min<0.1", sort="loss:min", limit=5)

    With ``group_by`` (``"lr"``, ``["lr", "batch"]``, or ``"*"``: every configuration
    key but the seeds, ``seed``, ``*.seed`` and ``seed_keys``), one row per group, as
    ``kleio compare --group-by`` prints it: the grouping keys, ``n`` and each column's
    aggregates (``agg``: ``"mean,std"`` by default, among mean, std, min, max and median;
    std with ddof=0) as ``loss:min:mean``, ``loss:min:std``::

        kleio.compare(tags="study", group_by="lr", keys="loss:min", sort="loss:min:mean")
    """
    from kleio.core.reading.query import Query, parse_since
    from kleio.core.reading.selection import Selection

    resolved = load_settings(settings)
    store = _store(resolved)
    selection = Selection(
        tags=_listed(tags),
        statuses=_listed(status),
        project=project,
        study=study,
        ids=_listed(ids),
        since=parse_since(since) if isinstance(since, str) else since,
    )
    query = Query(selection, _listed(where), _listed(sort), limit)
    chosen = None if keys is None else [k for text in _listed(keys) for k in text.split(",")]
    if group_by is not None:
        from kleio.core.reading.comparison import compare_groups
        from kleio.core.reading.groups import parse_group_aggregates

        comparison = compare_groups(
            store,
            query,
            resolved.lease,
            group_by=_listed(group_by),
            seed_keys=_listed(seed_keys),
            aggregates=parse_group_aggregates(None if agg is None else ",".join(_listed(agg))),
            keys=chosen,
            all_configuration=all_configuration,
        )
    else:
        from kleio.core.model.errors import SettingsError
        from kleio.core.reading.comparison import compare_trials

        if seed_keys is not None or agg is not None:
            raise SettingsError("seed_keys and agg are for groups: give group_by too")
        comparison = compare_trials(
            store, query, resolved.lease, keys=chosen, all_configuration=all_configuration
        )
    try:
        import pandas
    except ImportError:
        return comparison.rows
    return pandas.DataFrame(comparison.rows, columns=comparison.columns)
