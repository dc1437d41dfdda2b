"""Kleio: a logging journal of everything that describes an experiment.

Importing :mod:`kleio` is cheap: the logger and the reading API load on first use.
"""

__version__ = "0.2.0"
