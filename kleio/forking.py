"""What objects do when the process forks, registered one way.

A forked child has one thread: locks held by its parent's other threads stay held
forever, and connections and queues it inherits belong to the parent. Objects that hold
such things register hooks here; they are called with the object for as long as it lives
(a weak reference: registering never keeps an object alive).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
Hook = Callable[[T], None]


def at_fork(
    owner: T,
    *,
    before: Hook | None = None,
    after_in_parent: Hook | None = None,
    after_in_child: Hook | None = None,
) -> None:
    """Call each given hook with ``owner`` at that moment of every later ``os.fork()``."""
    reference = weakref.ref(owner)

    def bound(hook: Hook) -> Callable[[], None]:
        def call() -> None:
            target = reference()
            if target is not None:
                hook(target)

        return call

    hooks = {"before": before, "after_in_parent": after_in_parent, "after_in_child": after_in_child}
    os.register_at_fork(**{moment: bound(hook) for moment, hook in hooks.items() if hook})
