"""Layers, per-layer tables and graph-replay attribution on the real traces of the corpus (issue 18)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.ingest import ingest_inputs
from pipeline.report.read import TriageOptions
from pipeline.report.triage import triage_root
from pipeline.store import Warehouse
from tests.conftest import TRACES, load_json_exact, us_to_ns

# Published number of decoder layers (num_hidden_layers of each model's config.json on the HF hub).
PUBLISHED_LAYERS = {
    "qwen3-8b-mi300x-decode-graph-bs32": 36,  # Qwen/Qwen3-8B
    "qwen3-8b-mi300x-extend-eager-bs15": 36,
    "gpt-oss-20b-mi300x-decode-fullgraph-bs32": 24,  # openai/gpt-oss-20b
    "gpt-oss-20b-mi300x-mixed-piecewisegraph": 24,
    "gpt-oss-120b-b200-tp8-eager-prefill-rank0": 36,  # openai/gpt-oss-120b
    "qwen1.5-0.5b-chat-h100-bs16-forward": 24,  # Qwen/Qwen1.5-0.5B-Chat
}
GRAPH_ROOTS = ("qwen3-8b-mi300x-decode-graph-bs32", "gpt-oss-20b-mi300x-decode-fullgraph-bs32",
               "gpt-oss-20b-mi300x-mixed-piecewisegraph")
# eager roots first: a graph root of the same model finds their stored facts (cross_root)
ORDER = ("sglang/qwen3-8b-mi300x-extend-eager-bs15", "sglang/qwen3-8b-mi300x-decode-graph-bs32",
         "vllm/gpt-oss-120b-b200-tp8-eager-prefill-rank0", "vllm/gpt-oss-20b-mi300x-mixed-piecewisegraph",
         "vllm/gpt-oss-20b-mi300x-decode-fullgraph-bs32", "hf-transformers/qwen1.5-0.5b-chat-h100-bs16-forward")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Warehouse]:
    """Every LLM root of the corpus in one warehouse, triaged in ORDER: {run name: report}."""
    spool = tmp_path_factory.mktemp("spool")
    wh = Warehouse(None)
    reports = {}
    for rel in ORDER:
        [summary] = ingest_inputs([TRACES / rel], wh, spool)
        with wh.connect() as conn:
            reports[Path(rel).name] = triage_root(conn, summary.root, TriageOptions(cutoff_pct=0))
    return reports, wh


@pytest.mark.parametrize("run", sorted(PUBLISHED_LAYERS))
def test_layer_count_is_the_published_number(corpus, run: str) -> None:
    reports, _ = corpus
    [stage] = [s for s in reports[run]["stages"] if s["layers"]]
    assert stage["layers"]["count"] == PUBLISHED_LAYERS[run]
    assert stage["layers"]["forward_passes"] == 1


@pytest.mark.parametrize("run", sorted(PUBLISHED_LAYERS))
def test_per_layer_table_reconciles_exactly(corpus, run: str) -> None:
    """count × passes × per_layer + remainder + outside = the stage's kernel time, the stage's kernel time
    = the raw file's GPU activity time outside no step, and the slots sum to the layer time."""
    reports, _ = corpus
    report = reports[run]
    [stage] = [s for s in report["stages"] if s["layers"]]
    lay = stage["layers"]
    per = lay["count"] * lay["forward_passes"]
    assert per * lay["per_layer_ns"] + lay["remainder_ns"] + lay["outside_ns"] == stage["kernel_time_ns"]
    assert 0 <= lay["remainder_ns"] < per
    assert sum(s["time_ns"] for s in lay["slots"]) == lay["in_layers_ns"] == stage["kernel_time_ns"] - lay["outside_ns"]
    assert sum(g["time_ns"] for g in lay["groups"]) == lay["in_layers_ns"]
    root = next(p for p in TRACES.glob("*/*") if p.name == run)
    doc = load_json_exact(next(root.glob("*.json.gz")))
    raw = sum(us_to_ns(e["dur"]) for e in doc["traceEvents"] if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset"))
    assert sum(s["kernel_time_ns"] for s in report["stages"]) + report["outside_steps"]["time_ns"] == raw


FACT_KEYS = ("name", "ts_ns", "dur_ns", "layer", "slot", "is_graph", "attribution", "site", "stack")


def _facts(wh: Warehouse, run: str, keep=lambda r: True) -> list[dict]:
    """The stored kernel_facts of one root (by run name) in time order, filtered by `keep`."""
    with wh.connect() as conn:
        rows = conn.execute("SELECT name, ts_ns, dur_ns, layer, slot, is_graph, attribution, site, stack "
                            "FROM kernel_facts WHERE root LIKE '%' || ? ORDER BY ts_ns", [run]).fetchall()
    return [r for r in (dict(zip(FACT_KEYS, row)) for row in rows) if keep(r)]


@pytest.mark.parametrize("run", GRAPH_ROOTS)
def test_rotary_kernels_fall_one_per_layer_in_order(corpus, run: str) -> None:
    """Each decoder layer applies rotary embedding once: by name in the raw order, the i-th one is in layer i."""
    _, wh = corpus
    rows = _facts(wh, run, lambda r: "rotary_embedding_kernel" in r["name"])
    assert [r["layer"] for r in rows] == list(range(PUBLISHED_LAYERS[run]))
    assert len({r["slot"] for r in rows}) == 1  # one slot


@pytest.mark.parametrize("run", GRAPH_ROOTS)
def test_graph_replays_carry_a_site_from_outside_the_trace(corpus, run: str) -> None:
    """≥ 90 % of graph-replayed kernel time has a mapped, cross_root or catalog site, each labelled as such."""
    _, wh = corpus
    rows = _facts(wh, run, lambda r: r["is_graph"])
    total = sum(r["dur_ns"] for r in rows)
    sited = [r for r in rows if r["attribution"] in ("mapped", "cross_root", "catalog")]
    assert sum(r["dur_ns"] for r in sited) / total >= 0.9
    assert all(r["site"].startswith(r["attribution"] + ": ") for r in sited if r["attribution"] != "mapped")


def test_sglang_decode_graph_takes_sites_from_the_eager_qwen3_root(corpus) -> None:
    reports, wh = corpus
    [stage] = reports["qwen3-8b-mi300x-decode-graph-bs32"]["stages"]
    cross = stage["cross_root"]
    assert cross["source_root"].endswith("qwen3-8b-mi300x-extend-eager-bs15") and cross["refused"] == []
    assert cross["captured_at"].startswith("2026-05-28") and cross["layers"] == 36
    assert cross["by_time"] >= 0.9
    by = stage["coverage"]["by_attribution_ns"]
    assert set(by) >= {"direct", "enclosing", "mapped", "cross_root", "catalog", "graph", "none"}
    assert sum(by.values()) == stage["kernel_time_ns"]
    # the qkv projection of every layer gets the eager capture's own qkv_proj call path
    qkv = _facts(wh, "qwen3-8b-mi300x-decode-graph-bs32", lambda r: r["slot"] == 1)
    assert len(qkv) == 36 and all(r["attribution"] == "cross_root" for r in qkv)
    modules = [[f for f in r["stack"] if f.startswith("nn.Module: QKVParallelLinear_")] for r in qkv]
    assert modules == [[f"nn.Module: QKVParallelLinear_{i}"] for i in range(36)]  # layer i's own projection


def test_vllm_gpt_oss_20b_graph_refuses_the_piecewise_root_and_ignores_the_120b(corpus) -> None:
    reports, _ = corpus
    [stage] = reports["gpt-oss-20b-mi300x-decode-fullgraph-bs32"]["stages"]
    cross = stage["cross_root"]
    assert cross["source_root"] is None
    [refused] = cross["refused"]
    assert refused["root"].endswith("gpt-oss-20b-mi300x-mixed-piecewisegraph")
    assert "no eager forward pass" in refused["reason"]
    assert stage["catalog_sites"]["time_ns"] >= 0.9 * sum(
        r["time_ns"] for r in stage["kernels"] if r["site"] is None or r["site"].startswith("catalog: "))


def test_piecewise_graph_layers_span_the_eager_attention(corpus) -> None:
    """Piecewise graphs split each layer around eager attention: the layers still hold both."""
    _, wh = corpus
    rows = _facts(wh, "gpt-oss-20b-mi300x-mixed-piecewisegraph", lambda r: r["layer"] is not None)
    eager = [r for r in rows if not r["is_graph"]]
    assert {r["layer"] for r in eager} == set(range(24)) and all(r["attribution"] == "direct" for r in eager)
    assert {r["layer"] for r in rows if r["is_graph"]} == set(range(24))


@pytest.mark.parametrize("run,source", [("qwen3-8b-mi300x-extend-eager-bs15", "module"),
                                        ("gpt-oss-120b-b200-tp8-eager-prefill-rank0", "module"),
                                        ("qwen3-8b-mi300x-decode-graph-bs32", "periodicity")])
def test_layer_source(corpus, run: str, source: str) -> None:
    reports, _ = corpus
    [stage] = [s for s in reports[run]["stages"] if s["layers"]]
    assert stage["layers"]["source"] == source


def test_gpt_oss_full_graph_slots_and_groups(corpus) -> None:
    """gpt-oss alternates sliding-window and full attention: 2d and 3d attention share one slot, the
    split-KV reduce appears in half the layers, and the MoE groups are named."""
    reports, _ = corpus
    [stage] = reports["gpt-oss-20b-mi300x-decode-fullgraph-bs32"]["stages"]
    slots = {s["name"]: s for s in stage["layers"]["slots"]}
    attn = [s for s in stage["layers"]["slots"] if {"kernel_unified_attention_2d", "kernel_unified_attention_3d"}
            <= set(s["names"])]
    assert len(attn) == 1 and attn[0]["launches_per_layer"] == 1.0
    assert slots["reduce_segments"]["layers"] == 12
    groups = {g["group"] for g in stage["layers"]["groups"]}
    assert {"attention", "qkv_o_gemm", "router_topk", "expert_gemm", "moe_finalize", "norm"} <= groups
    roles = [s["role"] for s in stage["layers"]["slots"] if s["group"] in ("qkv_o_gemm", "router_topk") and s["role"]]
    assert roles == ["qkv", "o", "router"]


@pytest.mark.parametrize("root", ["other/gpu-only-mi210-no-cpu-events", "other/hta-ns-resolution-v100-resnet-training",
                                  "other/hta-2rank-sendrecv"])
def test_no_layers_says_why(root: str, spool: Path) -> None:
    """Traces that are no LLM forward (a ResNet training step, plain PyTorch work): no table, a warning."""
    wh = Warehouse(None)
    [summary] = ingest_inputs([TRACES / root], wh, spool)
    with wh.connect() as conn:
        report = triage_root(conn, summary.root)
    assert all(s["layers"] is None for s in report["stages"])
    assert any("no per-layer table" in w for w in report["warnings"])
