"""What a trace says about itself (issue 22 item 5): a lone file's framework, model and run, operator
namespaces in the sniffed head, and TokenSpeed content over SGLang's shared file-name shape."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import orjson
import pytest

from pipeline.cli import main
from pipeline.discover import discover, pair_root, resolve_inputs, sniff
from pipeline.discover.sniffing import SNIFF_BYTES
from pipeline.paths import read_catalog
from tests.conftest import TRACES
from tracegen import SGLANG_PROFILE_ID, ModelSpec, make_pair, make_trace, sglang_rank_file, write_trace
from tracegen.variants import kineto_order, tokenspeed_trace, without_stacks

# Every content marker of the catalog's first tier (frame paths, process and thread names).
FIRST_TIER = [m for ms in read_catalog("discovery.toml")["content_markers"].values() for m in ms]


def head_text(path: Path) -> str:
    """The first SNIFF_BYTES of the decompressed file, read here without discovery's code."""
    raw = path.read_bytes()
    return (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)[:SNIFF_BYTES].decode("utf-8", "replace")


def lone_copy(src: Path, folder: Path, name: str | None = None) -> Path:
    """`src` copied under `folder` (a neutral name: no framework, no model) as `name`."""
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(src, folder / (name or src.name)))


def lone(path: Path):
    (root,) = resolve_inputs([path])
    (tf,) = root.files
    return root, tf


# ------------------------------------------------------------------ a lone file (`triage --input FILE`)

# file under tests/data/traces → (framework, model) when given alone from a folder named "peer". Read off
# the raw files: the model only where the file name holds one; the framework from the name, else from the
# first 64 KiB (offsets of the first evidence measured on the decompressed text).
LONE_REAL = {
    "sglang/qwen3-8b-mi300x-decode-graph-bs32/sglang_Qwen3-8B_decode.json.gz": ("sglang", "Qwen3-8B"),
    "sglang/qwen3-8b-mi300x-extend-eager-bs15/sglang_Qwen3-8B_prefilldecode.json.gz": ("sglang", "Qwen3-8B"),
    # vllm/v1/ frames from 44 KB on
    "vllm/gpt-oss-20b-mi300x-decode-fullgraph-bs32/graph_execution.json.gz": ("vllm", None),
    # no vLLM frame in the head; "name": "vllm::unified_attention_with_output" at 40 KB
    "vllm/gpt-oss-20b-mi300x-mixed-piecewisegraph/graph_execution.json.gz": ("vllm", None),
    # the head holds only aten ops and a step annotation SGLang writes too; first vllm:: op at 262 KB
    "vllm/gpt-oss-120b-b200-tp8-eager-prefill-rank0/eager_trace.json.gz": ("unknown", None),
    "hf-transformers/qwen1.5-0.5b-chat-h100-bs16-forward/Qwen_Qwen1.5-0.5B-Chat__1016005.json.gz":
        ("unknown", "Qwen1.5-0.5B-Chat"),
    "other/hta-ns-resolution-v100-resnet-training/rank-0.Apr_03_18_51_38.1102.pt.trace.json.gz": ("unknown", None),
}


@pytest.mark.parametrize("rel", sorted(LONE_REAL))
def test_lone_real_file_takes_nothing_from_its_folder_name(tmp_path, rel):
    framework, model = LONE_REAL[rel]
    root, tf = lone(lone_copy(TRACES / rel, tmp_path / "peer"))
    assert (root.framework, root.model, root.run) == (framework, model, None)
    assert (tf.framework, tf.model, root.status, root.key) == (framework, model, "ok", f"peer/{Path(rel).name}")


def test_lone_sglang_file_with_a_neutral_name_is_sglang_by_its_frames(tmp_path):
    """The issue's case: an SGLang trace given as /some/dir/x.json.gz, its frames all sglang/srt/…"""
    src = TRACES / "sglang/qwen3-8b-mi300x-decode-graph-bs32/sglang_Qwen3-8B_decode.json.gz"
    assert "sglang/srt/" in head_text(src)
    root, tf = lone(lone_copy(src, tmp_path / "peer", "x.json.gz"))
    assert (root.framework, root.model, root.run, tf.stage) == ("sglang", None, None, "unknown")


def test_lone_file_evidence_is_where_the_table_says(tmp_path):
    """The reasons in LONE_REAL hold for the raw files."""
    vllm = TRACES / "vllm"
    piecewise = head_text(vllm / "gpt-oss-20b-mi300x-mixed-piecewisegraph/graph_execution.json.gz")
    assert '"name": "vllm::unified_attention_with_output"' in piecewise
    assert not any(m in piecewise for m in FIRST_TIER)
    eager = head_text(vllm / "gpt-oss-120b-b200-tp8-eager-prefill-rank0/eager_trace.json.gz")
    assert "vllm" not in eager.lower() and not any(m in eager for m in FIRST_TIER)


