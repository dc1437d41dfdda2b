"""``python -m kleio`` is the ``kleio`` command."""

from kleio.cli.main import entry

if __name__ == "__main__":
    entry()
