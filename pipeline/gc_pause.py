"""Pause the cyclic garbage collector around bursts of acyclic allocations.

Attribution and the analyses build hundreds of thousands of short-lived containers (records,
tuples, per-kernel lists) that never form cycles. With the collector on, every allocation
burst triggers full collections that re-scan all live objects — the warehouse rows already
held, the records of other stages — which cost more than the work itself on large stages.
"""

from __future__ import annotations

import functools
import gc
from contextlib import contextmanager
from typing import Callable, Iterator, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def paused_gc() -> Iterator[None]:
    """Disable the cyclic GC inside the block; re-enable it after only if it was enabled before."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def without_gc(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator: run `fn` with the cyclic GC paused (see `paused_gc`)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with paused_gc():
            return fn(*args, **kwargs)

    return wrapper
