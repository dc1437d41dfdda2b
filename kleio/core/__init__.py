"""The domain: what a trial is, what it ran with, how it runs, how it is read and curated.

The core never prints: it returns values or raises :class:`~kleio.core.model.errors.KleioError`,
and the faces (``kleio.cli``, ``kleio.ui``, ``kleio.client``) show them. It reaches the
database through the store contract alone (:mod:`kleio.store`). Its sub-packages,
each importing only what its own docstring allows (``tests/test_architecture.py``
checks it):

``model``
    the trial itself: identity, document, status, journal keys, a branch's view,
    configuration parsed from a command line, settings, artifacts, output events.
``capture``
    what a run ran with, taken at its start: code, environment, host, the snapshot that
    gathers them, secrets kept out, the configuration the script resolved, resources used.
``running``
    running a trial: matching a command to its trial, the execution, the launcher and its
    signals, the sink and spool that write events, branching.
``curation``
    changing trials after the fact: tags and notes, removal, export and import.
``reading``
    reading trials back and comparing them: a trial's record, statistics, curves,
    summaries, queries, differences, values as people read them.

``reading`` may import ``curation`` (a record shows its notes); ``running`` and
``curation`` never import each other nor ``reading``.
"""
