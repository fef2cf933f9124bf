"""Op name → cost model, from `pipeline/catalog/op_costs.toml`; `cost_of` runs the model."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from pipeline.paths import read_catalog
from pipeline.roofline.context import TraceContext
from pipeline.roofline.models import attention, comm, gemm, memory, moe_config
from pipeline.roofline.shapes import Cost, NoModel, OpCall, ShapeError

CATALOG = "op_costs.toml"
MODELS: dict[str, Callable[..., Cost | NoModel]] = {
    "gemm": gemm.gemm,
    "linear": gemm.linear,
    "matmul": gemm.matmul,
    "grouped_mm": gemm.grouped_mm,
    "fused_moe": gemm.fused_moe,
    "attention": attention.attention,
    "io": memory.io,
    "pointwise": memory.pointwise,
    "reduction": memory.reduction,
    "moe_architecture": moe_config.moe_from_architecture,
    "collective": comm.collective,
}
CONTEXT_MODELS = frozenset({"moe_architecture", "collective"})  # called with the file's TraceContext


@dataclass(frozen=True)
class Entry:
    """One catalog entry: the model and its argument layout for some op names."""

    names: tuple[str, ...]
    model: str
    args: dict
    source: str


def _entry(raw: dict) -> Entry:
    model = raw.get("model")
    if model not in MODELS:
        raise ValueError(f"{CATALOG}: entry {raw.get('names')} names unknown model {model!r}")
    if not raw.get("source"):
        raise ValueError(f"{CATALOG}: entry {raw.get('names')} cites no source")
    return Entry(tuple(raw["names"]), model, dict(raw.get("args", {})), raw["source"])


@lru_cache(maxsize=1)
def entries() -> tuple[Entry, ...]:
    """Every catalog entry, in file order."""
    return tuple(_entry(raw) for raw in read_catalog(CATALOG)["op"])


@lru_cache(maxsize=1)
def _by_name() -> dict[str, Entry]:
    out: dict[str, Entry] = {}
    for e in entries():
        for name in e.names:
            if name in out:
                raise ValueError(f"{CATALOG}: {name} is listed twice")
            out[name] = e
    return out


def entry_for(name: str) -> Entry | None:
    return _by_name().get(name)


def cost_of(op: OpCall, ctx: TraceContext | None = None) -> Cost | NoModel:
    """The op's cost, or why it has none (no catalog entry, shapes not recorded, layout mismatch);
    `ctx` is the op's trace file (model, group size) for the models that need it."""
    if not op.dims:
        return NoModel(f"{op.name}: input shapes not recorded (record_shapes off)")
    entry = entry_for(op.name)
    if entry is None:
        return NoModel(f"no cost model for {op.name}")
    try:
        if entry.model in CONTEXT_MODELS:
            return MODELS[entry.model](op, ctx or TraceContext(), **entry.args)
        return MODELS[entry.model](op, **entry.args)
    except ShapeError as exc:
        return NoModel(str(exc))
