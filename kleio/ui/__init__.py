"""The local dashboard (``kleio ui``): a second face of Kleio beside the commands,
reading the journal through the core as they do.

:mod:`kleio.ui.api` answers (JSON-ready values), :mod:`kleio.ui.server` serves them and
the page's assets (``static/``: HTML, script, style and the vendored uPlot charting
library, with its licence) over HTTP with the standard library only.
"""
