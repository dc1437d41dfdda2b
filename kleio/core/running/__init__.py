"""Running a trial: from a command to a journalled execution.

Which trial a command is (``matching``), the life of one execution (``execution``), the
child process with its output, heartbeat and signals (``launcher``, ``recorder``,
``signals``, ``observers``, ``losses``), the queue and thread that write events and the
spool that keeps them while the database is away (``sink``, ``spool``), per-trial folders
(``templates``) and branches (``branching``).

May import: :mod:`kleio.core.model`, :mod:`kleio.core.capture` and what they may import.
Not ``curation`` nor ``reading``.
"""
