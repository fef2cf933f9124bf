"""Memory-bound cost models (FLOPs 0, roof = HBM bandwidth): argument roles, pointwise, reduction.

``io`` counts bytes by the role each argument plays in the op's schema (`op_costs.toml`):
``reads``, ``writes`` (out= arguments), ``updates`` (read and written in place), ``gathers``
[table, index] (index numel × one table row, e.g. a RoPE cos/sin cache looked up per position),
``scatters`` [dest, src] (src numel at the dest dtype, e.g. a KV-cache store) and ``writes_like``
(a returned tensor shaped like that argument).
"""

from __future__ import annotations

import math

from pipeline.roofline.dtypes import dtype_key, itemsize
from pipeline.roofline.shapes import Cost, NoModel, OpCall, ShapeError

_CATEGORY = {"bool": 0, "uint8": 1, "int8": 1, "int16": 1, "int32": 1, "int64": 1}  # floats: 2


def _first_dtype(op: OpCall) -> str | None:
    """The first floating tensor's dtype (else the first tensor's): informational, FLOPs are 0."""
    tensors = op.tensors()
    floats = [i for i in tensors if _CATEGORY.get(op.dtype(i), 2) == 2]
    return op.dtype((floats or tensors)[0]) if tensors else None


def io(op: OpCall, reads=(), writes=(), updates=(), gathers=(), scatters=(), writes_like=()) -> Cost | NoModel:
    """Bytes moved by the op's argument roles (the module docstring lists them)."""
    total = sum(op.nbytes(i) for i in reads) + sum(op.nbytes(i) for i in writes)
    total += 2 * sum(op.nbytes(i) for i in updates) + sum(op.nbytes(i) for i in writes_like)
    for table, index in gathers:
        shape = op.shape(table)
        if not shape:
            raise ShapeError(f"gather table argument {table} of {op.name} is 0-dim")
        total += op.numel(index) * math.prod(shape[1:]) * itemsize(op.type_of(table))
    for dest, src in scatters:
        total += op.numel(src) * itemsize(op.type_of(dest))
    return Cost(0, total, _first_dtype(op), "io")


def _broadcast(shapes: list[list[int]]) -> list[int]:
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(1, rank + 1):
        sizes = {s[-i] for s in shapes if i <= len(s)} - {1}
        if len(sizes) > 1:
            raise ShapeError(f"shapes {shapes} do not broadcast")
        out.append(sizes.pop() if sizes else 1)
    return out[::-1]


def _result_type(op: OpCall, tensors: list[int]) -> str:
    """torch's promotion, simplified: dimensioned tensors outrank 0-dim ones; float > int > bool;
    within a category the widest wins (ties: the first argument)."""
    ranked = [i for i in tensors if op.shape(i)] or tensors
    def rank(i: int) -> tuple[int, int]:
        return _CATEGORY.get(op.dtype(i), 2), itemsize(op.type_of(i))
    best = max(ranked, key=lambda i: (rank(i), -i))
    return op.type_of(best)


def pointwise(op: OpCall, out_dtype: str | None = None) -> Cost | NoModel:
    """Every tensor input read once; one output of the broadcast shape written (in place: self)."""
    tensors = op.tensors()
    if not tensors:
        return NoModel(f"{op.name}: no recorded tensor input")
    read = sum(op.nbytes(i) for i in tensors)
    if op.name.endswith("_"):
        out_numel, out_type = op.numel(tensors[0]), op.type_of(tensors[0])
    else:
        out_numel = math.prod(_broadcast([op.shape(i) for i in tensors]))
        out_type = "bool" if out_dtype == "bool" else _result_type(op, tensors)
    return Cost(0, read + out_numel * itemsize(out_type), dtype_key(out_type), "pointwise")


def reduction(op: OpCall, out: str, dim: int | None = None, indices_with_dim: bool = False) -> Cost | NoModel:
    """Input read; the output (input numel over the reduced extent) written."""
    shape = op.shape(0)
    dims = op.int_list(dim) if dim is not None and op.has(dim) else None
    numel = math.prod(shape)
    if dims:
        rank = max(1, len(shape))
        axes = {d % rank for d in dims}
        reduced = math.prod(shape[a] for a in axes) if shape else 1
        out_numel = numel // reduced if reduced else 0
    else:
        out_numel = 1
    out_type = {"input": op.type_of(0), "int64": "long int", "bool": "bool"}[out]
    written = out_numel * itemsize(out_type)
    if indices_with_dim and dims:
        written += out_numel * itemsize("long int")
    return Cost(0, op.nbytes(0) + written, op.dtype(0), "reduction")
