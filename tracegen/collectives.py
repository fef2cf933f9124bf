"""Multi-rank runs whose collectives have a known transfer time and a known late rank.

``make_collective_run`` writes one trace per rank of a tensor-parallel run (SGLang or vLLM
naming) in lockstep: every decoder layer all-reduces after ``o_proj`` and after ``down_proj``
and every step all-gathers the logits. Before each collective instance one rank's CPU is held
up (an ``aten::item`` of ``delay_ns[stage]`` inside the layer's ``RowParallelLinear.forward`` frame, or
the logits processor's for the all-gather), so that rank launches its collective late; every
rank's collective kernel then ends at ``latest start + transfer``. The ground truth of every
instance (each rank's start and duration, the transfer time, the late rank, the message size)
comes back with the files.

NCCL collectives (``kind="nccl"``) go through ``torch.distributed`` and carry the collective
metadata Kineto copies from ``record_param_comms`` onto the kernel (``Collective name``,
``In msg nelems``, ``Process Group Name`` …, as in the vLLM B200 sample); the custom all-reduce
(``kind="custom"``: ``sglang::`` / ``vllm::cross_device_reduce_1stage``) carries none, like the
real kernels. Clocks: every rank reads its ``ts`` against its own ``baseTimeNanoseconds``
(``BASE_NS + rank × base_step_ns``, default one shared base as real Kineto writes it), and
``clock_offset_ns[rank]`` shifts all of one rank's events (a host whose clock is off).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.frames import choose_site
from tracegen import (
    ALL_OPS, BASE_NS, SGLANG_PROFILE_ID, ModelSpec, OpDef, _Ctx, _eager_op, _finish, _gpu_annotation, _layer_ops,
    _mod, _model_frames, _model_head, _op_path, _ops_for, _step_name, _truth_of, _Writer, sglang_rank_file,
)

NCCL_ALLREDUCE = "ncclDevKernel_AllReduce_Sum_bf16_RING_LL(ncclDevKernelArgsStorage<4096ul>)"
NCCL_ALLGATHER = "ncclDevKernel_AllGather_RING_LL(ncclDevKernelArgsStorage<4096ul>)"  # as in the vLLM B200 sample
CUSTOM_ALLREDUCE = {
    "sglang": "void sglang::cross_device_reduce_1stage<__nv_bfloat16, 8>(sglang::RankData*, sglang::RankSignals, "
              "sglang::Signal*, __nv_bfloat16*, int, int)",
    "vllm": "void vllm::cross_device_reduce_1stage<__nv_bfloat16, 8>(vllm::RankData*, vllm::RankSignals, "
            "vllm::Signal*, __nv_bfloat16*, int, int)",
}
DELAY_OP = "aten::item"
HIDDEN = 4096
TOKENS = {"prefill": 4096, "decode": 16}  # tokens per step (the step names say the same)
VOCAB_SHARD = 32000
PG_NAME = "3"
_C10D = ("torch/distributed/c10d_logger.py(81): wrapper",)


@dataclass(frozen=True)
class InstanceTruth:
    """One collective instance as the generator ran it (times on the common true clock, ns)."""

    kernel: str  # raw kernel name
    collective: str | None  # ``Collective name`` metadata (None for the custom all-reduce)
    stage: str
    step: int  # step index in every rank's file
    starts: dict[int, int]  # rank → kernel start, true clock
    durs: dict[int, int]  # rank → kernel duration
    transfer_ns: int
    delayed_rank: int
    late_rank: int  # the rank that started last (ties: the lowest)
    bytes: int | None  # nccl-tests size S = max(in, out) nelems × 2 (bf16); None without metadata
    site: str  # where the collective is called (innermost code frame)
    delay_site: str  # where the delayed rank's CPU spent the delay

    def wait(self, rank: int) -> int:
        return self.durs[rank] - self.transfer_ns


@dataclass
class CollectiveRun:
    """Per-rank files (name → Kineto object) and the ground truth of every collective instance."""

    framework: str
    files: dict[str, dict]
    rank_files: dict[int, str]  # rank → file name
    instances: list[InstanceTruth] = field(default_factory=list)
    bases: dict[int, int] = field(default_factory=dict)  # rank → baseTimeNanoseconds
    offsets: dict[int, int] = field(default_factory=dict)  # rank → clock offset added to every event


def _comm_frames(fw: str, what: str, nccl: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(Python frames inside the caller, CPU ops outermost → innermost) of one collective call."""
    if fw == "sglang":
        sg = "/sgl-workspace/sglang/python/sglang/srt"
        if what == "allgather":
            return ((f"{sg}/distributed/communication_op.py(20): tensor_model_parallel_all_gather",
                     f"{sg}/distributed/parallel_state.py(556): all_gather", *_C10D,
                     "torch/distributed/distributed_c10d.py(3953): all_gather_into_tensor"),
                    ("c10d::_allgather_base_", "record_param_comms"))
        frames = (f"{sg}/distributed/communication_op.py(13): tensor_model_parallel_all_reduce",
                  f"{sg}/distributed/parallel_state.py(491): all_reduce")
        if nccl:
            return frames + (*_C10D, "torch/distributed/distributed_c10d.py(2806): all_reduce"), \
                ("c10d::allreduce_", "record_param_comms")
        return frames + (f"{sg}/distributed/device_communicators/custom_all_reduce.py(391): custom_all_reduce",), \
            ("sgl_kernel::all_reduce",)
    if what == "allgather":
        return (("vllm/distributed/communication_op.py(17): tensor_model_parallel_all_gather",
                 "vllm/distributed/parallel_state.py(509): all_gather", *_C10D,
                 "torch/distributed/distributed_c10d.py(3953): all_gather_into_tensor"),
                ("vllm::all_gather", "c10d::_allgather_base_", "record_param_comms"))
    frames = ("vllm/distributed/communication_op.py(13): tensor_model_parallel_all_reduce",
              "vllm/distributed/parallel_state.py(498): all_reduce")
    if nccl:
        return frames + (*_C10D, "torch/distributed/distributed_c10d.py(2806): all_reduce"), \
            ("vllm::all_reduce", "c10d::allreduce_", "record_param_comms")
    return frames + ("vllm/distributed/device_communicators/custom_all_reduce.py(264): custom_all_reduce",), \
        ("vllm::all_reduce", "_C_custom_ar::all_reduce")


