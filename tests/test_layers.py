"""Layers and slots on generated traces whose layers, slots and groups are known (tracegen ground truth)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from pipeline.attribute import attribute_files, ok_file_ids
from pipeline.ingest import ingest_inputs
from pipeline.layers import assign_layers
from pipeline.layers.table import layer_table
from pipeline.store import Warehouse
from tracegen import GroundTruth, ModelSpec, file_name, make_trace_with_truth, write_trace

# (framework, mode, ModelSpec extras): dense and MoE (dense first layers), with and without the model shell
CASES = {
    "sglang-graph-moe-dense-first": ("sglang", "graph", {"moe": True, "dense_layers": 1, "shell": True}),
    "vllm-piecewise-shell": ("vllm", "piecewise", {"shell": True}),
    "vllm-graph-moe-two-dense": ("vllm", "graph", {"moe": True, "dense_layers": 2, "shell": True}),
    "sglang-eager-shell": ("sglang", "eager", {"shell": True}),
    "trtllm-eager": ("trtllm", "eager", {}),
    "vllm-eager-moe": ("vllm", "eager", {"moe": True, "dense_layers": 1, "shell": True}),
}
LAYERS, STEPS = 6, 3
# group and projection of each generated op's kernels, from the model definitions in tracegen
EXPECTED_GROUP = {
    ("input_layernorm", 0): ("norm", None), ("qkv_proj", 0): ("qkv_o_gemm", "qkv"), ("qkv_proj", 1): ("qkv_o_gemm", "qkv"),
    ("rope", 0): ("qk_norm_rope", "rope"), ("attention", 0): ("attention", None), ("attention", 1): ("attention", None),
    ("attention", 2): ("attention", None), ("o_proj", 0): ("qkv_o_gemm", "o"), ("post_attention_layernorm", 0): ("norm", None),
    ("gate_up_proj", 0): ("mlp_gemm", "gate_up"), ("act", 0): ("activation", "mlp"), ("down_proj", 0): ("mlp_gemm", "down"),
    ("router", 0): ("router_topk", "router"), ("topk", 0): ("router_topk", None), ("topk", 1): ("router_topk", None),
    ("experts", 0): ("expert_gemm", None), ("experts", 1): ("activation", "expert"), ("experts", 2): ("expert_gemm", None),
    ("experts", 3): ("moe_finalize", None),
}


def _records(tmp_path: Path, spool: Path, fw: str, mode: str, extra: dict, *, strip_modules: bool = False,
             steps: int = STEPS) -> tuple[list[dict], GroundTruth]:
    obj, truth = make_trace_with_truth(ModelSpec(layers=LAYERS, framework=fw, **extra), steps=steps, mode=mode,
                                       stage="decode")
    if strip_modules:  # a capture without with_modules: the module frames are plain _call_impl frames
        for e in obj["traceEvents"]:
            if e.get("cat") == "python_function" and e["name"].startswith("nn.Module: "):
                e["name"] = "torch/nn/modules/module.py(1784): _call_impl"
    write_trace(obj, tmp_path / "root" / file_name(fw, stage="decode"))
    wh = Warehouse(None)
    [summary] = ingest_inputs([tmp_path / "root"], wh, spool)
    with wh.connect() as conn:
        return attribute_files(conn, ok_file_ids(conn, summary.root)), truth


def _truth_layer(truth: GroundTruth, r: dict) -> int | None:
    t = truth.get(r)
    return None if t is None or t.layer < 0 else t.layer


@pytest.mark.parametrize("case", sorted(CASES))
def test_layers_match_the_ground_truth(case: str, tmp_path: Path, spool: Path) -> None:
    fw, mode, extra = CASES[case]
    records, truth = _records(tmp_path, spool, fw, mode, extra)
    info = assign_layers(records)
    [stage] = info.values()
    assert stage["count"] == LAYERS and stage["forward_passes"] == STEPS and stage["excluded_passes"] == 0
    assert stage["source"] == ("module" if mode == "eager" else "periodicity")
    assert [r["layer"] for r in records] == [_truth_layer(truth, r) for r in records]


@pytest.mark.parametrize("case", sorted(CASES))
def test_slots_are_the_ops_kernels_one_to_one(case: str, tmp_path: Path, spool: Path) -> None:
    """A slot holds one kernel of one op of the model, and each such kernel has one slot."""
    fw, mode, extra = CASES[case]
    records, truth = _records(tmp_path, spool, fw, mode, extra)
    assign_layers(records)
    ops_of, slots_of = defaultdict(set), defaultdict(set)
    for r in records:
        if r["slot"] is not None:
            t = truth.get(r)
            ops_of[r["slot"]].add((t.op, t.kernel))
            slots_of[(t.op, t.kernel)].add(r["slot"])
    assert ops_of and all(len(v) == 1 for v in ops_of.values()) and all(len(v) == 1 for v in slots_of.values())
    if fw != "trtllm":
        for r in records:
            if r["slot"] is not None:
                t = truth.get(r)
                assert (r["layer_group"], r["slot_role"]) == EXPECTED_GROUP[(t.op, t.kernel)], (t.op, t.kernel)


def test_module_frames_missing_means_stack_evidence(tmp_path: Path, spool: Path) -> None:
    records, truth = _records(tmp_path, spool, "vllm", "eager", {"shell": True}, strip_modules=True)
    [stage] = assign_layers(records).values()
    assert stage["source"] == "stack" and stage["count"] == LAYERS
    assert [r["layer"] for r in records] == [_truth_layer(truth, r) for r in records]


def test_table_reconciles_with_the_ground_truth(tmp_path: Path, spool: Path) -> None:
    """per_layer_ns and outside_ns from the generator's own layer of every kernel; the rule holds to the ns."""
    records, truth = _records(tmp_path, spool, "sglang", "graph", CASES["sglang-graph-moe-dense-first"][2])
    info = assign_layers(records)
    stage = [r for r in records if r["stage"] == "decode"]
    table = layer_table(stage, info["decode"])
    inside = sum(r["dur_ns"] for r in stage if _truth_layer(truth, r) is not None)
    total = sum(r["dur_ns"] for r in stage)
    per = LAYERS * STEPS
    assert (table["in_layers_ns"], table["per_layer_ns"], table["remainder_ns"]) == (inside, inside // per, inside % per)
    assert table["outside_ns"] == total - inside
    assert per * table["per_layer_ns"] + table["remainder_ns"] + table["outside_ns"] == total
    outside_ops = {truth.get(r).op for r in stage if _truth_layer(truth, r) is None}
    assert outside_ops == {"embed", "final_norm", "lm_head", "sample"}


def test_dense_first_layer_of_an_moe_model(tmp_path: Path, spool: Path) -> None:
    """The dense MLP of layer 0 has slots of its own, present in one layer of each pass; the table says
    which layer differs and how."""
    records, truth = _records(tmp_path, spool, "vllm", "graph", CASES["sglang-graph-moe-dense-first"][2])
    info = assign_layers(records)
    table = layer_table([r for r in records if r["stage"] == "decode"], info["decode"])
    by_role = {s["role"]: s for s in table["slots"] if s["role"]}
    assert by_role["gate_up"]["layers"] == by_role["down"]["layers"] == STEPS  # layer 0 of each pass
    assert by_role["router"]["layers"] == (LAYERS - 1) * STEPS
    [variant] = table["variants"]
    assert variant["layers"] == [0]
    dense = {s["slot"] for s in table["slots"] if s["group"] == "mlp_gemm" or s["role"] == "mlp"}
    moe = {s["slot"] for s in table["slots"] if s["group"] in ("router_topk", "expert_gemm", "moe_finalize")
           or s["role"] == "expert"}
    assert set(variant["extra_slots"]) == dense and set(variant["missing_slots"]) == moe


def test_piecewise_layers_hold_the_eager_attention(tmp_path: Path, spool: Path) -> None:
    records, truth = _records(tmp_path, spool, "vllm", "piecewise", {"shell": True})
    assign_layers(records)
    eager = [r for r in records if not r["is_graph"] and truth.get(r) and truth.get(r).op == "attention"]
    assert len(eager) == LAYERS * STEPS * 3
    assert all(r["layer"] == truth.get(r).layer and r["layer_group"] == "attention" for r in eager)


def test_a_pass_with_another_layer_count_stays_outside(tmp_path: Path, spool: Path) -> None:
    records, truth = _records(tmp_path, spool, "sglang", "graph", {"shell": True}, steps=4)
    cut = [r for r in records if not (r["step"] == 2 and truth.get(r) and truth.get(r).layer == LAYERS - 1)]
    [stage] = assign_layers(cut).values()
    assert stage["count"] == LAYERS and stage["forward_passes"] == 3 and stage["excluded_passes"] == 1
    assert all(r["layer"] is None for r in cut if r["step"] == 2)


def test_combine_of_rank_tables_equals_the_pooled_table(tmp_path: Path, spool: Path) -> None:
    from tracegen import make_sglang_run
    from pipeline.layers.table import combine

    for name, obj in make_sglang_run(tp=2, steps=2, prefill_steps=0, layers=4).items():
        write_trace(obj, tmp_path / "run" / name)
    wh = Warehouse(None)
    [summary] = ingest_inputs([tmp_path / "run"], wh, spool)
    with wh.connect() as conn:
        records = attribute_files(conn, ok_file_ids(conn, summary.root))
    info = assign_layers(records)
    stage = [r for r in records if r["stage"] == "decode"]
    pooled = layer_table(stage, info["decode"])
    parts = {f: layer_table([r for r in stage if r["file_id"] == f]) for f in {r["file_id"] for r in stage}}
    merged = combine(parts)
    keys = ("count", "forward_passes", "kernel_time_ns", "in_layers_ns", "per_layer_ns", "remainder_ns", "outside_ns")
    assert len(parts) == 2 and pooled["forward_passes"] == 4
    assert {k: merged[k] for k in keys} == {k: pooled[k] for k in keys}
    assert [(s["slot"], s["time_ns"]) for s in merged["slots"]] == [(s["slot"], s["time_ns"]) for s in pooled["slots"]]
