"""MoE ops that record only tokens and router logits: expert sizes from the published architecture.

vLLM's ``vllm::moe_forward(hidden_states [T, H'], router_logits [T, E], layer_name)`` records no
expert weights. With the model's architecture (`pipeline/catalog/models.toml`, matched by the
root's model name; for a file that names no model, the one entry whose source file
``models/<code>.py`` is on the trace's Python stacks and whose sizes fit the op) each of the
T·top_k (token, expert) pairs runs the expert's up (and gate) and down GEMMs:
FLOPs = 2·T·top_k·(weights per expert). The experts are sharded over the trace's
group of n ranks, by intermediate size (TP) or by expert (EP): either way one rank's mean share
is 1/n. Checks: E of the logits equals the architecture's; H' is H or H padded to a multiple of
128 / 256 (vLLM's MXFP4 backends pad the hidden size). The roof is the activations' dtype (the
wider operand: quantized weights do not raise it); a kernel that also quantizes the activations
(an fp8 ``MxE4m3`` GEMM) has a higher roof than the one used.
"""

from __future__ import annotations

import math

from pipeline.roofline.architectures import Architecture
from pipeline.roofline.context import TraceContext
from pipeline.roofline.dtypes import itemsize
from pipeline.roofline.shapes import Cost, NoModel, OpCall


def _round_up(x: int, m: int) -> int:
    return -(-x // m) * m


def _fits(arch: Architecture, experts: int, hidden: int) -> str | None:
    """Why the op's shapes are not this architecture's (None: they fit)."""
    h = arch.hidden_size
    if experts != arch.num_experts:
        return (f"router logits give {experts} experts, {arch.name} has {arch.num_experts} ({arch.source}): "
                "not this model")
    if hidden not in (h, _round_up(h, 128), _round_up(h, 256)):
        return f"hidden size {hidden} is neither {arch.name}'s {h} nor it padded to 128 / 256"
    return None


def _by_code(op: OpCall, ctx: TraceContext, experts: int, hidden: int) -> tuple[Architecture | None, str | None]:
    """The one architecture whose source file is on the stacks and whose sizes fit (a lone file)."""
    fit = [a for a in ctx.by_code if _fits(a, experts, hidden) is None]
    if len(fit) == 1:
        return fit[0], f"model identified from its code (models/{fit[0].code}.py on the stacks) and the op's shapes"
    if fit:
        return None, f"{op.name}: several catalog models fit the stacks and shapes ({', '.join(a.name for a in fit)})"
    return None, None


def moe_from_architecture(op: OpCall, ctx: TraceContext, hidden: int, logits: int) -> Cost | NoModel:
    """Cost of one MoE op instance on one rank (module docstring)."""
    arch, how = ctx.arch, None
    if arch is None and ctx.by_code:
        sh, sl = op.shape(hidden), op.shape(logits)
        if len(sh) == 2 and len(sl) == 2:
            arch, how = _by_code(op, ctx, sl[1], sh[1])
            if arch is None and how:
                return NoModel(how)
    if arch is None:
        if ctx.arch_note:
            return NoModel(ctx.arch_note)
        if not ctx.model:
            return NoModel(f"{op.name} records no expert weights and the trace's model is unknown (a root directory, "
                           "manifest or server args name it)")
        return NoModel(f"{op.name} records no expert weights and the model {ctx.model!r} is not in "
                       "pipeline/catalog/models.toml (add it, or set PROFTRIAGE_MODELS)")
    if ctx.group_size is None:
        return NoModel(f"{op.name}: {ctx.group_note}")
    sh, sl = op.shape(hidden), op.shape(logits)
    if len(sh) != 2 or len(sl) != 2 or sh[0] != sl[0]:
        return NoModel(f"{op.name}: shapes hidden {sh}, router logits {sl} do not fit [T, H], [T, E]")
    t, h_rec = sh
    h = arch.hidden_size
    why = _fits(arch, sl[1], h_rec)
    if why:
        return NoModel(f"{op.name}: {why}")
    n = ctx.group_size
    pairs = t * arch.top_k
    flops = 2 * pairs * arch.weights_per_expert // n
    touched = min(arch.num_experts, pairs)
    weights = math.ceil(touched * arch.weights_per_expert * arch.weight_bits / 8 / n)
    act = itemsize(op.type_of(hidden))
    io = 2 * t * h_rec * act + op.nbytes(logits)  # tokens in and out, router logits
    note = (f"expert sizes from {arch.name}'s published config (E {arch.num_experts}, top-{arch.top_k}, "
            f"H {h}, I {arch.moe_intermediate_size}), sharded over {n} rank(s): the mean per rank; weight bytes "
            f"count {touched} of {arch.num_experts} experts at {arch.weight_bits:g} bits (an upper bound)"
            + (f"; {how}" if how else ""))
    return Cost(flops, io + weights, op.dtype(hidden), "moe_architecture", note)
