"""vLLM layer-wise profile → per-step kernel tables with the module path as site.

Every expected number is recounted here straight from the JSON (stdlib json, Decimal µs), not
through the ingest or the table code: model_stats leaves for time and launches, cross-checked
against the summary_stats tree's own `invocations`.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import orjson
import pytest

from pipeline import classify as C
from pipeline.cli import main
from pipeline.ingest import ingest_inputs
from pipeline.render.markdown import render_report_markdown
from pipeline.report.read import TriageOptions
from pipeline.report.triage import triage_root
from pipeline.store import Warehouse
from tests.conftest import DATA, load_json_exact

SEED = DATA / "vllm_layerwise_seed003.json"
STEPS = ("prefill", "decode_1")


def _ns(us) -> int:
    return int((Decimal(us) * 1000).to_integral_value(ROUND_HALF_EVEN))


def _recount_step(stats: dict) -> dict:
    """Independent recount of one step: GPU leaves of model_stats, module paths, summary invocations."""
    leaves: list[tuple[str, int, tuple[str, ...]]] = []  # (raw name, ns, module path)
    leaf_ops: list[str | None] = []  # the innermost torch op of each leaf's trace ('mm(…) <- …')
    module_paths: set[tuple[str, ...]] = set()

    def walk(nodes, path):
        for n in nodes:
            e = n["entry"]
            if n["children"] or e["cpu_time_us"] != 0:  # a module (upstream: GPU leaves have cpu 0)
                here = path + (e["name"],)
                module_paths.add(here)
                walk(n["children"], here)
            else:
                assert (Decimal(e["cuda_time_us"]) * 1000) % 1 == 0  # Kineto durations are whole ns
                leaves.append((e["name"], _ns(e["cuda_time_us"]), path))
                leaf_ops.append(e.get("trace", "").split("(", 1)[0] or None)

    walk(stats["model_stats"], ())
    summary: dict[str, list[int]] = defaultdict(lambda: [0, 0])

    def walk_summary(nodes):
        for n in nodes:
            if not n["children"]:
                summary[n["entry"]["name"]][0] += _ns(n["entry"]["cuda_time_us"])
                summary[n["entry"]["name"]][1] += n["entry"]["invocations"]
            walk_summary(n["children"])

    walk_summary(stats["summary_stats"])
    by_display: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    site_ns: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for name, ns, path in leaves:
        d = C.display_name(name)
        by_display[d][0] += ns
        by_display[d][1] += 1
        site_ns[d][" / ".join(path)] += ns
    return {
        "leaves": leaves, "leaf_ops": leaf_ops, "module_paths": module_paths, "summary": dict(summary),
        "by_display": dict(by_display), "site_ns": site_ns,
        "total_ns": sum(ns for _, ns, _ in leaves),
        "roots_ns": sum(_ns(n["entry"]["cuda_time_us"]) for n in stats["model_stats"]),
    }


@pytest.fixture(scope="module")
def doc() -> dict:
    return load_json_exact(SEED)


@pytest.fixture(scope="module")
def recount(doc) -> dict:
    return {step: _recount_step(doc[step]) for step in STEPS}


def _triage(tmp: Path, source: Path | dict, cutoff: float) -> dict:
    root = tmp / "vllm" / "layerwise"
    root.mkdir(parents=True, exist_ok=True)
    target = root / "layerwise_profile.json"
    if isinstance(source, dict):
        target.write_bytes(orjson.dumps(source))
    else:
        shutil.copy(source, target)
    wh = Warehouse(None)
    [summary] = ingest_inputs([root], wh, tmp / "spool", data_root=tmp)
    assert summary.ok == 1, summary.errors
    with wh.connect() as conn:
        return triage_root(conn, summary.root, TriageOptions(cutoff_pct=cutoff))


@pytest.fixture(scope="module")
def full(tmp_path_factory) -> dict:
    """Report with --cutoff 0 (every row)."""
    return _triage(tmp_path_factory.mktemp("lw_full"), SEED, 0.0)


@pytest.fixture(scope="module")
def cut(tmp_path_factory) -> dict:
    """Report with the default 1 % cutoff."""
    return _triage(tmp_path_factory.mktemp("lw_cut"), SEED, 1.0)


def _table(report: dict, step: str) -> dict:
    [t] = [t for t in report["layerwise"] if t["scope"] == "step" and t["step"] == step]
    return t


def test_recount_sources_agree(recount) -> None:
    """Sanity of the recount itself: model leaves ≡ summary_stats leaves (time and invocations)."""
    for step, rc in recount.items():
        by_raw: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for name, ns, _ in rc["leaves"]:
            by_raw[name][0] += ns
            by_raw[name][1] += 1
        assert dict(by_raw) == {k: v for k, v in rc["summary"].items()}, step
        assert rc["total_ns"] == rc["roots_ns"], step


def test_steps_and_stages_from_the_file(full, doc) -> None:
    assert [t["step"] for t in full["layerwise"]] == [s for s in doc if s != "context"] == list(STEPS)
    assert [t["stage"] for t in full["layerwise"]] == ["prefill", "decode"]
    assert all(t["scope"] == "step" for t in full["layerwise"])  # one step per stage: no stage sums
    assert full["stages"] == []
    [src] = full["layerwise_files"]
    assert src["steps"] == list(STEPS) and src["batch_size"] == 16
    assert src["model"] == "deepseek-ai/DeepSeek-R1-Distill-Llama-8B"


def test_each_step_reconciles_exactly_with_the_json(full, recount) -> None:
    for step, rc in recount.items():
        t = _table(full, step)
        assert t["cutoff"]["hidden_rows"] == 0
        assert t["kernel_time_ns"] == rc["total_ns"] == t["tree_time_ns"]
        assert t["kernel_count"] == len(rc["leaves"]) == sum(v[1] for v in rc["summary"].values())
        got = {r["name"]: [r["time_ns"], r["launches"]] for r in t["kernels"]}
        assert got == rc["by_display"], step
        assert sum(r["launches"] for r in t["kernels"]) == t["kernel_count"]
        for r in t["kernels"]:
            assert r["share"] == pytest.approx(r["time_ns"] / rc["total_ns"])
            assert r["mean_ns"] == r["time_ns"] // r["launches"]
        assert t["kernels"][-1]["cumulative_share"] == pytest.approx(1.0)
        assert [r["time_ns"] for r in t["kernels"]] == sorted((r["time_ns"] for r in t["kernels"]), reverse=True)
        fam: dict[str, int] = defaultdict(int)
        for (name, ns, _), op in zip(rc["leaves"], rc["leaf_ops"]):
            fam[C.classify_with_op(name, op)] += ns
        assert {f["family"]: f["time_ns"] for f in t["families"]} == fam


def test_families_of_known_kernels(full) -> None:
    expect = {
        "vllm::act_and_mul_kernel": "activation",
        "vllm::fused_add_rms_norm_kernel": "norm",
        "vllm::rms_norm_kernel": "norm",
        "vllm::rotary_embedding_kernel": "rope",
        "sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize64x64x64": "gemm",
        "vllm::reshape_and_cache_flash_kernel": "kv_cache",
        "Memcpy HtoD": "memory",
        "Memset": "memory",
    }
    rows = _table(full, "decode_1")["kernels"]
    for prefix, family in expect.items():
        hits = [r for r in rows if r["name"].startswith(prefix)]
        assert hits, prefix
        assert {r["family"] for r in hits} == {family}, prefix
    # the damaged FA3 name (HTML-stripped <…>) is `other` by name; its op _vllm_fa3_C::fwd makes it
    # attention (catalog op hint, docs/kernel-families.md)
    fa3 = [r for r in rows if r["name"] == "cutlass::device_kernel"]
    assert fa3 and {r["cpu_op"] for r in fa3} == {"_vllm_fa3_C::fwd"}
    assert {r["family"] for r in fa3} == {"attention"}


def test_site_is_a_real_module_path(full, recount) -> None:
    for step, rc in recount.items():
        t = _table(full, step)
        for r in t["kernels"]:
            assert r["site"] == r["sites"][0]["site"]
            for s in r["sites"]:
                assert tuple(s["site"].split(" / ")) in rc["module_paths"], s["site"]
                share = rc["site_ns"][r["name"]][s["site"]] / r["time_ns"]
                assert s["share"] == pytest.approx(share)
            top = max(rc["site_ns"][r["name"]].items(), key=lambda kv: (kv[1], kv[0]))
            assert rc["site_ns"][r["name"]][r["site"]] == top[1]
    rows = {r["name"]: r for r in _table(full, "prefill")["kernels"]}
    assert rows["vllm::rotary_embedding_kernel"]["site"] == (
        "LlamaForCausalLM / LlamaDecoderLayer / LlamaAttention / Llama3RotaryEmbedding")
    assert rows["vllm::act_and_mul_kernel"]["site"] == "LlamaForCausalLM / LlamaDecoderLayer / LlamaMLP / SiluAndMul"
    assert rows["vllm::rotary_embedding_kernel"]["cpu_op"] == "_C::rotary_embedding"
    qkv = "LlamaForCausalLM / LlamaDecoderLayer / LlamaAttention / QKVParallelLinear(weight=bfloat16[6144, 4096])"
    assert any(s["site"] == qkv for r in rows.values() if r["family"] == "gemm" for s in r["sites"])


def test_cutoff_hides_rows_and_states_their_time(full, cut, recount) -> None:
    for step, rc in recount.items():
        all_rows, t = _table(full, step)["kernels"], _table(cut, step)
        hidden = [r for r in all_rows if r["share"] * 100 < 1.0]
        assert hidden and len(t["kernels"]) == len(all_rows) - len(hidden)
        assert all(r["share"] * 100 >= 1.0 for r in t["kernels"])
        assert t["cutoff"]["hidden_rows"] == len(hidden)
        assert t["cutoff"]["hidden_time_ns"] == sum(r["time_ns"] for r in hidden)
        assert t["cutoff"]["hidden_time_ns"] + sum(r["time_ns"] for r in t["kernels"]) == rc["total_ns"]
        assert t["kernel_time_ns"] == rc["total_ns"]  # shares stay of the whole step


def _cells(line: str) -> int:
    return len(re.split(r"(?<!\\)\|", line.strip())) - 2


def test_markdown_tables_render(cut) -> None:
    text = render_report_markdown(cut)
    assert "No GPU kernels were loaded" not in text
    assert "| source | `layerwise_profile.json`: vLLM layer-wise profile" in text
    for step in ("prefill", "decode_1"):
        assert f"## Step: {step} (vLLM layer-wise, stage " in text
    lines = text.splitlines()
    headers = [i for i, ln in enumerate(lines) if ln.startswith("| # | kernel | family |")]
    assert len(headers) == 2
    for i in headers:
        width = _cells(lines[i])
        assert _cells(lines[i + 1]) == width
        body = []
        for ln in lines[i + 2:]:
            if not ln.startswith("|"):
                break
            body.append(ln)
        assert body and all(_cells(ln) == width for ln in body)
        assert any("LlamaForCausalLM / LlamaDecoderLayer" in ln for ln in body)
    hidden = re.findall(r"(\d+) rows under the 1\.0 % per-row cutoff are hidden; they hold ([^(]+) \(", text)
    assert [int(n) for n, _ in hidden] == [t["cutoff"]["hidden_rows"] for t in cut["layerwise"]]


def test_several_decode_steps_also_get_a_stage_table(tmp_path: Path, doc) -> None:
    two = json.loads(SEED.read_text())
    two["decode_2"] = copy.deepcopy(two["decode_1"])
    report = _triage(tmp_path, two, 0.0)
    assert [(t["scope"], t["label"]) for t in report["layerwise"]] == [
        ("step", "prefill"), ("step", "decode_1"), ("step", "decode_2"),
        ("stage", "decode (2 steps: decode_1 … decode_2)")]
    one, stage = _table(report, "decode_1"), report["layerwise"][-1]
    assert stage["steps"] == ["decode_1", "decode_2"] and stage["stage"] == "decode"
    assert stage["kernel_time_ns"] == 2 * one["kernel_time_ns"] == stage["tree_time_ns"]
    assert {r["name"]: (r["time_ns"], r["launches"]) for r in stage["kernels"]} == {
        r["name"]: (2 * r["time_ns"], 2 * r["launches"]) for r in one["kernels"]}
    assert "## Stage: decode (2 steps: decode_1 … decode_2) (vLLM layer-wise)" in render_report_markdown(report)


def test_cli_on_the_file(tmp_path: Path, capsys) -> None:
    assert main(["triage", "--input", str(SEED), "--format", "json", "--cutoff", "5", "-q"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [t["step"] for t in report["layerwise"]] == list(STEPS)
    assert all(t["cutoff"]["cutoff_pct"] == 5 and t["cutoff"]["hidden_rows"] > 0 for t in report["layerwise"])
    assert main(["triage", "--input", str(SEED), "-q"]) == 0
    assert "## Step: prefill (vLLM layer-wise, stage prefill)" in capsys.readouterr().out


def test_kineto_root_has_no_layerwise_tables(tmp_path: Path) -> None:
    root = DATA / "traces" / "sglang" / "qwen3-8b-mi300x-decode-graph-bs32"
    wh = Warehouse(None)
    [summary] = ingest_inputs([root], wh, tmp_path / "spool", data_root=DATA / "traces")
    with wh.connect() as conn:
        report = triage_root(conn, summary.root, TriageOptions())
    assert report["stages"] and report["layerwise"] == [] and report["layerwise_files"] == []
    assert "layer-wise" not in render_report_markdown(report)