def test_lone_file_sidecars_still_name_model_and_run(tmp_path):
    path = lone_copy(TRACES / "other/gpu-only-mi210-no-cpu-events/gpu_only_trace.json.gz", tmp_path / "peer")
    (path.parent / "proftriage.toml").write_text('framework = "vllm"\nmodel = "openai/gpt-oss-20b"\nrun = "n7"\n')
    root, tf = lone(path)
    assert (root.framework, root.model, root.run, tf.model) == ("vllm", "openai/gpt-oss-20b", "n7", "openai/gpt-oss-20b")
    (path.parent / "proftriage.toml").unlink()
    (path.parent / "capture.json").write_text('{"framework": "sglang", "model": "/models/Qwen3-8B", "run": "c1"}')
    root, _ = lone(path)
    assert (root.framework, root.model, root.run) == ("sglang", "Qwen3-8B", "c1")


def test_lone_file_framework_from_a_folder_alias_but_no_model(tmp_path):
    """A folder named like a framework still says the framework; a folder name never says the model."""
    src = TRACES / "other/hta-ns-resolution-v100-resnet-training/rank-0.Apr_03_18_51_38.1102.pt.trace.json.gz"
    root, tf = lone(lone_copy(src, tmp_path / "vllm" / "gpt-oss-20b-h100-tp1"))
    assert (root.framework, root.model, root.run, tf.rank) == ("vllm", None, None, 0)


def test_a_folder_given_as_a_root_keeps_its_name_as_model_and_run(tmp_path):
    src = TRACES / "other/hta-ns-resolution-v100-resnet-training/rank-0.Apr_03_18_51_38.1102.pt.trace.json.gz"
    path = lone_copy(src, tmp_path / "gpt-oss-20b-h100-tp1")
    (root,) = resolve_inputs([path.parent])
    assert (root.model, root.run) == ("gpt-oss-20b", "gpt-oss-20b-h100-tp1")


def test_pair_of_lone_files_takes_nothing_from_folder_names(tmp_path):
    mapping, formal, _ = make_pair(ModelSpec(layers=2), steps=2)
    m = write_trace(mapping, tmp_path / "Llama-8B-h100" / "m.json.gz")
    f = write_trace(formal, tmp_path / "Llama-8B-h100" / "f.json.gz")
    root = pair_root(m, f)
    assert (root.framework, root.model, root.run) == ("sglang", None, None)
    assert [(x.role, x.model) for x in root.files] == [("mapping", None), ("formal", None)]


def test_triage_json_of_a_lone_file_has_null_model_and_run(tmp_path):
    src = TRACES / "sglang/qwen3-8b-mi300x-decode-graph-bs32/sglang_Qwen3-8B_decode.json.gz"
    path = lone_copy(src, tmp_path / "peer", "x.json.gz")
    assert main(["triage", "--input", str(path), "--format", "json", "--output-dir", str(tmp_path / "out"), "-q"]) == 0
    doc = orjson.loads((tmp_path / "out" / "triage.json").read_bytes())
    assert {k: doc["root"][k] for k in ("framework", "model", "run")} == {"framework": "sglang", "model": None,
                                                                          "run": None}


# ------------------------------------------------------------------ operator namespaces (catalog op_namespaces)

def test_op_namespace_sglang_from_real_cpu_ops(tmp_path):
    """The SGLang MI300X extend trace's CPU ops without its sglang_profiler:: ranges (a first-tier
    marker): sglang::store_cache among aten::, aiter::, sgl_kernel:: ops says SGLang."""
    src = TRACES / "sglang/qwen3-8b-mi300x-extend-eager-bs15/sglang_Qwen3-8B_prefilldecode.json.gz"
    obj = orjson.loads(gzip.decompress(src.read_bytes()))
    obj["traceEvents"] = [e for e in obj["traceEvents"]
                          if e.get("cat") == "cpu_op" and not e["name"].startswith("sglang_profiler::")]
    path = write_trace(obj, tmp_path / "peer" / "ops.json.gz")
    head = head_text(path)
    assert '"name":"sglang::store_cache"' in head and not any(m in head for m in FIRST_TIER)
    assert lone(path)[0].framework == "sglang"


def test_op_namespace_vllm_from_a_real_trace(tmp_path):
    src = TRACES / "vllm/gpt-oss-20b-mi300x-mixed-piecewisegraph/graph_execution.json.gz"
    (root,) = discover(lone_copy(src, tmp_path / "data" / "run1").parent.parent)
    assert root.framework == "vllm"


