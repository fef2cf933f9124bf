"""The one interface every stage analysis exposes, and what it is given.

A report is computed per *view* (one rank, or every rank pooled) and per stage. Every analyzer
returns a dict of stage fields (the keys of ``stages[]`` in docs/json-schema.md):

- ``run(part, done)``: the analysis of one timeline — one rank's kernels of the stage (or the
  files without a rank, or a root with a single rank);
- ``combine(parts, whole, done)``: the same fields for several ranks at once, from each rank's
  run (``parts``: rank → that rank's stage fields, every analyzer's) and the pooled kernels
  (``whole``). Analyses that need no clock pool the ranks (`Pooled`: run on ``whole``); those that
  read timestamps combine the per-rank results, because every rank is its own GPU and clock.

``done`` holds the fields the analyzers before this one (registry order,
`pipeline.report.registry`) produced for the same stage, so a later analyzer can build on an
earlier one (the per-rank column of the kernel table reads the kernel rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa


@dataclass(frozen=True)
class RootContext:
    """What the analyses need to know about the root besides its kernels."""

    root: str
    framework: str | None
    model: str | None
    platform: str = "cuda"
    tp: int | None = None
    has_cpu: bool = True
    alignment: dict = field(default_factory=dict)  # (rank, stage) → stored match-rate row
    device: Any = None  # pipeline.roofline.devices.Device of the view's kernels
    rank_of: dict = field(default_factory=dict)  # file_id → rank of every timing file, when ≥ 2 ranks
    notes: dict = field(default_factory=dict)  # stage → stored layers / cross_root / catalog_sites findings


@dataclass(frozen=True)
class StagePart:
    """One stage's kernels on one timeline (or pooled over ranks, for `combine`)."""

    stage: str
    table: pa.Table  # kernel_facts rows of the timing traces (formal or single), build order
    ctx: RootContext
    ranks: tuple[int, ...] = ()  # ranks of the view's timing files (one rank for a per-rank run)
    unranked: bool = False  # `table` holds kernels of files without a rank
    mapping: pa.Table | None = None  # the same stage's rows of mapping traces, when there are any
    siblings: pa.Table | None = None  # the same stage's timing rows of every rank of the root

    @property
    def rank_column(self) -> list:
        """Each row's rank (None for files without one)."""
        return self.table.column("rank").to_pylist() if "rank" in self.table.column_names else \
            [None] * self.table.num_rows


class Analyzer(Protocol):
    """A stage analysis: ``run`` on one timeline, ``combine`` over several ranks."""

    name: str

    def run(self, part: StagePart, done: dict) -> dict[str, Any]: ...

    def combine(self, parts: dict, whole: StagePart, done: dict) -> dict[str, Any]: ...


class Pooled:
    """An analysis that reads no timestamps across kernels: several ranks are simply pooled."""

    name = "pooled"

    def run(self, part: StagePart, done: dict) -> dict[str, Any]:
        raise NotImplementedError

    def combine(self, parts: dict, whole: StagePart, done: dict) -> dict[str, Any]:
        return self.run(whole, done)
