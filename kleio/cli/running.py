"""What ``run``, ``save`` and ``branch`` do with their arguments: the
:class:`~kleio.core.running.execution.Runner` their options describe, and whether the
first word of a command names a program to run."""

from __future__ import annotations

import argparse
import os

from kleio.cli.arguments import allowed_changes


def runner(args: argparse.Namespace, context):
    """The :class:`~kleio.core.running.execution.Runner` of ``run``, ``save`` and ``branch``."""
    from kleio.core.model.trial import split_tags
    from kleio.core.running.execution import Runner, RunOptions

    options = RunOptions(
        tags=split_tags(args.tags),
        project=getattr(args, "project", None),
        capture=getattr(args, "capture", False),
        switch_over=getattr(args, "switch_over", False),
        allowed=allowed_changes(args),
        working_root=os.path.abspath(args.working_dir)
        if getattr(args, "working_dir", None)
        else None,
        hook=not getattr(args, "no_hook", False),
        sample_interval=getattr(args, "sample_interval", None),
        name=getattr(args, "trial_name", None),
        study=_study(args),
        tensorboard=getattr(args, "tensorboard", False),
        scalars=getattr(args, "scalars", None),
        scalar_patterns=getattr(args, "scalar_patterns", None),
    )
    return Runner(context.store, context.settings, dict(os.environ), context.notify, options)


def _study(args: argparse.Namespace) -> str | None:
    """The study of ``--study``, checked (imported only then: a run seldom names one)."""
    if getattr(args, "study", None) is None:
        return None
    from kleio.core.running.study import check_study

    return check_study(args.study)


def is_program(word: str) -> bool:
    """An executable on PATH, or a path that exists (``./train.sh``, ``train.py``)."""
    from kleio.core.capture.programs import which

    return bool(word) and (which(word) is not None or os.path.exists(word))