def test_op_namespace_trtllm_without_stacks(tmp_path):
    """A TRT-LLM trace captured without Python stacks: only its trtllm:: ops name it."""
    obj = kineto_order(without_stacks(make_trace(ModelSpec(layers=2, framework="trtllm"), steps=2)))
    path = write_trace(obj, tmp_path / "peer" / "t.json.gz")
    head = head_text(path)
    assert '"name":"trtllm::' in head and not any(m in head for m in FIRST_TIER)
    assert lone(path)[0].framework == "trtllm"


def test_op_namespace_only_at_the_start_of_a_name(tmp_path):
    """Kernel names carry C++ namespaces inside: the SGLang MI300X decode trace's aiter kernel
    `(vllm::Fp8KVCacheDataType)` and the vLLM B200 trace's `tensorrt_llm::kernels::` are not ops."""
    kernels = []
    for rel, needle in (("sglang/qwen3-8b-mi300x-decode-graph-bs32/sglang_Qwen3-8B_decode.json.gz", "(vllm::"),
                        ("vllm/gpt-oss-120b-b200-tp8-eager-prefill-rank0/eager_trace.json.gz", "tensorrt_llm::")):
        events = orjson.loads(gzip.decompress((TRACES / rel).read_bytes()))["traceEvents"]
        kernels.append(next(e for e in events if e.get("cat") == "kernel" and needle in e["name"]))
    path = write_trace({"schemaVersion": 1, "traceEvents": kernels}, tmp_path / "peer" / "k.json")
    assert sniff(path) == "kineto" and lone(path)[0].framework == "unknown"


def test_frames_win_over_op_namespaces(tmp_path):
    """An SGLang trace that calls vllm:: ops (sgl_kernel:: respelled): its sglang/srt frames decide."""
    obj = make_trace(ModelSpec(layers=2), steps=2)
    for e in obj["traceEvents"]:
        if e.get("cat") == "cpu_op" and e["name"].startswith("sgl_kernel::"):
            e["name"] = "vllm::" + e["name"].split("::", 1)[1]
    path = write_trace(obj, tmp_path / "peer" / "s.json.gz")
    head = head_text(path)
    assert head.count('"name":"vllm::') > 0 and "sglang/srt/" in head
    assert lone(path)[0].framework == "sglang"


def test_op_namespace_entries_cite_their_source():
    entries = read_catalog("discovery.toml")["op_namespaces"]
    assert {e["framework"] for e in entries} == {"sglang", "vllm", "trtllm"}
    assert all(e["source"].split()[0] in ("sgl-project/sglang", "vllm-project/vllm", "NVIDIA/TensorRT-LLM")
               for e in entries)


# ------------------------------------------------------------------ TokenSpeed behind SGLang's name shape

TS_NAME = sglang_rank_file(SGLANG_PROFILE_ID, 1, stage="DECODE")  # TokenSpeed's profiler writes this shape


def _tokenspeed(tmp_path: Path, name: str = TS_NAME) -> Path:
    obj = kineto_order(tokenspeed_trace(make_trace(ModelSpec(layers=2, rank=1), steps=2)))
    return write_trace(obj, tmp_path / "runs" / "r1" / name)


def test_tokenspeed_content_overrides_the_sglang_tp_name(tmp_path):
    path = _tokenspeed(tmp_path)
    assert "tokenspeed/runtime/" in head_text(path)
    (root,) = discover(tmp_path)
    (tf,) = root.files
    assert (root.framework, tf.framework, tf.stage, tf.rank) == ("tokenspeed", "tokenspeed", "decode", 1)
    assert lone(path)[0].framework == "tokenspeed"


def test_sglang_content_under_the_tp_name_stays_sglang(tmp_path):
    write_trace(kineto_order(make_trace(ModelSpec(layers=2), steps=2)), tmp_path / "runs" / "r1" / TS_NAME)
    assert discover(tmp_path)[0].framework == "sglang"


def test_an_explicit_sglang_name_does_not_yield(tmp_path):
    """`sglang_…` is a user's label, not a shape TokenSpeed writes: the name stands."""
    _tokenspeed(tmp_path, "sglang_Qwen3-8B_decode.json.gz")
    assert discover(tmp_path)[0].framework == "sglang"


def test_a_sidecar_wins_over_tokenspeed_content(tmp_path):
    path = _tokenspeed(tmp_path)
    (path.parent / "server_args.json").write_text('{"chunked_prefill_size": 8192, "attention_backend": "fa3"}')
    assert discover(tmp_path)[0].framework == "sglang"
