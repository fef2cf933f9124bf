"""GEMM-family cost models: 2·M·N·K per (batch) matmul; bytes = operands + output.

Bias and epilogues are not counted in FLOPs (their bytes are: the bias is an input). The roof is
the widest floating dtype of the two operands (a mixed fp8 × bf16 GEMM runs at the bf16 rate);
packed or integer-stored operands other than int8 have no model (their element count is not the
recorded one).
"""

from __future__ import annotations

import math

from pipeline.roofline.dtypes import SCALAR_TYPE_CODES, itemsize, widest
from pipeline.roofline.shapes import Cost, NoModel, OpCall, ShapeError

GEMM_MODELS = ("gemm", "linear", "matmul", "grouped_mm", "fused_moe")  # counted in `gemm_flops`


def _compute_dtype(op: OpCall, a: int, b: int) -> str:
    keys = [op.dtype(a), op.dtype(b)]
    if keys == ["int8", "int8"]:
        return "int8"
    if any(k not in ("fp64", "fp32", "bf16", "fp16", "fp8") for k in keys):
        raise ShapeError(f"operand dtypes {op.type_of(a)!r} x {op.type_of(b)!r} are not plain floating types "
                         "(packed or integer-stored operands: the element count is not the recorded one)")
    return widest(keys)  # type: ignore[return-value]


def _out_itemsize(op: OpCall, a: int, out_dtype: int | None) -> int:
    code = op.int_value(out_dtype) if out_dtype is not None else None
    if code is not None:
        if code not in SCALAR_TYPE_CODES:
            raise ShapeError(f"out_dtype code {code} is not a known c10::ScalarType")
        return itemsize(SCALAR_TYPE_CODES[code])
    return itemsize(op.type_of(a))


def _bias_bytes(op: OpCall, bias: int | None) -> int:
    return op.nbytes(bias) if bias is not None and op.is_tensor(bias) else 0


def gemm(op: OpCall, a: int, b: int, bias: int | None = None, out_dtype: int | None = None) -> Cost | NoModel:
    """a [.., M, K] x b [.., K, N] with equal batch dims (mm, addmm, bmm, baddbmm, _scaled_mm)."""
    sa, sb = op.shape(a), op.shape(b)
    if len(sa) < 2 or len(sa) != len(sb) or sa[:-2] != sb[:-2] or sa[-1] != sb[-2]:
        return NoModel(f"{op.name}: operand shapes {sa} x {sb} are not a (batched) matmul")
    batch, (m, k), n = math.prod(sa[:-2]), sa[-2:], sb[-1]
    dtype = _compute_dtype(op, a, b)
    out = batch * m * n * _out_itemsize(op, a, out_dtype)
    return Cost(2 * batch * m * n * k, op.nbytes(a) + op.nbytes(b) + _bias_bytes(op, bias) + out, dtype, "gemm")


def linear(op: OpCall, x: int, w: int, bias: int | None = None) -> Cost | NoModel:
    """x [.., K] x w [N, K]^T."""
    sx, sw = op.shape(x), op.shape(w)
    if len(sw) != 2 or not sx or sx[-1] != sw[1]:
        return NoModel(f"{op.name}: shapes {sx} x {sw}^T do not fit linear")
    rows, (n, k) = math.prod(sx[:-1]), sw
    dtype = _compute_dtype(op, x, w)
    out = rows * n * itemsize(op.type_of(x))
    return Cost(2 * rows * n * k, op.nbytes(x) + op.nbytes(w) + _bias_bytes(op, bias) + out, dtype, "linear")


def matmul(op: OpCall, a: int, b: int) -> Cost | NoModel:
    """torch.matmul: 1-D operands promoted (and the added dim dropped), batch dims broadcast."""
    sa, sb = list(op.shape(a)), list(op.shape(b))
    if not sa or not sb:
        return NoModel(f"{op.name}: 0-dim operand")
    sa = [1] + sa if len(sa) == 1 else sa
    sb = sb + [1] if len(sb) == 1 else sb
    if sa[-1] != sb[-2]:
        return NoModel(f"{op.name}: inner dimensions {sa[-1]} and {sb[-2]} differ")
    try:
        batch = math.prod(_broadcast(sa[:-2], sb[:-2]))
    except ShapeError as exc:
        return NoModel(f"{op.name}: {exc}")
    m, k, n = sa[-2], sa[-1], sb[-1]
    dtype = _compute_dtype(op, a, b)
    out = batch * m * n * itemsize(op.type_of(a))
    return Cost(2 * batch * m * n * k, op.nbytes(a) + op.nbytes(b) + out, dtype, "matmul")


