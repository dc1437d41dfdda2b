"""``python -m kleio`` is the ``kleio`` command."""

from kleio.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
