"""Speed of light end to end: real traces reconcile with the raw file, graph replays take their
mapping op's shapes, roofs and expected gains follow the documented rules (docs/roofline.md)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from pipeline.analyze.roofline import add_expected_gains, combine, kernel_roof, roofline_stage
from pipeline.attribute import attribute_files, ok_file_ids
from pipeline.cli import main
from pipeline.ingest import ingest_inputs
from pipeline.report.read import TriageOptions
from pipeline.report.triage import triage_root
from pipeline.roofline.costs import assign_costs, split_by_duration
from pipeline.roofline.devices import match_device
from pipeline.store import Warehouse
from tests.conftest import TRACES, ingest_generated_pair, load_json_exact
from tracegen import ModelSpec, make_pair

EAGER = {  # the corpus's eager traces and the catalog entry their GPU must match
    "hf-h100": ("hf-transformers/qwen1.5-0.5b-chat-h100-bs16-forward", "h100-sxm"),
    "vllm-b200": ("vllm/gpt-oss-120b-b200-tp8-eager-prefill-rank0", "b200"),
    "sglang-mi300x": ("sglang/qwen3-8b-mi300x-extend-eager-bs15", "mi300x"),
    "hta-v100": ("other/hta-ns-resolution-v100-resnet-training", "v100-sxm2"),
}
OTHER = {"hta-2rank": "other/hta-2rank-sendrecv", "mi210-gpu-only": "other/gpu-only-mi210-no-cpu-events"}
# the innermost GEMM ops: name → positions of the two matrix operands (aten schemas)
GEMM_OPERANDS = {"aten::mm": (0, 1), "aten::addmm": (1, 2), "aten::bmm": (0, 1), "aten::baddbmm": (1, 2),
                 "aten::_scaled_mm": (0, 1)}
H100 = match_device({"name": "NVIDIA H100 80GB HBM3"})


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict, Warehouse, str]]:
    out = {}
    spool = tmp_path_factory.mktemp("spool")
    for key, rel in {**{k: v[0] for k, v in EAGER.items()}, **OTHER}.items():
        wh = Warehouse(None)
        [summary] = ingest_inputs([TRACES / rel], wh, spool)
        with wh.connect() as conn:
            out[key] = (triage_root(conn, summary.root, TriageOptions(cutoff_pct=0)), wh, summary.root)
    return out


def raw_gemm_flops(root: Path) -> tuple[int, int]:
    """Σ 2·M·N·K (× batch) over the GEMM ops that launched a GPU activity, read from the raw file."""
    events = load_json_exact(next(root.glob("*.json.gz")))["traceEvents"]
    launched = {e["args"]["External id"] for e in events
                if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset") and "External id" in e.get("args", {})}
    total = ops = 0
    for e in events:
        if e.get("cat") != "cpu_op" or e["name"] not in GEMM_OPERANDS or e["args"].get("External id") not in launched:
            continue
        ops += 1
        dims = e["args"].get("Input Dims")
        if dims:  # record_shapes off: no shapes, nothing to sum
            a, b = (dims[i] for i in GEMM_OPERANDS[e["name"]])
            total += 2 * math.prod(a[:-2]) * a[-2] * a[-1] * b[-1]
    return total, ops


@pytest.mark.parametrize("key", sorted(EAGER))
def test_eager_trace_device_matched_and_gemm_flops_equal_the_raw_sum(key: str, reports) -> None:
    report, _, _ = reports[key]
    rel, device = EAGER[key]
    assert report["device"]["matched"] and report["device"]["key"] == device
    expected, ops = raw_gemm_flops(TRACES / rel)
    assert ops > 0
    assert sum(s["roofline"]["gemm_flops"] for s in report["stages"]) == expected


def _shares(report: dict) -> tuple[float, dict[str, float]]:
    time = sum(s["kernel_time_ns"] for s in report["stages"])
    modelled = sum(s["roofline"]["modelled_ns"] for s in report["stages"]) / time
    reasons: dict[str, float] = {}
    for s in report["stages"]:
        for u in s["roofline"]["unmodelled"]:
            reasons[u["reason"]] = reasons.get(u["reason"], 0.0) + u["time_ns"] / time
    return modelled, reasons


@pytest.mark.parametrize("key", ["hf-h100", "sglang-mi300x", "vllm-b200"])
def test_modelled_share_reaches_80_percent_where_the_ops_carry_their_shapes(key: str, reports) -> None:
    modelled, _ = _shares(reports[key][0])
    assert modelled >= 0.8


def test_unmodelled_time_of_the_b200_and_v100_traces_is_named(reports) -> None:
    """B200: what is left is the varlen attention (no per-sequence lengths recorded) and host copies.
    V100: recorded without shapes."""
    modelled, reasons = _shares(reports["vllm-b200"][0])
    assert max(reasons, key=reasons.get) == "no cost model for vllm::unified_attention_with_output"
    assert modelled + sum(reasons.values()) == pytest.approx(1.0)
    modelled, reasons = _shares(reports["hta-v100"][0])
    assert modelled == 0 and all("not recorded" in r or "no CPU op" in r for r in reasons)


def _raw_ops(rel: str, name: str) -> list[dict]:
    events = load_json_exact(next((TRACES / rel).glob("*.json.gz")))["traceEvents"]
    launched = {e["args"]["External id"] for e in events if e.get("cat") == "kernel" and "External id" in e["args"]}
    return [e for e in events if e.get("cat") == "cpu_op" and e["name"] == name
            and e["args"].get("External id") in launched]


def test_b200_moe_flops_follow_gpt_oss_120b_published_sizes(reports) -> None:
    """vllm::moe_forward: 2·T·top-4·3·H·I / 8 ranks per op (gpt-oss-120b: H = I = 2880, 128 experts),
    T from each op's hidden states in the raw file; the stage's FLOPs are those plus the GEMMs'."""
    report = reports["vllm-b200"][0]
    ops = _raw_ops(EAGER["vllm-b200"][0], "vllm::moe_forward")
    assert len(ops) == 36 and all(o["args"]["Input Dims"][1][1] == 128 for o in ops)
    moe = sum(2 * o["args"]["Input Dims"][0][0] * 4 * 3 * 2880 * 2880 // 8 for o in ops)
    rl = [s["roofline"] for s in report["stages"]]
    assert sum(r["flops"] - r["gemm_flops"] for r in rl) == moe


def test_b200_all_reduce_is_priced_at_the_interconnect_roof(reports) -> None:
    """symm_mem all-reduce of S bytes over the trace's 8-rank groups: bus bytes S·2·7/8 (NCCL-tests),
    at NVLink 5's 900 GB/s one way; S from each op's input in the raw file."""
    report = reports["vllm-b200"][0]
    ops = _raw_ops(EAGER["vllm-b200"][0], "symm_mem::multimem_all_reduce_")
    assert ops and all(o["args"]["Input type"][0] == "c10::BFloat16" for o in ops)
    expected = sum(round(math.prod(o["args"]["Input Dims"][0]) * 2 * 2 * 7 / 8) for o in ops)
    [row] = [r for s in report["stages"] for r in s["kernels"] if r["name"].startswith("multimem_all_reduce_kernel")]
    assert row["bytes"] == expected and row["bound"] == "interconnect"
    assert row["roofline_ns"] == round(expected / 900)  # bytes / (0.9 TB/s = 900 bytes per ns)
    assert sum(s["roofline"]["link_bytes"] for s in report["stages"]) >= expected
    assert report["device"]["peaks"]["link_tbps"] == 0.9


@pytest.mark.parametrize("key", sorted(EAGER) + sorted(OTHER))
def test_peak_pct_is_within_the_roof_or_the_row_says_why(key: str, reports) -> None:
    report, _, _ = reports[key]
    rows = [r for s in report["stages"] for r in s["kernels"]]
    assert rows
    for r in rows:
        if r["peak_pct"] is None or not 0 < r["peak_pct"] <= 100:
            assert r["note"], r["name"]
    for s in report["stages"]:
        for r in s["roofline"]["rows"]:
            assert r["recoverable_ns"] == max(0, r["time_ns"] - r["roofline_ns"]) or r["note"]


def test_an_op_cost_is_split_over_its_launch_group_by_duration(reports) -> None:
    _, wh, root = reports["hf-h100"]
    with wh.connect() as conn:
        records = attribute_files(conn, ok_file_ids(conn, root))
        assign_costs(conn, records)
    by_op: dict[int, list[dict]] = {}
    for r in records:
        if r["cpu_op"] == "aten::mm":
            by_op.setdefault(r["cpu_op_ev"], []).append(r)
    pairs = [g for g in by_op.values() if len(g) == 2]
    assert pairs  # cuBLAS GEMM + its memset, one op
    for g in pairs:
        total = sum(r["flops"] for r in g)
        assert all(r["cost_model"] == "gemm" for r in g)
        big, small = sorted(g, key=lambda r: -r["dur_ns"])
        assert big["flops"] / total == pytest.approx(big["dur_ns"] / (big["dur_ns"] + small["dur_ns"]), abs=1e-9)
    raw, _ = raw_gemm_flops(TRACES / EAGER["hf-h100"][0])
    assert sum(r["flops"] or 0 for r in records if r["cost_model"] == "gemm") == raw


@pytest.mark.parametrize("total,durations", [(10, [1, 1, 1]), (7, [0, 0]), (10**15 + 7, [3, 5, 11]), (0, [4])])
def test_split_by_duration_sums_exactly(total: int, durations: list[int]) -> None:
    parts = split_by_duration(total, durations)
    assert sum(parts) == total and all(p >= 0 for p in parts)
    if sum(durations):
        assert all(abs(p - total * d / sum(durations)) < 1 for p, d in zip(parts, durations))


def test_graph_replays_take_the_shapes_of_the_mapping_op(tmp_path: Path) -> None:
    layers, steps = 2, 3
    mapping, formal, truth = make_pair(ModelSpec(layers=layers, framework="sglang"), steps=steps, stage="decode")
    wh, root = ingest_generated_pair(mapping, formal, "sglang", tmp_path, tmp_path / "spool")
    with wh.connect() as conn:
        report = triage_root(conn, root, TriageOptions(cutoff_pct=0))
    [stage] = report["stages"]
    # every generated op records mm shapes [16, 4096] x [4096, 4096]; four GEMM ops per layer per step
    assert stage["roofline"]["gemm_flops"] == steps * layers * 4 * (2 * 16 * 4096 * 4096)
    assert stage["coverage"]["by_attribution_ns"].get("mapped", 0) > 0


def _record(file_id: int, ev: int, **kw) -> dict:
    base = {"file_id": file_id, "ev": ev, "kind": "kernel", "name": "k", "dur_ns": 10, "cpu_op_ev": 7,
            "cpu_op": "aten::mm", "attribution": "direct", "stage": "decode", "step": 0, "is_graph": False,
            "family": "gemm"}
    return {**base, **kw}


def test_an_op_in_another_file_is_found_or_declared_ambiguous() -> None:
    wh = Warehouse(None)
    with wh.connect() as conn:
        conn.execute("INSERT INTO cpu_ops (file_id, ev, name, input_dims, args) VALUES "
                     "(2, 7, 'aten::mm', '[[4, 8], [8, 2]]', '{\"Input type\": [\"float\", \"float\"]}')")
        pointed = _record(1, 0, cpu_op_file_id=2, attribution="cross_root")
        mapped_once = _record(1, 1, attribution="mapped", mapped_from="mapping trace m.json", step=1)
        own = _record(2, 5)
        assign_costs(conn, [pointed, mapped_once, own])
        assert pointed["flops"] == 2 * 4 * 2 * 8 and pointed["cost_model"] == "gemm"
        assert mapped_once["flops"] == 2 * 4 * 2 * 8  # found in file 2, the one file launching ev 7 as aten::mm
        twin = _record(3, 9)  # file 3 also launched an aten::mm at ev 7, in the same stage
        ambiguous = _record(1, 2, attribution="mapped", mapped_from="mapping trace m.json")
        assign_costs(conn, [own, twin, ambiguous])
        assert ambiguous["flops"] is None and "ambiguous" in ambiguous["cost_note"]


def test_unknown_device_models_nothing_but_keeps_the_facts(reports, capsys) -> None:
    report, _, _ = reports["hta-2rank"]
    assert not report["device"]["matched"] and "no deviceProperties" in report["device"]["note"]
    for s in report["stages"]:
        rl = s["roofline"]
        assert rl["rows"] == [] and rl["mfu"] is None and rl["roofline_ns"] is None and rl["note"]
        assert all(r["peak_pct"] is None for r in s["kernels"])
    assert sum(s["roofline"]["gemm_flops"] for s in report["stages"]) > 0  # FLOPs are facts of the shapes
    assert main(["triage", "--input", str(TRACES / OTHER["hta-2rank"]), "-q"]) == 0
    assert "Device unknown: the trace records no deviceProperties" in capsys.readouterr().out


def test_gpu_only_trace_has_a_device_and_no_model(reports) -> None:
    report, _, _ = reports["mi210-gpu-only"]
    assert report["device"]["key"] == "mi210"
    [stage] = report["stages"]
    assert stage["roofline"]["modelled_ns"] == 0
    assert [u["reason"] for u in stage["roofline"]["unmodelled"]] == ["no CPU op launched it (unattributed)"]


def test_markdown_shows_percent_of_peak_and_the_speed_of_light_section(capsys) -> None:
    assert main(["triage", "--input", str(TRACES / EAGER["sglang-mi300x"][0]), "-q"]) == 0
    text = capsys.readouterr().out
    header = next(line for line in text.splitlines() if line.startswith("| # | kernel |"))
    assert "| % of peak |" in header
    assert "## Speed of light (ranked by recoverable time)" in text and "Device: **AMD Instinct MI300X**" in text


def test_costs_are_stored_with_the_facts(reports) -> None:
    report, wh, root = reports["sglang-mi300x"]
    with wh.connect() as conn:
        stored = conn.execute("SELECT sum(flops) FILTER (WHERE cost_model = 'gemm'), count(*) FILTER (WHERE cost_note "
                              "IS NOT NULL AND flops IS NULL) FROM kernel_facts WHERE root = ? AND stage <> 'outside'",
                              [root]).fetchone()
    assert stored[0] == sum(s["roofline"]["gemm_flops"] for s in report["stages"]) and stored[1] > 0


# --------------------------------------------------------------------------- rules, by hand


def test_kernel_roof_binding_roof_and_notes() -> None:
    # 0.9895 TFLOP bf16 on H100 SXM (989.5 TFLOP/s): 1e6 ns of compute; 1 GB at 3.35 TB/s: 298,507 ns
    roof, bound, note = kernel_roof(989_500_000_000, 10**9, "bf16", 2_000_000, H100)
    assert roof == pytest.approx(1e6) and bound == "compute" and note is None
    roof, bound, _ = kernel_roof(10**9, 3_350_000_000, "bf16", 2_000_000, H100)
    assert roof == pytest.approx(1e6) and bound == "memory"
    # an fp32 GEMM faster than the FP32 roof (67 TFLOP/s) must have run on TF32 (494.5 TFLOP/s)
    roof, _, note = kernel_roof(67_000_000_000, 0, "fp32", 500_000, H100)
    assert roof == pytest.approx(67e9 / 494.5e3) and "TF32 was on" in note
    roof, _, note = kernel_roof(67_000_000_000, 0, "fp32", 2_000_000, H100)
    assert roof == pytest.approx(1e6) and "FP32 roof" in note
    # memory-bound faster than HBM: served from cache, said so
    _, _, note = kernel_roof(0, 3_350_000_000, "bf16", 500_000, H100)
    assert "on-chip cache" in note
    # a dtype the device has no peak for
    assert kernel_roof(10**9, 10, "fp4", 1000, H100)[2] == "no fp4 peak for NVIDIA H100 SXM5 in the catalog"


def _k(name: str, dur: int, flops: int | None, nbytes: int | None = 0) -> dict:
    return {"display_name": name, "name": name, "family": "gemm", "dur_ns": dur, "flops": flops, "bytes": nbytes,
            "dtype": "bf16" if flops is not None else None, "cost_model": "gemm" if flops is not None else None,
            "cost_note": None if flops is not None else "no cost model for x", "site": None, "cpu_op": "aten::mm"}


def test_stage_figures_and_expected_gains_by_hand() -> None:
    # two kernels of "g", each 2 ms for 1 ms of roof (989.5 GFLOP bf16); "u" has no model
    kernels = [_k("g", 2_000_000, 989_500_000_000), _k("g", 2_000_000, 989_500_000_000), _k("u", 1_000_000, None)]
    rl = roofline_stage(kernels, H100, busy_ns=5_000_000)
    assert rl["gemm_flops"] == 2 * 989_500_000_000 and rl["modelled_ns"] == 4_000_000
    assert rl["modelled_share"] == pytest.approx(0.8) and rl["recoverable_ns"] == 2_000_000
    assert rl["mfu"] == pytest.approx(2e6 / 5e6) and rl["achieved_tflops"] == pytest.approx(2 * 989.5e9 / 5e6 / 1e3)
    [row] = rl["rows"]
    assert row["peak_pct"] == pytest.approx(50.0) and row["bound"] == "compute"
    overlap = [{"name": "g", "time_ns": 4_000_000, "exposed_ns": 1_000_000}, {"name": "u", "time_ns": 1, "exposed_ns": 1}]
    fusions = [{"status": "split", "evidence": ["g", "u"], "time_ns": 2_000_000},
               {"status": "fused", "evidence": ["g"], "time_ns": 5}, {"status": "split", "evidence": ["u"], "time_ns": 3}]
    add_expected_gains(overlap, fusions, kernels, H100)
    assert overlap[0]["expected_gain_ns"] == 500_000  # 2 ms recoverable x 1/4 exposed
    assert overlap[1]["expected_gain_ns"] is None and overlap[1]["expected_gain_note"]
    assert [f["expected_gain_ns"] for f in fusions] == [1_000_000, 0, None]  # 2 ms x (2 ms / 4 ms roofed)


def test_combine_sums_ranks_on_their_own_busy_time() -> None:
    a = roofline_stage([_k("g", 2_000_000, 989_500_000_000)], H100, busy_ns=2_000_000)
    b = roofline_stage([_k("g", 4_000_000, 989_500_000_000)], H100, busy_ns=4_000_000)
    both = combine({0: a, 1: b})
    assert both["gemm_flops"] == 2 * 989_500_000_000 and both["busy_ns"] == 6_000_000
    assert both["recoverable_ns"] == 1_000_000 + 3_000_000
    assert both["mfu"] == pytest.approx(2e6 / 6e6)
    [row] = both["rows"]
    assert row["time_ns"] == 6_000_000 and row["peak_pct"] == pytest.approx(100 * 2e6 / 6e6)