def _broadcast(x: list[int], y: list[int]) -> list[int]:
    out = []
    for i in range(1, max(len(x), len(y)) + 1):
        p = x[-i] if i <= len(x) else 1
        q = y[-i] if i <= len(y) else 1
        if p != q and 1 not in (p, q):
            raise ShapeError(f"batch dims {x} and {y} do not broadcast")
        out.append(max(p, q))
    return out[::-1]


def grouped_mm(op: OpCall, a: int, b: int, bias: int | None = None) -> Cost | NoModel:
    """a [T, K] x b [G, K, N] (rows split into G groups: each row meets one group) or 3-D x 3-D."""
    sa, sb = op.shape(a), op.shape(b)
    dtype = _compute_dtype(op, a, b)
    size = itemsize(op.type_of(a))
    if len(sa) == 2 and len(sb) == 3 and sa[1] == sb[1]:
        t, k, n = sa[0], sa[1], sb[2]
        return Cost(2 * t * k * n, op.nbytes(a) + op.nbytes(b) + _bias_bytes(op, bias) + t * n * size, dtype,
                    "grouped_mm")
    if len(sa) == 3 and len(sb) == 3 and sa[0] == sb[0] and sa[2] == sb[1]:
        g, m, k, n = sa[0], sa[1], sa[2], sb[2]
        return Cost(2 * g * m * n * k, op.nbytes(a) + op.nbytes(b) + _bias_bytes(op, bias) + g * m * n * size,
                    dtype, "grouped_mm")
    return NoModel(f"{op.name}: shapes {sa} x {sb} (only 2-D x 3-D and 3-D x 3-D are modelled)")


def fused_moe(op: OpCall, hidden: int, w1: int, w2: int, topk_weights: int, topk_ids: int) -> Cost | NoModel:
    """Unquantized fused experts: each of the T·topk (token, expert) pairs runs both expert GEMMs.

    Weight bytes count min(E, T·topk) of the E experts — an upper bound on the experts the routing
    touched (the ids themselves are not recorded); exact once every expert receives a token.
    """
    sh, s1, s2, sid = op.shape(hidden), op.shape(w1), op.shape(w2), op.shape(topk_ids)
    if op.type_of(w1) != op.type_of(hidden) or op.type_of(w2) != op.type_of(hidden):
        return NoModel(f"{op.name}: quantized expert weights ({op.type_of(w1)} with {op.type_of(hidden)} "
                       "activations): the roof depends on flags the model does not read")
    if len(sh) != 2 or len(s1) != 3 or len(s2) != 3 or len(sid) != 2 or sid[0] != sh[0] \
            or s1[2] != sh[1] or s2[1] != sh[1] or s1[0] != s2[0]:
        return NoModel(f"{op.name}: shapes hidden {sh}, w1 {s1}, w2 {s2}, topk_ids {sid} do not fit fused experts")
    t, k = sh
    e, n1, i, topk = s1[0], s1[1], s2[2], sid[1]
    pairs = t * topk
    flops = 2 * pairs * n1 * k + 2 * pairs * k * i
    touched = min(e, pairs)
    weights = (op.nbytes(w1) + op.nbytes(w2)) * touched // e
    out = t * k * itemsize(op.type_of(hidden))
    io = op.nbytes(hidden) + op.nbytes(topk_weights) + op.nbytes(topk_ids) + out
    note = f"weight bytes count {touched} of {e} experts (min(E, tokens x topk): an upper bound; ids not recorded)"
    return Cost(flops, io + weights, op.dtype(hidden), "fused_moe", note)
