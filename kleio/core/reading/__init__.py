"""Reading trials back and comparing them: what every face (the commands, the dashboard,
the Python API) shows.

A trial's whole record (``record``), its statistics, summaries and curves
(``statistics``, ``summaries``, ``series``), choosing and querying trials (``selection``,
``query``), trials side by side and two trials' differences (``comparison``,
``difference``, with ``repository`` rebuilding code with git), values as people read them
(``readable``) and the strict JSON every face writes (``strict_json``).

May import: :mod:`kleio.core.model`, :mod:`kleio.core.capture`,
:mod:`kleio.core.curation` (a record shows its notes) and what they may import. Not
``running``.
"""
