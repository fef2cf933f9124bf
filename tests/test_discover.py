"""Tests for pipeline/discover/: real trace trees, naming patterns, sniffing, gates."""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path

import pytest

from pipeline.discover import (DiscoveryError, discover, discover_root,
                               discover_with_warnings, inspect_file, sanitize_key, sniff)
from pipeline.discover import sniffing
from pipeline.discover import walk
from pipeline.discover.infer import _framework_from_content
from pipeline.discover.sniffing import _sniff
from pipeline.paths import EXAMPLES_DIR

DATA = Path(__file__).parent / "data"
TRACES = DATA / "traces"
TINY_TRACE = {"schemaVersion": 1, "traceEvents": [{"ph": "X", "name": "k", "ts": 1, "dur": 1}]}


def write(path: Path, content: object = None, gz: bool | None = None) -> Path:
    """Create `path` (parents too): empty if content is None, else JSON (gzip by name)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"" if content is None else (
        content if isinstance(content, bytes) else json.dumps(content).encode())
    if gz if gz is not None else (path.name.endswith(".gz") and data):
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def by_name(root) -> dict:
    return {f.rel_path: f for f in root.files}


# ------------------------------------------------------------------ real traces

EXPECTED_REAL = {
    # key: (framework, model, {file: stage})
    "hf-transformers/qwen1.5-0.5b-chat-h100-bs16-forward":
        ("unknown", "Qwen1.5-0.5B-Chat", {"Qwen_Qwen1.5-0.5B-Chat__1016005.json.gz": "unknown"}),
    "other/gpu-only-mi210-no-cpu-events":
        ("unknown", "gpu-only", {"gpu_only_trace.json.gz": "unknown"}),
    "other/hta-2rank-sendrecv":
        ("unknown", "hta-2rank-sendrecv", {"sampled_rank-0.json.gz": "unknown", "sampled_rank-1.json.gz": "unknown"}),
    "other/hta-ns-resolution-v100-resnet-training":
        ("unknown", "hta-ns-resolution",
         {"rank-0.Apr_03_18_51_38.1102.pt.trace.json.gz": "unknown"}),
    "sglang/qwen3-8b-mi300x-decode-graph-bs32":
        ("sglang", "Qwen3-8B", {"sglang_Qwen3-8B_decode.json.gz": "decode"}),
    # the name says prefill+decode; discovery does not parse, so 'mixed' (ingest/stage
    # later splits per kernel by the step[EXTEND ...] annotation).
    "sglang/qwen3-8b-mi300x-extend-eager-bs15":
        ("sglang", "Qwen3-8B", {"sglang_Qwen3-8B_prefilldecode.json.gz": "mixed"}),
    # root names say prefill/decode/mixed: stage must NOT come from them
    "vllm/gpt-oss-120b-b200-tp8-eager-prefill-rank0":
        ("vllm", "gpt-oss-120b", {"eager_trace.json.gz": "unknown"}),
    "vllm/gpt-oss-20b-mi300x-decode-fullgraph-bs32":
        ("vllm", "gpt-oss-20b", {"graph_execution.json.gz": "unknown"}),
    "vllm/gpt-oss-20b-mi300x-mixed-piecewisegraph":
        ("vllm", "gpt-oss-20b", {"graph_execution.json.gz": "unknown"}),
}


def test_real_tree_every_root_found_with_metadata():
    roots, warnings = discover_with_warnings(TRACES)
    assert warnings == []
    assert [r.key for r in roots] == sorted(EXPECTED_REAL)
    for r in roots:
        framework, model, stages = EXPECTED_REAL[r.key]
        assert (r.framework, r.model, r.status) == (framework, model, "ok"), r.key
        assert {f.rel_path: f.stage for f in r.files} == stages, r.key
        assert r.path == (TRACES / r.key).absolute()
        assert r.run == Path(r.key).name
        for f in r.files:
            assert (f.kind, f.status, f.role) == ("kineto", "ok", "single")
            assert f.framework == framework and f.path.is_absolute()
            assert f.size_bytes == f.path.stat().st_size > 0


def test_real_tree_content_markers_and_ranks():
    roots = {r.key: r for r in discover(TRACES)}
    hta = roots["other/hta-ns-resolution-v100-resnet-training"].files[0]
    assert hta.rank == 0  # HTA `rank-N.` prefix; .pt.trace alone does not mean vLLM
    # framework from Python frame paths in the first 64 KiB, with a neutral directory name
    for key in ("sglang/qwen3-8b-mi300x-decode-graph-bs32",
                "vllm/gpt-oss-20b-mi300x-decode-fullgraph-bs32"):
        snf = _sniff(roots[key].files[0].path)
        assert _framework_from_content(snf) == key.split("/")[0]
    hf = _sniff(roots["hf-transformers/qwen1.5-0.5b-chat-h100-bs16-forward"].files[0].path)
    assert "vllm" in hf.head and _framework_from_content(hf) is None


def test_examples_corpus_discovered():
    roots = discover(EXAMPLES_DIR)
    assert {r.framework for r in roots} == {"sglang", "vllm", "unknown"}
    assert all(r.status == "ok" and r.files for r in roots)


def test_framework_from_content_when_directory_is_neutral(tmp_path):
    src = TRACES / "sglang/qwen3-8b-mi300x-decode-graph-bs32/sglang_Qwen3-8B_decode.json.gz"
    write(tmp_path / "run1" / "capture_a.json.gz", src.read_bytes(), gz=False)
    (root,) = discover(tmp_path)
    assert root.framework == "sglang" and root.files[0].framework == "sglang"


# ------------------------------------------------------------------ naming patterns

NAMES = [
    # name, framework, stage, rank, kind
    ("1759130995.3223403-TP-0.trace.json.gz", "sglang", "unknown", 0, "kineto"),
    ("1759130995.3223403-TP-1-DECODE.trace.json.gz", "sglang", "decode", 1, "kineto"),
    ("bs-16-il-2048-1780980246.5-TP-2-DP-1-PP-0-EP-3-EXTEND.trace.json.gz",
     "sglang", "prefill", 2, "kineto"),
    ("1759130995.3-TP-0-EP-0.trace.json.gz", "sglang", "unknown", 0, "kineto"),
    ("1759130995.3-TP-0-prefill.trace.json.gz", "sglang", "prefill", 0, "kineto"),
    ("1759130995.3-TP-3-decode.trace.json.gz", "sglang", "decode", 3, "kineto"),
    ("merged-1759130995.3.trace.json.gz", "sglang", "unknown", None, "merged"),
    ("sglang_Qwen3-8B_decode.json.gz", "sglang", "decode", None, "kineto"),
    ("dp0_pp0_tp0_dcp0_ep0_rank0.1787888424265644846.pt.trace.json.gz",
     "vllm", "unknown", 0, "kineto"),
    ("mytag-decode_dp0_pp0_tp1_dcp0_ep0_rank1.1787888424265644846.pt.trace.json.gz",
     "vllm", "decode", 1, "kineto"),
    ("rank3.1787888424265644846.pt.trace.json.gz", "vllm", "unknown", 3, "kineto"),
    ("myhost_123.async_llm.1787888424265644846.pt.trace.json.gz",
     "vllm", "unknown", None, "kineto"),
    ("trace-prefill-rank-0.json", "trtllm", "prefill", 0, "kineto"),
    ("trace-decode-rank-1.json.gz", "trtllm", "decode", 1, "kineto"),
    ("trtllm-trace-1750000000-abcd1234-rank-3.json", "trtllm", "unknown", 3, "kineto"),
    ("ts-triage-prefill-TP-0.trace.json.gz", "tokenspeed", "prefill", 0, "kineto"),
    ("rank-0.Apr_03_18_51_38.1102.pt.trace.json.gz", "unknown", "unknown", 0, "kineto"),
    ("profile_batch1_input128_output8_prefill.trace.json.gz", "unknown", "prefill", None,
     "kineto"),
]


@pytest.mark.parametrize("name,framework,stage,rank,kind", NAMES)
@pytest.mark.parametrize("empty", [True, False], ids=["empty", "tiny"])
def test_naming_patterns(tmp_path, name, framework, stage, rank, kind, empty):
    write(tmp_path / "runs" / "r1" / name, None if empty else TINY_TRACE)
    (root,) = discover(tmp_path)
    (f,) = root.files
    assert (f.framework, f.stage, f.rank, f.kind, f.status) == (
        framework, stage, rank, kind, "ok")
    assert (f.reason is not None) == (empty or ".async_llm." in name)
    if ".async_llm." in name:
        assert "AsyncLLM" in f.reason and "no GPU kernels" in f.reason


@pytest.mark.parametrize("name,stage", [
    ("foo_prefill.json", "prefill"), ("foo_decode.json.gz", "decode"),
    ("foo_prefilldecode.json", "mixed"), ("foo-extend.json", "prefill"),
    ("foo_prefill_decode.json", "mixed"), ("graph_execution.json.gz", "unknown"),
])
def test_stage_words_in_plain_json_names(tmp_path, name, stage):
    write(tmp_path / "r" / name, TINY_TRACE)
    assert discover(tmp_path)[0].files[0].stage == stage


def test_stage_never_from_parent_directory(tmp_path):
    write(tmp_path / "sglang" / "qwen3-8b-decode-graph-bs32" / "trace.json.gz", TINY_TRACE)
    write(tmp_path / "vllm" / "x-prefill" / "prefill" / "a.pt.trace.json.gz", TINY_TRACE)
    write(tmp_path / "decode" / "b.json", TINY_TRACE)
    roots = discover(tmp_path)
    assert len(roots) == 3
    assert [f.stage for r in roots for f in r.files] == ["unknown"] * 3
    assert {r.key: r.framework for r in roots} == {
        "decode": "unknown", "sglang/qwen3-8b-decode-graph-bs32": "sglang",
        "vllm/x-prefill/prefill": "vllm"}


def test_model_from_names_and_dirs(tmp_path):
    write(tmp_path / "a" / "sglang_Llama-3.1-8B-Instruct_prefill.json.gz", TINY_TRACE)
    write(tmp_path / "b" / "meta-llama_Llama-3.1-8B__42.json", TINY_TRACE)
    write(tmp_path / "qwen3-32b-h100-tp4-eager" / "t.json", TINY_TRACE)
    models = {r.key: r.model for r in discover(tmp_path)}
    assert models == {"a": "Llama-3.1-8B-Instruct", "b": "Llama-3.1-8B",
                      "qwen3-32b-h100-tp4-eager": "qwen3-32b"}


# ------------------------------------------------------------------ sniffing


@pytest.mark.parametrize("content,expected", [
    (TINY_TRACE, "kineto"),
    ({"metadata": {"x": "y" * 2000, "nested": {"traceEvents": 1}}, "traceEvents": []},
     "kineto"),
    ([{"ph": "X", "name": "k"}], "kineto"),
    ({"context": {"torch_version": "2"}, "prefill": {}, "decode_1": {}}, "layerwise"),
    ({"model_path": "Qwen/Qwen3-8B", "tp_size": 1}, None),                  # server_args
    ({"framework": "sglang", "files": []}, None),                           # capture.json
    ({"batch_size": 32, "mode": "FULL"}, None),                             # execution_details
    ({"foo": [{"traceEvents": []}]}, None),                                  # nested only
    ([1, 2, 3], None),
    ([{"name": "no phase"}], None),
    (b"not json at all", None),
])
@pytest.mark.parametrize("gz", [False, True])
def test_sniff_content(tmp_path, content, expected, gz):
    path = write(tmp_path / ("f.json.gz" if gz else "f.json"), content, gz=gz)
    assert sniff(path) == expected


def test_sniff_real_files():
    for path in TRACES.rglob("*.json.gz"):
        assert sniff(path) == "kineto", path
    assert sniff(DATA / "vllm_layerwise_seed003.json") == "layerwise"


def test_sniff_header_larger_than_window(tmp_path):
    # Kineto header keys first, traceEvents past 64 KiB: still a trace.
    big = {"schemaVersion": 1, "deviceProperties": [{"name": "x" * 100_000}],
           "traceEvents": []}
    assert sniff(write(tmp_path / "a.json", big)) == "kineto"
    # a layerwise file whose `context` is longer than the window
    lw = {"context": {"torch_version": "2", "engine_args": {"pad": "x" * 100_000}},
          "prefill": {}}
    assert sniff(write(tmp_path / "b.json", lw)) == "layerwise"


class _CountingOpen:
    def __init__(self):
        self.bytes_read = 0

    def __call__(self, *args, **kwargs):
        fh = open(*args, **kwargs)
        counter = self
        real_read = fh.read

        class Wrapped:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                fh.close()

            def read(self, n=-1):
                data = real_read(n)
                counter.bytes_read += len(data)
                return data
        return Wrapped()


@pytest.mark.parametrize("gz", [False, True])
def test_sniff_reads_only_the_head_of_a_50mb_file(tmp_path, monkeypatch, gz):
    body = b'{"rows": [' + b"0," * (25 * 1024 * 1024) + b'0], "traceEvents": []}'
    path = write(tmp_path / ("big.json.gz" if gz else "big.json"), body, gz=gz)
    counting = _CountingOpen()
    monkeypatch.setattr(sniffing, "_open_binary", counting)
    start = time.perf_counter()
    assert sniff(path) is None  # traceEvents only after 50 MB: not seen, not a trace
    assert time.perf_counter() - start < 1.0
    assert 0 < counting.bytes_read <= sniffing.SNIFF_BYTES + 1 + sniffing._RAW_CHUNK
    assert path.stat().st_size > 50 * 1024 * 1024 or gz


def test_truncated_and_empty_files(tmp_path):
    full = gzip.compress(json.dumps({"traceEvents": [{"ph": "X"}] * 50_000}).encode())
    cut = write(tmp_path / "r" / "1.1-TP-0.trace.json.gz", full[: len(full) // 2], gz=False)
    assert sniff(cut) == "kineto"
    write(tmp_path / "r" / "2.2-TP-1.trace.json.gz", b"\x1f\x8b\x08", gz=False)  # bad header
    write(tmp_path / "r" / "empty.json")  # empty, not named like a trace: ignored
    (root,) = discover(tmp_path)
    files = by_name(root)
    assert set(files) == {"1.1-TP-0.trace.json.gz", "2.2-TP-1.trace.json.gz"}
    assert files["1.1-TP-0.trace.json.gz"].reason is None
    bad = files["2.2-TP-1.trace.json.gz"]
    assert (bad.status, bad.kind) == ("ok", "kineto") and "unreadable" in bad.reason


def test_non_trace_json_is_left_out_or_rejected(tmp_path):
    root_dir = tmp_path / "r"
    write(root_dir / "server_args.json", {"model_path": "m", "tp_size": 1})
    write(root_dir / "execution_details.json", {"batch_size": 32})
    write(root_dir / "random.json.gz", {"a": 1})
    write(root_dir / "fake-TP-0.trace.json.gz", {"a": 1})  # named like a trace
    write(root_dir / "real.json", TINY_TRACE)
    (root,) = discover(tmp_path)
    files = by_name(root)
    assert set(files) == {"fake-TP-0.trace.json.gz", "real.json"}
    assert files["fake-TP-0.trace.json.gz"].status == "rejected"
    assert "not a trace" in files["fake-TP-0.trace.json.gz"].reason
    write(tmp_path / "only_junk" / "x.json", {"a": 1})
    write(tmp_path / "only_fake" / "1-TP-0.trace.json", {"a": 1})
    assert [r.key for r in discover(tmp_path)] == ["r"]


def test_layerwise_file(tmp_path):
    (tmp_path / "lw").mkdir()
    (tmp_path / "lw" / "profile.json").write_bytes((DATA / "vllm_layerwise_seed003.json")
                                                   .read_bytes())
    (root,) = discover(tmp_path)
    f = root.files[0]
    assert (f.kind, f.framework, f.model) == (
        "layerwise", "vllm", "deepseek-ai/DeepSeek-R1-Distill-Llama-8B")


# ------------------------------------------------------------------ roots


def test_merged_shadowed_by_per_rank(tmp_path):
    for i in range(2):
        write(tmp_path / "both" / f"1759.5-TP-{i}.trace.json.gz")
    write(tmp_path / "both" / "merged-1759.5.trace.json.gz")
    write(tmp_path / "only" / "merged-1759.5.trace.json.gz")
    roots = {r.key: r for r in discover(tmp_path)}
    merged = by_name(roots["both"])["merged-1759.5.trace.json.gz"]
    assert (merged.kind, merged.status, merged.reason) == (
        "merged", "skipped", "per-rank traces present")
    assert [f.status for f in roots["both"].files if f.kind == "kineto"] == ["ok", "ok"]
    (alone,) = roots["only"].files
    assert (alone.kind, alone.status, roots["only"].framework) == ("merged", "ok", "sglang")


@pytest.mark.parametrize("log_name,phrase", [
    ("server.log", "Falling back to diffusers backend"),
    ("server_stdout.txt", "Using diffusers backend"),
    ("capture.json", "Loaded diffusers pipeline"),
])
def test_diffusion_gate(tmp_path, log_name, phrase):
    root_dir = tmp_path / "flux"
    write(root_dir / "1.1-TP-0.trace.json.gz", TINY_TRACE)
    text = "x" * (3 << 20) + f"\nINFO {phrase.upper()} for model\n"  # past 1 MiB chunks
    if log_name == "capture.json":
        text = json.dumps({"framework": "sglang", "notes": text})
    (root_dir / log_name).write_text(text)
    (root,) = discover(tmp_path)
    assert root.status == "rejected"
    assert root.reason == f"diffusers backend fallback: {log_name}: '{phrase}'"


def test_diffusion_gate_not_triggered_without_phrase(tmp_path):
    root_dir = tmp_path / "llm"
    write(root_dir / "1.1-TP-0.trace.json.gz", TINY_TRACE)
    (root_dir / "server.log").write_text("Loaded model weights; using flashinfer backend\n")
    (root,) = discover(tmp_path)
    assert (root.status, root.reason) == ("ok", None)


def test_manifest_overrides_inference(tmp_path):
    root_dir = tmp_path / "sglang" / "something-decode"
    write(root_dir / "1.1-TP-0-DECODE.trace.json.gz", TINY_TRACE)
    write(root_dir / "mapping" / "a.json.gz", TINY_TRACE)
    (root_dir / "proftriage.toml").write_text(
        'framework = "vLLM"\nmodel = "meta-llama/Llama-3.1-8B"\nrun = "nightly-7"\n'
        'role = "formal"\n'
        '[[files]]\nglob = "mapping/*"\nrole = "mapping"\nstage = "prefill"\nrank = 4\n'
        '[[files]]\nglob = "*-DECODE.*"\nstage = "mixed"\n')
    (root,) = discover(tmp_path)
    assert (root.framework, root.model, root.run) == (
        "vllm", "meta-llama/Llama-3.1-8B", "nightly-7")
    assert root.manifest["run"] == "nightly-7"
    files = by_name(root)
    top = files["1.1-TP-0-DECODE.trace.json.gz"]
    assert (top.role, top.stage, top.rank, top.framework) == ("formal", "mixed", 0, "vllm")
    mapped = files["mapping/a.json.gz"]
    assert (mapped.role, mapped.stage, mapped.rank) == ("mapping", "prefill", 4)


def test_invalid_manifest_rejects_root(tmp_path):
    write(tmp_path / "r" / "t.json", TINY_TRACE)
    (tmp_path / "r" / "proftriage.toml").write_text("framework = \n")
    roots, warnings = discover_with_warnings(tmp_path)
    assert roots[0].status == "rejected" and "proftriage.toml" in roots[0].reason
    assert any("invalid manifest" in w for w in warnings)


def test_capture_json_and_server_args(tmp_path):
    cap_dir = tmp_path / "cap"
    write(cap_dir / "trace_a.json", TINY_TRACE)
    write(cap_dir / "1.1-TP-2-EXTEND.trace.json.gz", TINY_TRACE)
    write(cap_dir / "capture.json", {
        "framework": "sglang", "model": "Qwen/Qwen3-8B", "stage": "decode", "role": "formal",
        "rank": 0, "server_args": {"tp_size": 2}, "workload": {}, "started_at": "t0",
        "finished_at": "t1", "files": [{"path": "trace_a.json", "rank": 1}]})
    sa_dir = tmp_path / "sa"
    write(sa_dir / "t.json", TINY_TRACE)
    write(sa_dir / "server_args.json",
          {"model_path": "/models/hf/Qwen3-30B-A3B", "chunked_prefill_size": 8192})
    roots = {r.key: r for r in discover(tmp_path)}
    cap = roots["cap"]
    assert (cap.framework, cap.model, cap.server_args) == ("sglang", "Qwen/Qwen3-8B",
                                                           {"tp_size": 2})
    files = by_name(cap)
    assert (files["trace_a.json"].stage, files["trace_a.json"].rank,
            files["trace_a.json"].role) == ("decode", 1, "formal")
    # the file name beats capture.json for stage and rank
    ext = files["1.1-TP-2-EXTEND.trace.json.gz"]
    assert (ext.stage, ext.rank) == ("prefill", 2)
    sa = roots["sa"]
    assert (sa.framework, sa.model) == ("sglang", "Qwen3-30B-A3B")
    assert sa.server_args["chunked_prefill_size"] == 8192


def test_capture_tool_layout(tmp_path):
    """pipeline/capture writes <out>/<role>/<stage>/ with capture.json (files + ranks)."""
    for role in ("mapping", "formal"):
        stage_dir = tmp_path / "Qwen__Qwen3-8B" / "sglang" / role / "prefill"
        names = [f"triage-prefill-TP-{i}.trace.json.gz" for i in (0, 1)] + ["odd.json"]
        for n in names:
            write(stage_dir / n, TINY_TRACE)
        write(stage_dir / "capture.json", {
            "framework": "sglang", "model": "/models/Qwen3-8B", "stage": "decode",
            "role": role, "rank": None, "server_args": {"tp_size": 2}, "files": names,
            "ranks": [0, 1, 5], "tool": "proftriage"})
    roots = discover(tmp_path)
    assert [r.key for r in roots] == ["Qwen__Qwen3-8B/sglang/formal/prefill",
                                      "Qwen__Qwen3-8B/sglang/mapping/prefill"]
    for r in roots:
        assert (r.framework, r.model, r.server_args) == ("sglang", "Qwen3-8B", {"tp_size": 2})
        role = r.key.split("/")[2]
        got = {f.rel_path: (f.role, f.stage, f.rank) for f in r.files}
        # the name's -prefill suffix beats capture.json's stage; ranks come from the list
        assert got == {"triage-prefill-TP-0.trace.json.gz": (role, "prefill", 0),
                       "triage-prefill-TP-1.trace.json.gz": (role, "prefill", 1),
                       "odd.json": (role, "decode", 5)}


def test_roles_from_subdirs_and_names(tmp_path):
    pair = tmp_path / "pair"
    write(pair / "mapping" / "1.1-TP-0-DECODE.trace.json.gz", TINY_TRACE)
    write(pair / "formal" / "1.2-TP-0-DECODE.trace.json.gz", TINY_TRACE)
    write(tmp_path / "named" / "run-mapping-1.1-TP-0.trace.json.gz", TINY_TRACE)
    write(tmp_path / "named" / "informal-1.1-TP-1.trace.json.gz", TINY_TRACE)
    roots = {r.key: r for r in discover(tmp_path)}
    assert set(roots) == {"pair", "named"}  # mapping/ formal/ are not roots of their own
    assert {f.rel_path: f.role for f in roots["pair"].files} == {
        "formal/1.2-TP-0-DECODE.trace.json.gz": "formal",
        "mapping/1.1-TP-0-DECODE.trace.json.gz": "mapping"}
    assert {f.rel_path: f.role for f in roots["named"].files} == {
        "run-mapping-1.1-TP-0.trace.json.gz": "mapping",
        "informal-1.1-TP-1.trace.json.gz": "single"}


def test_nested_roots_are_separate(tmp_path):
    write(tmp_path / "a" / "t.json", TINY_TRACE)
    write(tmp_path / "a" / "b" / "u.json", TINY_TRACE)
    write(tmp_path / ".hidden" / "v.json", TINY_TRACE)
    roots = discover(tmp_path)
    assert [(r.key, [f.rel_path for f in r.files]) for r in roots] == [
        ("a", ["t.json"]), ("a/b", ["u.json"])]
    assert discover_root(tmp_path / "a", tmp_path).key == "a"
    assert discover_root(tmp_path / "a" / "b").key == "b"
    assert discover_root(tmp_path) is None


def test_data_root_itself_a_root(tmp_path):
    write(tmp_path / "vllm" / "t.json", TINY_TRACE)
    (root,) = discover(tmp_path / "vllm")
    assert (root.key, root.framework) == ("vllm", "vllm")


def test_key_sanitising(tmp_path):
    write(tmp_path / "run a|b,c [x]...y" / "t.json", TINY_TRACE)
    write(tmp_path / "run_a_b_c_x_y" / "t.json", TINY_TRACE)  # collides after sanitising
    keys = [r.key for r in discover(tmp_path)]
    assert keys[0] == "run_a_b_c_x_y"
    assert keys[1].startswith("run_a_b_c_x_y~") and len(keys[1]) == len(keys[0]) + 9
    for k in keys:
        assert not any(bad in k for bad in ("|", ",", "[", "]", "...", " "))
    assert sanitize_key("a\tb\nc") == "a_b_c"


def test_fingerprints_stat_only(tmp_path):
    path = write(tmp_path / "r" / "t.json", TINY_TRACE)
    (first,) = discover(tmp_path)
    (again,) = discover(tmp_path)
    assert first.fingerprint == again.fingerprint
    assert first.files[0].fingerprint == again.files[0].fingerprint
    os.utime(path, ns=(1, first.files[0].mtime_ns + 1_000_000))
    (touched,) = discover(tmp_path)
    assert touched.files[0].fingerprint != first.files[0].fingerprint
    assert touched.fingerprint != first.fingerprint


def test_missing_or_bad_data_root(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(DiscoveryError, match="nope"):
        discover(missing)
    afile = write(tmp_path / "afile.json", TINY_TRACE)
    with pytest.raises(DiscoveryError, match="not a directory"):
        discover(afile)


def test_unreadable_subdir_is_a_warning(tmp_path):
    write(tmp_path / "ok" / "t.json", TINY_TRACE)
    locked = tmp_path / "locked"
    write(locked / "u.json", TINY_TRACE)
    locked.chmod(0)
    try:
        really_unreadable = not os.access(locked, os.R_OK | os.X_OK)
        roots, warnings = discover_with_warnings(tmp_path)
    finally:
        locked.chmod(0o755)
    if really_unreadable:
        assert [r.key for r in roots] == ["ok"]
        assert len(warnings) == 1 and str(locked) in warnings[0]
    else:  # running as root: chmod does not lock us out; the walk must still be complete
        assert [r.key for r in roots] == ["locked", "ok"] and warnings == []


def test_unreadable_subdir_warning_simulated(tmp_path, monkeypatch):
    """Same as above when running as root: make scandir refuse one directory."""
    write(tmp_path / "ok" / "t.json", TINY_TRACE)
    locked = write(tmp_path / "locked" / "u.json", TINY_TRACE).parent
    real_scandir = os.scandir

    def refusing(path="."):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(walk.os, "scandir", refusing)
    roots, warnings = discover_with_warnings(tmp_path)
    assert [r.key for r in roots] == ["ok"]
    assert warnings == [f"unreadable directory skipped: {locked}: Permission denied"]


def test_inspect_file(tmp_path):
    real = TRACES / "sglang/qwen3-8b-mi300x-decode-graph-bs32/sglang_Qwen3-8B_decode.json.gz"
    f = inspect_file(real)
    assert (f.kind, f.framework, f.stage, f.model, f.status) == (
        "kineto", "sglang", "decode", "Qwen3-8B", "ok")
    junk = write(tmp_path / "junk.json", {"a": 1})
    assert inspect_file(junk).status == "rejected"
    with pytest.raises(DiscoveryError, match="missing.json"):
        inspect_file(tmp_path / "missing.json")


# ------------------------------------------------------------------ TokenSpeed (issue 22)

# What a TokenSpeed torch-profiler trace carries (lightseekorg/tokenspeed): Python frames under the
# package python/tokenspeed/ (runtime/engine/event_loop.py runs the scheduler loop), kernel-package
# frames under tokenspeed_kernel/, and the scheduler's process title tokenspeed::scheduler_<dp>.
TOKENSPEED_TRACE = {"schemaVersion": 1, "traceEvents": [
    {"ph": "M", "name": "process_name", "pid": 7, "args": {"name": "tokenspeed::scheduler_0"}},
    {"ph": "X", "cat": "python_function", "pid": 7, "tid": 7, "ts": 1, "dur": 9,
     "name": "/opt/tokenspeed/python/tokenspeed/runtime/engine/event_loop.py(1264): event_loop"},
    {"ph": "X", "cat": "python_function", "pid": 7, "tid": 7, "ts": 2, "dur": 5,
     "name": "tokenspeed_kernel/ops/attention/tokenspeed_mla/decode.py(88): tokenspeed_mla_decode"},
    {"ph": "X", "cat": "kernel", "pid": 0, "tid": 7, "ts": 3, "dur": 1, "name": "k"},
]}


@pytest.mark.parametrize("name", ["capture_a.json.gz", "profile.trace.json.gz", "rank0.json"])
def test_tokenspeed_recognised_from_its_frames_and_process_names(tmp_path, name):
    write(tmp_path / "runs" / "r1" / name, TOKENSPEED_TRACE)
    (root,) = discover(tmp_path)
    assert root.framework == "tokenspeed" and root.files[0].framework == "tokenspeed"


def test_tokenspeed_frames_win_over_a_sglang_kernel_package_mention(tmp_path):
    """A TokenSpeed trace may call sgl_kernel ops; those frames are not SGLang markers."""
    trace = json.loads(json.dumps(TOKENSPEED_TRACE))
    trace["traceEvents"].append({"ph": "X", "cat": "python_function", "pid": 7, "tid": 7, "ts": 4, "dur": 1,
                                 "name": "site-packages/sgl_kernel/elementwise.py(40): rmsnorm"})
    write(tmp_path / "r" / "t.json.gz", trace)
    assert discover(tmp_path)[0].framework == "tokenspeed"


def test_tokenspeed_native_tp_names_with_server_args(tmp_path):
    """TokenSpeed's own profiler names files <profile_id>-TP-<rank>.trace.json.gz, the SGLang shape;
    its server_args.json (TokenSpeed-only keys) decides, as for any framework (without a sidecar its
    content does: tests/test_discover_identity.py)."""
    root_dir = tmp_path / "ts-run"
    write(root_dir / "server_args.json", {"model_path": "deepseek-ai/DeepSeek-V3", "attn_tp_size": 8,
                                          "moe_tp_size": 8, "enable_mla_l1_5_cache": False})
    write(root_dir / "1780000000.1-TP-0-DECODE.trace.json.gz", TOKENSPEED_TRACE)
    (root,) = discover(tmp_path)
    (f,) = root.files
    assert (root.framework, f.framework, f.stage, f.rank) == ("tokenspeed", "tokenspeed", "decode", 0)


def test_tokenspeed_recognised_without_runtime_frames(tmp_path):
    """No python/tokenspeed/ frame in the sniffed head: the process title and kernel-package frames decide."""
    trace = {"schemaVersion": 1, "traceEvents": [
        e for e in TOKENSPEED_TRACE["traceEvents"] if "tokenspeed/runtime" not in e["name"]]}
    assert "tokenspeed/" not in json.dumps(trace)
    write(tmp_path / "r" / "t.json", trace)
    assert discover(tmp_path)[0].framework == "tokenspeed"
