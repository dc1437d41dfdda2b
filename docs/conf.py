"""Sphinx configuration of Kleio's user guide."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

from kleio import __version__

project = "Kleio"
author = "the Kleio developers"
copyright = "2018-2026, the Kleio developers"
version = release = __version__

extensions = ["sphinx.ext.autodoc"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path = []
