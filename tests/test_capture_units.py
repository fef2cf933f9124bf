"""Unit tests for capture helpers: waiting rules, workload, payloads, manifest, TRT-LLM patch."""

from __future__ import annotations

import gzip
import json
import threading
import time
from pathlib import Path

import pytest

from pipeline.capture import frameworks as fwk
from pipeline.capture.errors import CaptureError
from pipeline.capture.generate import Answer, answer_text
from pipeline.capture.manifest import read_manifest, single_rank, write_manifest
from pipeline.capture.probe import require_answers, summarize
from pipeline.capture.wait import WaitSpec, incomplete_reason, snapshot, wait_for_traces
from pipeline.capture.workload import Prompts, plan

GLOBS = ["*.json", "*.json.gz"]
DOC = json.dumps({"traceEvents": [{"name": "k", "ph": "X", "ts": 1, "dur": 2}]}).encode()


def _spec(d: Path, **kw) -> WaitSpec:
    base = dict(directory=d, globs=GLOBS, before=snapshot(d, GLOBS), route="POST /stop_profile",
                timeout=1.5, poll=0.05, settle=0.2)
    base.update(kw)
    return WaitSpec(**base)


# ---------------------------------------------------------------- completeness


def test_complete_gzip_and_json(tmp_path: Path) -> None:
    (tmp_path / "a.json.gz").write_bytes(gzip.compress(DOC))
    (tmp_path / "b.json").write_bytes(DOC + b"\n  ")
    assert incomplete_reason(tmp_path / "a.json.gz") is None
    assert incomplete_reason(tmp_path / "b.json") is None


def test_multi_member_gzip_is_complete(tmp_path: Path) -> None:
    half = len(DOC) // 2
    (tmp_path / "m.json.gz").write_bytes(gzip.compress(DOC[:half]) + gzip.compress(DOC[half:]))
    assert incomplete_reason(tmp_path / "m.json.gz") is None


