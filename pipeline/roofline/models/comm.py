"""Collectives: bus bytes over the scale-up interconnect (NCCL-tests' busbw rule), no FLOPs.

A collective of message size S over n ranks moves S·factor(n) bytes per rank on its links
(all-reduce 2(n−1)/n, all-gather and reduce-scatter (n−1)/n; NVIDIA/nccl-tests
doc/PERFORMANCE.md, factors in `pipeline/catalog/collectives.toml`). Its roof is the GPU's
one-direction link bandwidth (`link_tbps` in `pipeline/catalog/devices.toml`). The time of a
collective kernel also holds waiting for the other ranks: the collectives section splits it.
S comes from the kernel's collective metadata (NCCL path: "In/Out msg nelems", "dtype", "Group
size") or, for ops without it (symmetric-memory all-reduce), from the op's input tensor and the
trace's group size.
"""

from __future__ import annotations

from pipeline.collectives import load_config
from pipeline.collectives.metrics import busbw_factor, record_message_bytes
from pipeline.roofline.context import TraceContext
from pipeline.roofline.shapes import Cost, NoModel, OpCall

MODEL = "collective"
NOTE = "bus bytes (NCCL-tests busbw rule) at the interconnect roof; the time includes waiting for other ranks"


def _cost(name: str, collective: str, size: int, n: int | None) -> Cost | NoModel:
    kind, factor = busbw_factor(collective, n, load_config())
    if kind is None:
        return NoModel(f"{name}: collective {collective!r} has no bus-bandwidth rule (collectives.toml)")
    if factor is None:
        return NoModel(f"{name}: the group size of the collective is unknown")
    return Cost(0, round(size * factor), None, MODEL, NOTE)


def collective(op: OpCall, ctx: TraceContext, tensor: int, collective: str) -> Cost | NoModel:
    """An op whose input tensor is the whole message (the group size from the trace)."""
    if ctx.group_size is None:
        return NoModel(f"{op.name}: {ctx.group_note}")
    return _cost(op.name, collective, op.nbytes(tensor), ctx.group_size)


def collective_from_metadata(record: dict, ctx: TraceContext) -> Cost | NoModel | None:
    """A kernel carrying NCCL metadata (None when it has none or the sizes are not recorded)."""
    name = record.get("coll_name")
    size = record_message_bytes(record, load_config()) if name else None
    if size is None:
        return None
    return _cost(record.get("name") or name, name, size, record.get("coll_group_size") or ctx.group_size)
