"""Kleio: a logging journal of everything that describes an experiment.

Importing :mod:`kleio` is cheap: the logger and the reading API load on first use::

    import kleio

    kleio.log_statistic(epoch=1, loss=0.5)      # the script's side
    trial = kleio.load_trial("3f9c2e0")         # the analyst's side
    rows = kleio.compare(tags="sweep", sort="loss:min")

    with kleio.trial(config=vars(args)):         # a trial without the wrapper
        kleio.log_statistic(epoch=1, loss=0.5)
"""

__version__ = "0.2.0"

_LOGGER_NAMES = {
    "kleio_logger",
    "log_statistic",
    "log_artifact",
    "log_image",
    "log_resource",
    "load_statistics",
    "load_artifacts",
    "flush",
}


_API_NAMES = {"load_trial", "list_trials", "compare", "Trial"}
#: A trial the process runs itself (notebooks, frameworks): kleio.client.inprocess.
_INPROCESS_NAMES = {"start", "trial", "current"}


def __getattr__(name: str):
    if name in _LOGGER_NAMES:
        from kleio.client.logger import kleio_logger

        return kleio_logger if name == "kleio_logger" else getattr(kleio_logger, name)
    if name in _API_NAMES:
        from kleio.client import api

        return getattr(api, name)
    if name in _INPROCESS_NAMES:
        from kleio.client import inprocess

        return getattr(inprocess, name)
    raise AttributeError(f"module 'kleio' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LOGGER_NAMES, *_API_NAMES, *_INPROCESS_NAMES])
