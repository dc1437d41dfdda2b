"""Kleio: a logging journal of everything that describes an experiment."""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(
    r'^__version__ = "([^"]+)"', (HERE / "kleio" / "__init__.py").read_text(), re.M
).group(1)

setup(
    name="kleio",
    version=VERSION,
    description="Experiment manager: a logging journal of everything that describes an experiment",
    long_description=(HERE / "README.rst").read_text(encoding="utf-8"),
    long_description_content_type="text/x-rst",
    license="BSD-3-Clause",
    url="https://github.com/bouthilx/kleio",
    packages=find_packages(include=["kleio", "kleio.*"]),
    package_data={
        # Users' type checkers see the API's hints (PEP 561).
        "kleio": ["py.typed"],
        # The start-up hook: its folder goes on a script's import path, it is no package.
        "kleio.client": ["startup/*.py"],
        # The dashboard's page, script, style and vendored charting library (with its licence).
        "kleio.ui": ["static/*"],
    },
    python_requires=">=3.10",
    install_requires=[
        "pymongo>=4.6,<5",
        "psutil>=5.9",
        "PyYAML>=6.0",
        "filelock>=3.12",
        # Shell completion; imported only when the shell asks for completions.
        "argcomplete>=3.1",
        # kleio diff and kleio checkout only: imported there, never when a run starts.
        "GitPython>=3.1.30",
        # Encodes and decodes journal events 4x faster than json; imported on first use.
        "orjson>=3.9",
        # --where KEY~PATTERN: Python's syntax without backtracking that never ends, and a
        # time budget (the dashboard serves patterns from any page); imported there.
        "regex>=2022.1.18",
    ],
    extras_require={
        "test": [
            "pytest>=7.4",
            # Two workers: most tests wait on processes and real time, so two share two
            # cores well (the whole suite in about 60% of the time of one).
            "pytest-xdist>=3.5",
            "mongomock>=4.1.2",
            "nx-27017>=0.8.1",
            "hypothesis>=6.80",
            "numpy>=1.24",
            # kleio.compare returns a DataFrame when pandas is installed: both are tested.
            "pandas>=2.0",
            "sphinx>=7",
            # kleio plot -o, and reading the PNGs it writes.
            "matplotlib>=3.7",
            # log_image of PIL images, and PIL reading the PNGs Kleio encodes.
            "pillow>=9",
            # Hydra's configurations given to kleio.start(config=...).
            "omegaconf>=2.3",
            # Notebooks running their own trial (kleio.start), executed headless.
            "nbclient>=0.8",
            "ipykernel>=6",
            # The dashboard's tests drive Debian's chromium through chromedriver.
            "selenium>=4.10",
            # Optuna's journal kept in Kleio's (kleio.integrations.optuna).
            "optuna>=4.0",
        ],
        # kleio plot -o FILE (the terminal plot needs nothing more).
        "plot": ["matplotlib>=3.7"],
        # Adaptive search: workers share one Optuna study through the journal; imported
        # only by what runs a study, never when a run starts.
        "optuna": ["optuna>=4.0"],
        # Loggers and callbacks of kleio.integrations, each imported only by a script that
        # imports it. Lightning and Accelerate (which Transformers' Trainer needs) require
        # PyTorch: the user installs the build they want (CPU or CUDA) first, or pip takes
        # its default one.
        "lightning": ["lightning>=2"],
        "transformers": ["transformers>=4.40", "accelerate>=0.26"],
        "keras": ["keras>=3"],
    },
    entry_points={"console_scripts": ["kleio = kleio.cli.main:entry"]},
    classifiers=[
        "License :: OSI Approved :: BSD License",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Topic :: Scientific/Engineering",
    ],
)