def _caller_frame(fw: str, what: str) -> tuple[str, str]:
    """(module class, frame) that calls the collective: RowParallelLinear.forward or the logits processor."""
    if what == "allgather":
        return ("LogitsProcessor", "/sgl-workspace/sglang/python/sglang/srt/layers/logits_processor.py(512): _get_logits"
                if fw == "sglang" else "vllm/model_executor/layers/logits_processor.py(71): _gather_logits")
    return ("RowParallelLinear", "/sgl-workspace/sglang/python/sglang/srt/layers/linear.py(1514): forward"
            if fw == "sglang" else "vllm/model_executor/layers/linear.py(1402): forward")


def _meta(what: str, stage: str, tp: int) -> dict:
    """The collective keys Kineto copies onto an NCCL kernel (names and value types as observed)."""
    if what == "allgather":
        name, n_in = "_allgather_base", TOKENS[stage] // 8 * VOCAB_SHARD
        n_out = n_in * tp
    else:
        name, n_in = "allreduce", TOKENS[stage] * HIDDEN
        n_out = n_in
    return {"Collective name": name, "In msg nelems": n_in, "Out msg nelems": n_out, "Group size": tp,
            "dtype": "BFloat16", "In split size": "[]", "Out split size": "[]", "Process Group Name": PG_NAME,
            "Process Group Description": "undefined", "Process Group Ranks": str(list(range(tp)))}


