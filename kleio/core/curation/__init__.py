"""Curating and moving trials after the fact: tags and notes (``notes``), deleting
trials and giving space back (``removal``), export and import between journals
(``transfer``).

May import: :mod:`kleio.core.model` and what it may import. Not ``capture``,
``running`` nor ``reading``.
"""
