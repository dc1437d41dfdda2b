"""The trial model: what a trial is and how its life and journal are kept.

Identity and documents (``trial``), the journal opened with what the store keeps beside
each trial (``catalogue``), the life of a trial as compare-and-set steps
(``status``), event keys and writers (``journal``), a branch's view of its ancestors'
journal (``view``), the configuration a command line expresses (``commandline``),
settings, time, errors, and the journal's two kinds of content that need more than an
event: artifacts (blobs) and output (bytes as events, ``printed``).

May import: :mod:`kleio.store` (the contract), :mod:`kleio.value`, :mod:`kleio.forking`,
:mod:`kleio.private_files`. Nothing else of the core.
"""