@dataclass
class _Lockstep:
    """The writers of every rank and what the run has produced so far."""

    fw: str
    tp: int
    ws: list[_Writer]
    ctxs: list[_Ctx]
    kind: str
    late_ranks: tuple[int, ...]
    delay_ns: dict[str, int]
    transfer_ns: dict[str, int]
    metadata: bool
    instances: list[InstanceTruth] = field(default_factory=list)
    n: int = 100_000  # op instance counter for unique frame keys


def _path(ls: _Lockstep, r: int, layer: int, what: str, op: OpDef, head: list) -> list[tuple[tuple, str]]:
    """The Python path of the collective call on rank ``r`` (the logits gather sits outside the layers)."""
    if what == "allreduce":
        return _op_path(ls.ctxs[r], layer, op, ls.n, head)
    return head + [(("op", ls.n, "m", i), x) for i, x in enumerate(_mod(op.module, 0))] + \
        [(("op", ls.n, i), x) for i, x in enumerate(op.frames)]


def _collective(ls: _Lockstep, step: int, layer: int, what: str, head: list[list], block: str = "mlp") -> None:
    """One collective instance, emitted on every rank: the delayed rank first holds its CPU."""
    stage = ls.ctxs[0].stage
    nccl = what == "allgather" or ls.kind == "nccl"
    frames, cpu_ops = _comm_frames(ls.fw, what, nccl)
    module, caller = _caller_frame(ls.fw, what)
    kernel = NCCL_ALLGATHER if what == "allgather" else NCCL_ALLREDUCE if nccl else CUSTOM_ALLREDUCE[ls.fw]
    op = OpDef("collective", block, module, (caller, *frames), cpu_ops, ())
    ls.n += 1
    delayed = ls.late_ranks[len(ls.instances) % len(ls.late_ranks)]
    meta = _meta(what, stage, ls.tp) if nccl and ls.metadata else None
    launched = []
    paths = []
    for r, (w, ctx) in enumerate(zip(ls.ws, ls.ctxs)):
        path = _path(ls, r, layer, what, op, head[r])
        paths.append(path)
        if r == delayed:  # the host stall: inside the caller's frame, before the collective's own frames
            w.goto(path[: len(path) - len(frames)])
            item = w.cpu_op(DELAY_OP)
            inner = w.cpu_op("aten::_local_scalar_dense")
            w.cpu += ls.delay_ns[stage]
            w.close(inner)
            w.close(item)
        w.goto(path)
        opened = [w.cpu_op(c) for c in cpu_ops]
        if meta:
            opened[-1]["args"].update({**meta, "Rank": r})
        ext = opened[-1]["args"]["External id"]
        rt, corr = w.launch(kernel, ext)
        stream = w.streams[0]
        start = max(w.gpu_free[stream], rt["ts"] + 4_000)
        launched.append((opened, ext, corr, start, stream))
    end = max(x[3] for x in launched) + ls.transfer_ns[stage]
    starts, durs = {}, {}
    for r, (w, (opened, ext, corr, start, stream)) in enumerate(zip(ls.ws, launched)):
        truth = _truth_of(paths[r], cpu_ops[-1], "collective", layer)
        at = len(w.ev)
        w.kernel(kernel, end - start, corr, ext, start, stream, truth)
        if meta:
            w.ev[at]["args"].update(meta)
        for e in reversed(opened):
            w.close(e)
        starts[r], durs[r] = start, end - start
    last = max(starts.values())
    raw = [x for _, x in paths[delayed]]
    ls.instances.append(InstanceTruth(
        kernel=kernel, collective=meta["Collective name"] if meta else None, stage=stage, step=step,
        starts=starts, durs=durs, transfer_ns=ls.transfer_ns[stage], delayed_rank=delayed,
        late_rank=min(r for r, s in starts.items() if s == last),
        bytes=max(meta["In msg nelems"], meta["Out msg nelems"]) * 2 if meta else None,
        site=choose_site(raw) or "", delay_site=choose_site(raw[: len(raw) - len(frames)]) or ""))