def test_incomplete_reasons(tmp_path: Path) -> None:
    gz = gzip.compress(DOC * 50)
    (tmp_path / "p.json.gz").write_bytes(gz[: len(gz) // 2])
    (tmp_path / "q.json").write_bytes(DOC[:-3])
    (tmp_path / "r.json").write_bytes(b"")
    (tmp_path / "s.json").write_bytes(b'{"a": }')
    assert incomplete_reason(tmp_path / "p.json.gz") == "gzip trailer missing"
    assert "not closed" in incomplete_reason(tmp_path / "q.json")
    assert incomplete_reason(tmp_path / "r.json") == "empty file"
    assert "does not parse" in incomplete_reason(tmp_path / "s.json")


# ---------------------------------------------------------------- waiting


def test_old_files_do_not_count(tmp_path: Path) -> None:
    (tmp_path / "old.json.gz").write_bytes(gzip.compress(DOC))
    with pytest.raises(CaptureError, match=r"no new trace in .* after 0.3 s"):
        wait_for_traces(_spec(tmp_path, timeout=0.3))


def test_waits_for_slow_writer(tmp_path: Path) -> None:
    data = gzip.compress(DOC * 100)
    spec = _spec(tmp_path)

    def writer() -> None:
        with open(tmp_path / "t-TP-0.trace.json.gz", "wb") as fh:
            fh.write(data[:10])
            fh.flush()
            time.sleep(0.3)
            fh.write(data[10:])

    t = threading.Thread(target=writer)
    t.start()
    try:
        files = wait_for_traces(spec)
    finally:
        t.join(timeout=2)
    assert [f.name for f in files] == ["t-TP-0.trace.json.gz"]
    assert incomplete_reason(files[0]) is None


def test_partial_file_named_on_timeout(tmp_path: Path) -> None:
    spec = _spec(tmp_path, timeout=0.4)
    gz = gzip.compress(DOC * 50)
    (tmp_path / "a.json.gz").write_bytes(gz[:20])
    with pytest.raises(CaptureError) as err:
        wait_for_traces(spec)
    msg = str(err.value)
    assert str(tmp_path) in msg and "POST /stop_profile" in msg
    assert "saw 1 partial file a.json.gz (gzip trailer missing)" in msg


def test_expected_ranks(tmp_path: Path) -> None:
    rank = lambda n: int(n.split("-TP-")[1][0]) if "-TP-" in n else None  # noqa: E731
    spec = _spec(tmp_path, expected_ranks=2, rank_of=rank, timeout=0.5, settle=0.05)
    (tmp_path / "x-TP-0.trace.json.gz").write_bytes(gzip.compress(DOC))
    with pytest.raises(CaptureError, match=r"only ranks \[0\] of 2 expected"):
        wait_for_traces(spec)
    spec = _spec(tmp_path, expected_ranks=2, rank_of=rank)
    (tmp_path / "y-TP-0.trace.json.gz").write_bytes(gzip.compress(DOC))
    (tmp_path / "y-TP-1.trace.json.gz").write_bytes(gzip.compress(DOC))
    assert len(wait_for_traces(spec)) == 2


def test_elsewhere_named_on_timeout(tmp_path: Path) -> None:
    watch, other = tmp_path / "watch", tmp_path / "server"
    watch.mkdir()
    other.mkdir()
    spec = _spec(watch, timeout=0.3, elsewhere=[other], elsewhere_before={str(other): {}})
    (other / "r.pt.trace.json.gz").write_bytes(gzip.compress(DOC))
    with pytest.raises(CaptureError, match="appeared elsewhere: .*r.pt.trace.json.gz"):
        wait_for_traces(spec)


# ---------------------------------------------------------------- workload / payloads


def test_prompts_unique_and_sized() -> None:
    p, q = Prompts(), Prompts()
    a, b = p.next(5), p.next(5)
    assert a != b and a.split()[0] != b.split()[0] and len(a.split()) == 5
    assert q.next(5).split()[0] != a.split()[0]  # another run, another nonce


def test_stage_plans() -> None:
    pre = plan("prefill", num_steps=4, warmup=2, prefill_input_len=100, decode_input_len=8,
               decode_output_len=64)
    dec = plan("decode", num_steps=4, warmup=2, prefill_input_len=100, decode_input_len=8,
               decode_output_len=64)
    assert (pre.input_len, pre.output_len, pre.requests, pre.warmup_requests) == (100, 1, 4, 2)
    assert (dec.input_len, dec.output_len, dec.requests) == (8, 64, 1)
    with pytest.raises(ValueError):
        plan("mixed", num_steps=1, warmup=0, prefill_input_len=1, decode_input_len=1,
             decode_output_len=1)


def test_start_payloads() -> None:
    kw = dict(output_dir="/o", num_steps=5, stage="prefill", prefix="pt")
    sg = fwk.start_payload(fwk.framework("sglang"), **kw)
    assert sg == {"output_dir": "/o", "num_steps": 6, "activities": ["CPU", "GPU"],
                  "with_stack": True, "record_shapes": True, "profile_by_stage": False,
                  "profile_prefix": "pt-prefill"}
    assert fwk.start_payload(fwk.framework("vllm"), **kw) == {"profile_prefix": "pt-prefill"}
    trt = fwk.start_payload(fwk.framework("trtllm"), **kw)
    assert trt == {"output_dir": "/o", "num_steps": 5, "activities": ["CPU", "GPU"]}
    ts = fwk.start_payload(fwk.framework("tokenspeed"), **kw)
    assert ts["profile_id"] == "pt-prefill" and ts["with_stack"] is True
    with pytest.raises(CaptureError, match="unknown framework"):
        fwk.framework("ollama")


def test_server_info_helpers() -> None:
    vllm = fwk.framework("vllm")
    info = {"vllm_config": "model='m', tensor_parallel_size=2, pipeline_parallel_size=1, "
                           "profiler_config=ProfilerConfig(torch_profiler_dir='/srv/t')"}
    assert fwk.find_value(info, "torch_profiler_dir") == "/srv/t"
    assert fwk.expected_ranks(vllm, info) == 2
    assert fwk.expected_ranks(fwk.framework("sglang"), {"tp_size": 4, "pp_size": 2}) == 8
    assert fwk.expected_ranks(vllm, None) is None
    assert fwk.rank_of(vllm, "pre_dp0_pp0_tp1_dcp0_ep0_rank1.123.pt.trace.json.gz") == 1
    assert fwk.rank_of(fwk.framework("trtllm"), "trtllm-trace-1-ab-rank-3.json") == 3
    assert fwk.rank_of(fwk.framework("sglang"), "p-1.5-TP-2-DECODE.trace.json.gz") == 2


# ---------------------------------------------------------------- probe


def test_answer_fields_include_reasoning() -> None:
    data = {"choices": [{"text": "", "message": {"content": "", "reasoning_content": "think"}}]}
    assert answer_text(data) == ("think", "reasoning_content")
    assert answer_text({"text": "hi"}) == ("hi", "text")
    assert answer_text({"choices": [{"text": "  "}]}) == ("", None)


def test_summary_and_refusal() -> None:
    answers = [Answer(True, 0.1 * i, "x", "text") for i in range(1, 21)]
    rep = {"framework": "sglang", "url": "u", **summarize(answers)}
    assert rep["successes"] == 20 and rep["all_non_empty"] and rep["latency_p95_s"] == 1.9
    assert len(rep["samples"]) == 3
    require_answers(rep)
    empty = {"framework": "sglang", "url": "u", **summarize([Answer(True, 0.1, "")])}
    with pytest.raises(CaptureError, match="only empty answers"):
        require_answers(empty)
    errs = {"framework": "sglang", "url": "u", **summarize([Answer(False, 0.1, error="HTTP 500")])}
    with pytest.raises(CaptureError, match="answered none of 1 probe requests \\(HTTP 500\\)"):
        require_answers(errs)


# ---------------------------------------------------------------- manifest


def test_manifest_roundtrip(tmp_path: Path) -> None:
    rec = {k: None for k in ("framework", "model", "stage", "role", "rank", "server_args",
                             "server_info", "workload", "started_at", "finished_at")}
    rec["files"] = ["a.json.gz"]
    write_manifest(tmp_path, rec)
    got = read_manifest(tmp_path)
    assert got["tool"] == "proftriage" and got["files"] == ["a.json.gz"]
    with pytest.raises(ValueError):
        write_manifest(tmp_path, {"framework": "x"})
    assert single_rank([0, 0]) == 0 and single_rank([0, 1]) is None and single_rank([]) is None
