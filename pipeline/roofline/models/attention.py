"""Attention cost model: QKᵀ and PV, 2·pairs·(Dqk + Dv) FLOPs per (batch, query head).

Layouts: ``bshd`` ([B, S, H, D], or varlen [T, H, D] with cu_seqlens), ``bhsd`` ([B, H, S, D]),
``thd_paged`` (varlen q [T, H, D] against a paged KV cache whose tensors are the whole cache).
Varlen calls record only the lengths' maxima, so they are modelled only when the totals prove
every sequence has the same length (T = B·max). Causal pairs are counted exactly: S(S+1)/2 for
Sq = Sk; for Sq ≠ Sk only for ops whose convention is documented bottom-right (flash-attn /
aiter varlen). Bytes: q + k + v (the KV tokens attended, once per KV head) + output. A sliding
window or an explicit mask has no model.
"""

from __future__ import annotations

from pipeline.roofline.dtypes import widest
from pipeline.roofline.shapes import Cost, NoModel, OpCall


def causal_pairs(sq: int, sk: int) -> int:
    """(query, key) pairs under a bottom-right aligned causal mask: row i sees Sk - Sq + i + 1 keys
    (none when that is ≤ 0; never more than Sk since i < Sq)."""
    d = sk - sq
    first = max(0, -d)  # rows before this one see no key
    n = sq - first
    return n * (d + 1) + (first + sq - 1) * n // 2


def _pairs(sq: int, sk: int, causal: bool, bottom_right: bool) -> int | NoModel:
    if not causal:
        return sq * sk
    if sq == sk:
        return sq * (sq + 1) // 2
    if not bottom_right:
        return NoModel(f"causal with Sq={sq} != Sk={sk}: the op does not state the mask alignment")
    return causal_pairs(sq, sk)


def _causal(op: OpCall, args: dict) -> bool | NoModel:
    if "causal_mask_type" in args:
        kind = op.int_value(args["causal_mask_type"])
        return NoModel(f"{op.name}: custom_mask_type {kind} not modelled") if kind not in (0, 1) else kind == 1
    value = op.bool_value(args["causal"]) if "causal" in args else False
    return bool(value)


def _unmodelled_options(op: OpCall, args: dict) -> str | None:
    for key in ("window_left", "window_right"):
        if key in args:
            w = op.int_value(args[key])
            if w is not None and w >= 0:
                return f"{op.name}: sliding window ({key} = {w}) not modelled"
    if "mask" in args and op.is_tensor(args["mask"]):
        return f"{op.name}: explicit attention mask not modelled"
    return None


def _geometry(op: OpCall, args: dict) -> tuple[int, int, int, int, int, int, int, int] | NoModel:
    """(batch, Sq, Sk, Hq, Hkv, Dqk, Dv, kv tokens read) for the layout, or why not."""
    q, k, v = op.shape(args["q"]), op.shape(args["k"]), op.shape(args["v"])
    layout = args["layout"]
    if layout == "bhsd" and len(q) == 4 == len(k) == len(v):
        return q[0], q[2], k[2], q[1], k[1], q[3], v[3], q[0] * k[2]
    if layout == "bshd" and len(q) == 4 == len(k) == len(v):
        return q[0], q[1], k[1], q[2], k[2], q[3], v[3], q[0] * k[1]
    if layout in ("bshd", "thd_paged") and len(q) == 3 == len(k) == len(v):
        return _varlen(op, args, q, k, v)
    return NoModel(f"{op.name}: q {q}, k {k}, v {v} do not fit layout {layout}")


def _varlen(op: OpCall, args: dict, q: list[int], k: list[int], v: list[int]):
    if "cu_seqlens_q" not in args or not op.is_tensor(args["cu_seqlens_q"]):
        return NoModel(f"{op.name}: 3-D q without cu_seqlens")
    batch = op.numel(args["cu_seqlens_q"]) - 1
    max_q, max_k = op.int_value(args["max_q"]), op.int_value(args["max_k"])
    if batch <= 0 or max_q is None or max_k is None:
        return NoModel(f"{op.name}: varlen batch or maximum lengths not recorded")
    if q[0] != batch * max_q:
        return NoModel(f"{op.name}: varlen lengths not recorded ({q[0]} query tokens over {batch} sequences, "
                       f"max {max_q}: lengths differ)")
    if args["layout"] == "thd_paged":
        # the KV tensors are the cache: each sequence's KV length lies in [its query length, max_k];
        # with every query at max_q and max_k == max_q, every KV length is max_k.
        if max_k != max_q:
            return NoModel(f"{op.name}: paged KV lengths not recorded (max_k {max_k} != max_q {max_q})")
        return batch, max_q, max_k, q[1], k[1], q[2], v[2], batch * max_k
    if "cu_seqlens_k" in args and op.is_tensor(args["cu_seqlens_k"]) and k[0] != batch * max_k:
        return NoModel(f"{op.name}: varlen key lengths not recorded ({k[0]} keys over {batch} sequences, max {max_k})")
    return batch, max_q, max_k, q[1], k[1], q[2], v[2], batch * max_k


def attention(op: OpCall, **args) -> Cost | NoModel:
    """FLOPs and bytes of one attention forward call (see the module docstring)."""
    why = _unmodelled_options(op, args)
    if why:
        return NoModel(why)
    geo = _geometry(op, args)
    if isinstance(geo, NoModel):
        return geo
    batch, sq, sk, hq, hkv, dqk, dv, kv_tokens = geo
    causal = _causal(op, args)
    if isinstance(causal, NoModel):
        return causal
    pairs = _pairs(sq, sk, causal, bottom_right=args["layout"] == "thd_paged")
    if isinstance(pairs, NoModel):
        return NoModel(f"{op.name}: {pairs.reason}")
    size = op.nbytes(args["q"]) // max(1, op.numel(args["q"]))
    kv_size = op.nbytes(args["k"]) // max(1, op.numel(args["k"]))
    q_bytes = batch * sq * hq * dqk * size
    out_bytes = batch * sq * hq * dv * size
    kv_bytes = kv_tokens * hkv * (dqk + dv) * kv_size
    dtype = widest([op.dtype(args["q"]), op.dtype(args["k"])])
    if dtype is None:
        return NoModel(f"{op.name}: q/k dtypes {op.type_of(args['q'])}/{op.type_of(args['k'])} not floating")
    flops = 2 * batch * hq * pairs * (dqk + dv)
    return Cost(flops, q_bytes + kv_bytes + out_bytes, dtype, "attention",
                "causal: pairs counted exactly" if causal else None)