def _step(ls: _Lockstep, step: int, stage: str) -> None:
    anns, firsts, heads = [], [], []
    for w, ctx in zip(ls.ws, ls.ctxs):
        ctx.stage = stage
        w.goto([(("step", step, i), x) for i, x in enumerate(ctx.frames["step"][:2])])
        anns.append(w.annotation(_step_name(ls.fw, stage, step)))
        firsts.append(len(w.ev))
        heads.append(_model_head(ctx, step))
    n = 0
    for layer, op in _layer_ops(ls.ctxs[0]):
        for r, (w, ctx) in enumerate(zip(ls.ws, ls.ctxs)):
            _eager_op(ctx, w, step, layer, ctx.ops[op.key], n, heads[r])
        n += 1
        if op.key in ("o_proj", "down_proj"):
            _collective(ls, step, layer, "allreduce", heads, "attn" if op.key == "o_proj" else "mlp")
    _collective(ls, step, 0, "allgather", heads)
    for w, ann, n0 in zip(ls.ws, anns, firsts):
        w.goto([])
        w.cpu = max(w.cpu, max(w.gpu_free.values())) + 5_000  # the step synchronises
        w.close(ann)
        _gpu_annotation(w, ann, n0)


def _rank_file(fw: str, rank: int) -> str:
    if fw == "sglang":
        return sglang_rank_file(SGLANG_PROFILE_ID, rank)
    return f"dp0_pp0_tp{rank}_dcp0_ep0_rank{rank}.{1787888424265644846 + rank}.pt.trace.json.gz"


def make_collective_run(framework: str = "sglang", tp: int = 4, *, layers: int = 2, prefill_steps: int = 1,
                        decode_steps: int = 2, late_ranks: tuple[int, ...] = (1,), delay_ns: dict[str, int] | None = None,
                        transfer_ns: dict[str, int] | None = None, kind: str = "nccl", metadata: bool = True,
                        base_step_ns: int = 0, clock_offset_ns: dict[int, int] | None = None,
                        seed: int = 0) -> CollectiveRun:
    """Per-rank traces of one TP run with skewed collectives and their ground truth (module docstring)."""
    if framework not in ("sglang", "vllm") or kind not in ("nccl", "custom"):
        raise ValueError(f"framework sglang|vllm and kind nccl|custom, got {framework!r}/{kind!r}")
    transfer = transfer_ns or {"prefill": 40_000, "decode": 9_000}
    ws, ctxs = [], []
    for r in range(tp):
        spec = ModelSpec(layers=layers, framework=framework, ops=ALL_OPS, rank=r)
        ws.append(_Writer(spec, seed + r, 1))
        ctxs.append(_Ctx(spec, "prefill", 0, _ops_for(spec), _model_frames(framework)))
    delay = delay_ns or {"prefill": 1_500_000, "decode": 150_000}
    ls = _Lockstep(framework, tp, ws, ctxs, kind, tuple(late_ranks), delay, transfer, metadata)
    for step in range(prefill_steps + decode_steps):
        _step(ls, step, "prefill" if step < prefill_steps else "decode")
    offsets = {r: (clock_offset_ns or {}).get(r, 0) for r in range(tp)}
    run = CollectiveRun(framework, {}, {}, ls.instances, {r: BASE_NS + r * base_step_ns for r in range(tp)}, offsets)
    for r, (w, ctx) in enumerate(zip(ws, ctxs)):
        shift = offsets[r] - r * base_step_ns  # ts are written relative to the rank's own base
        for e in w.ev:
            e["ts"] += shift
        obj = _finish(w, ctx.spec)
        head = {k: obj.pop(k) for k in ("schemaVersion", "deviceProperties")}
        head["distributedInfo"] = {"backend": "nccl", "rank": r, "world_size": tp}
        obj = head | obj
        obj["baseTimeNanoseconds"] = run.bases[r]
        name = _rank_file(framework, r)
        run.files[name], run.rank_files[r] = obj, name
    return run

