"""Kleio seen from other frameworks: one module per framework, each importing its
framework only when it is itself imported (never on the start-up path of a run), and
speaking to Kleio through the client, the core and the store's contract.

May import ``kleio.client``, ``kleio.core`` and ``kleio.store``; only the command line
imports it.
"""
