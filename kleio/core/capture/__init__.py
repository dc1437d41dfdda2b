"""Capturing what a run ran with: the facts taken when it starts, and while it runs.

The code version (``code``), the software environment (``environment``), the host
(``host``), the snapshot that gathers them with the command and decides what identifies
a trial (``snapshot``), files a trial writes (``written``), secrets kept out of all of it
(``redact``), the configuration the script's own parser resolved (``hook`` and
``resolved``), resources its processes used (``usage``), and programs on the ``PATH``
(``programs``).

May import: :mod:`kleio.core.model` and what it may import. Not ``running``, ``curation``
nor ``reading``.
"""
