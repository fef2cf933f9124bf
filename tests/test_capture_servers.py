"""Capture against loopback fake servers: happy paths per framework and every failure mode."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from pipeline.capture import CaptureConfig, CaptureError, capture_from_matrix_entry, run_capture
from pipeline.capture.cli import register
from pipeline.capture.manifest import read_manifest
from pipeline.capture.wait import incomplete_reason
from tests.fakeservers import SGLangServer, TokenSpeedServer, TRTLLMServer, VLLMServer

FAST = dict(timeout=2.0, poll=0.05, settle=0.2, request_timeout=3.0, warmup=1, num_steps=2,
            prefill_input_len=32, decode_input_len=4, decode_output_len=8, probe_requests=2,
            log=lambda _m: None)


def _cfg(fw: str, out: Path, **kw) -> CaptureConfig:
    return CaptureConfig(framework=fw, output_dir=out, **{**FAST, **kw})


def _check_root(root: Path, framework: str, role: str, stage: str) -> dict:
    man = read_manifest(root)
    assert man["framework"] == framework and man["role"] == role and man["stage"] == stage
    assert man["tool"] == "proftriage" and man["files"]
    for name in man["files"]:
        assert (root / name).is_file() and incomplete_reason(root / name) is None
    assert {"server_args", "server_info", "workload", "started_at", "finished_at",
            "model", "rank"} <= set(man)
    return man


# ---------------------------------------------------------------- happy paths


def test_sglang_both_stages(tmp_path: Path) -> None:
    with SGLangServer() as srv:
        roots = run_capture(_cfg("sglang", tmp_path, url=srv.url))
    assert roots == [tmp_path / "prefill", tmp_path / "decode"]
    pre = _check_root(roots[0], "sglang", "single", "prefill")
    dec = _check_root(roots[1], "sglang", "single", "decode")
    assert pre["model"] == "Qwen/Qwen3-8B" and pre["rank"] == 0
    assert pre["server_args"]["tp_size"] == 1
    starts = [b for m, p, b in srv.requests if p == "/start_profile"]
    assert starts[0] == {"output_dir": str(roots[0].resolve()), "num_steps": 3,
                         "activities": ["CPU", "GPU"], "with_stack": True, "record_shapes": True,
                         "profile_by_stage": False, "profile_prefix": "proftriage-prefill"}
    # decode ran past num_steps+1 forwards: the server stopped itself, the stop call was a note
    assert any("tolerated" in n for n in dec["notes"])
    heads = [p.split()[0] for p in srv.prompts]
    assert len(heads) == len(set(heads))  # every prompt unique from its first word
    gens = [b for m, p, b in srv.requests if p == "/generate"]
    prefill_caps = [g for g in gens if g["sampling_params"]["max_new_tokens"] == 1
                    and len(g["text"].split()) == 32]
    assert len(prefill_caps) >= 2
    assert any(g["sampling_params"]["max_new_tokens"] == 8 and len(g["text"].split()) == 4
               for g in gens)


def test_sglang_two_ranks_slow_flush(tmp_path: Path) -> None:
    with SGLangServer(ranks=2, slow_flush=True, flush_delay=0.1) as srv:
        roots = run_capture(_cfg("sglang", tmp_path, url=srv.url, stages=("prefill",)))
    man = _check_root(roots[0], "sglang", "single", "prefill")
    assert len(man["files"]) == 2 and man["rank"] is None and sorted(man["ranks"]) == [0, 1]


def test_sglang_server_info_fallback(tmp_path: Path) -> None:
    with SGLangServer(missing=("/server_info",)) as srv:
        roots = run_capture(_cfg("sglang", tmp_path, url=srv.url, stages=("prefill",)))
    assert read_manifest(roots[0])["server_info_route"] == "/get_server_info"


def test_tokenspeed(tmp_path: Path) -> None:
    with TokenSpeedServer() as srv:
        roots = run_capture(_cfg("tokenspeed", tmp_path, url=srv.url, stages=("decode",)))
    man = _check_root(roots[0], "tokenspeed", "single", "decode")
    assert man["start_payload"]["profile_id"] == "proftriage-decode"
    assert man["files"][0].startswith("proftriage-decode-TP0")


def test_trtllm(tmp_path: Path) -> None:
    with TRTLLMServer(ranks=2) as srv:
        roots = run_capture(_cfg("trtllm", tmp_path, url=srv.url, stages=("prefill",),
                                 expected_ranks=2))
    man = _check_root(roots[0], "trtllm", "single", "prefill")
    assert all(n.startswith("trtllm-trace-") and n.endswith(".json") for n in man["files"])
    assert man["model"] == "Qwen/Qwen3-8B" and sorted(man["ranks"]) == [0, 1]


def test_vllm_follows_reported_dir(tmp_path: Path) -> None:
    server_dir, out = tmp_path / "server", tmp_path / "out"
    server_dir.mkdir()
    with VLLMServer(server_dir) as srv:
        roots = run_capture(_cfg("vllm", out, url=srv.url))
    for root, stage in zip(roots, ("prefill", "decode")):
        man = _check_root(root, "vllm", "single", stage)
        assert man["start_payload"] == {"profile_prefix": f"proftriage-{stage}"}
        assert any("differs from the output dir" in n for n in man["notes"])
        assert man["files"][0].startswith(f"proftriage-{stage}_dp0_pp0_tp0")
    assert not list(server_dir.glob("*.json.gz"))  # moved, not duplicated


def test_vllm_same_dir_and_old_server(tmp_path: Path) -> None:
    with VLLMServer(tmp_path, report_dir=False, accept_body=False, answer_field="reasoning_content") as srv:
        roots = run_capture(_cfg("vllm", tmp_path, url=srv.url, stages=("prefill",)))
    man = _check_root(roots[0], "vllm", "single", "prefill")
    assert man["notes"] == [] and man["model"] == "openai/gpt-oss-20b"
    assert [b for m, p, b in srv.requests if p == "/start_profile"][-1] is None  # retried bare


def test_pair(tmp_path: Path) -> None:
    with SGLangServer() as a, SGLangServer() as b:
        roots = run_capture(_cfg("sglang", tmp_path, mapping_url=a.url, formal_url=b.url))
    # <out>/<stage>/{mapping,formal}: discovery sees one root per stage holding the pair
    assert roots == [tmp_path / "prefill" / "mapping", tmp_path / "decode" / "mapping",
                     tmp_path / "prefill" / "formal", tmp_path / "decode" / "formal"]
    for root in roots:
        _check_root(root, "sglang", root.name, root.parent.name)


def test_matrix_entry(tmp_path: Path) -> None:
    with SGLangServer() as srv:
        entry = {"framework": "sglang", "model": "Qwen/Qwen3-8B", "url": srv.url,
                 "stages": ["decode"], "num_steps": 2}
        fast = {k: v for k, v in FAST.items() if k != "num_steps"}
        roots = capture_from_matrix_entry(entry, tmp_path, **fast)
    assert roots == [tmp_path / "Qwen__Qwen3-8B" / "sglang" / "decode"]
    assert read_manifest(roots[0])["model"] == "Qwen/Qwen3-8B"


# ---------------------------------------------------------------- failures


def test_refuses_rerun_into_same_root(tmp_path: Path) -> None:
    with SGLangServer() as srv:
        run_capture(_cfg("sglang", tmp_path, url=srv.url, stages=("prefill",)))
        with pytest.raises(CaptureError, match="already holds traces"):
            run_capture(_cfg("sglang", tmp_path, url=srv.url, stages=("prefill",)))


@pytest.mark.parametrize("kw,needle", [
    (dict(empty_answers=True), "only empty answers"),
    (dict(fail={"/generate": 500}), "answered none of 2 probe requests (POST /generate HTTP 500"),
])
def test_refuses_silent_server(tmp_path: Path, kw: dict, needle: str) -> None:
    with SGLangServer(**kw) as srv:
        with pytest.raises(CaptureError) as err:
            run_capture(_cfg("sglang", tmp_path, url=srv.url))
        assert not any(p == "/start_profile" for _m, p, _b in srv.requests)
    assert needle in str(err.value)


def test_refuses_unreachable(tmp_path: Path) -> None:
    srv = SGLangServer().start()
    url = srv.url
    srv.stop()
    with pytest.raises(CaptureError, match="answered none of 2 probe requests"):
        run_capture(_cfg("sglang", tmp_path, url=url, request_timeout=0.5))


def test_start_route_missing_trtllm(tmp_path: Path) -> None:
    with TRTLLMServer(missing=("/start_profile", "/stop_profile")) as srv:
        with pytest.raises(CaptureError) as err:
            run_capture(_cfg("trtllm", tmp_path, url=srv.url))
    msg = str(err.value)
    assert "/start_profile answered HTTP 404" in msg
    assert "TLLM_PROFILE_START_STOP" in msg and "TLLM_TORCH_PROFILE_TRACE" in msg


def test_start_route_500(tmp_path: Path) -> None:
    with SGLangServer(fail={"/start_profile": 500}) as srv:
        with pytest.raises(CaptureError, match="answered HTTP 500: .*injected failure"):
            run_capture(_cfg("sglang", tmp_path, url=srv.url))


def test_never_flushes(tmp_path: Path) -> None:
    with SGLangServer(never_flush=True) as srv:
        with pytest.raises(CaptureError) as err:
            run_capture(_cfg("sglang", tmp_path, url=srv.url, timeout=0.5))
    assert f"no new trace in {tmp_path / 'prefill'} after 0.5 s" in str(err.value)
    assert "/start_profile" in str(err.value)


def test_partial_never_completes(tmp_path: Path) -> None:
    with SGLangServer(partial_forever=True) as srv:
        with pytest.raises(CaptureError) as err:
            run_capture(_cfg("sglang", tmp_path, url=srv.url, timeout=0.6))
    assert "partial file" in str(err.value) and "(gzip trailer missing)" in str(err.value)


def test_vllm_wrong_output_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server_dir, out = tmp_path / "server", tmp_path / "out"
    server_dir.mkdir()
    monkeypatch.setenv("VLLM_TORCH_PROFILER_DIR", str(server_dir))
    with VLLMServer(server_dir, report_dir=False) as srv:
        with pytest.raises(CaptureError) as err:
            run_capture(_cfg("vllm", out, url=srv.url, timeout=0.6))
    msg = str(err.value)
    assert f"no new trace in {out}" in msg
    assert "appeared elsewhere: " + str(server_dir) in msg


def test_vllm_reported_dir_invisible(tmp_path: Path) -> None:
    with VLLMServer(tmp_path / "not-mounted") as srv:
        with pytest.raises(CaptureError, match="not visible here"):
            run_capture(_cfg("vllm", tmp_path / "out", url=srv.url))


def test_config_errors(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="both --mapping-url and --formal-url"):
        run_capture(_cfg("sglang", tmp_path, mapping_url="http://127.0.0.1:1"))
    with pytest.raises(CaptureError, match="no server"):
        run_capture(_cfg("sglang", tmp_path))


# ---------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="proftriage")
    register(parser.add_subparsers(dest="cmd", required=True))
    return parser


def test_cli_capture_and_probe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with SGLangServer() as srv:
        args = _parser().parse_args([
            "capture", "--framework", "sglang", "--url", srv.url, "--output-dir", str(tmp_path),
            "--stages", "prefill", "--num-steps", "1", "--warmup", "0", "--wait-timeout", "3",
            "--prefill-input-len", "8"])
        assert args.func(args) == 0
        assert capsys.readouterr().out.strip() == str(tmp_path / "prefill")
        args = _parser().parse_args(["probe", "--framework", "sglang", "--url", srv.url,
                                     "--requests", "4", "--json"])
        assert args.func(args) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["successes"] == 4 and rep["all_non_empty"] and rep["latency_p95_s"] is not None
    assert rep["samples"][0]["text"] == "The answer is four."


def test_cli_probe_empty_and_bad_stage(capsys: pytest.CaptureFixture[str]) -> None:
    with SGLangServer(empty_answers=True) as srv:
        args = _parser().parse_args(["probe", "--framework", "sglang", "--url", srv.url])
        assert args.func(args) == 1
    assert "all_non_empty=False" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        _parser().parse_args(["capture", "--framework", "sglang", "--url", "u",
                              "--output-dir", "o", "--stages", "mixed"])


def test_discovery_reads_capture_roots(tmp_path: Path) -> None:
    discover = pytest.importorskip("pipeline.discover")
    server_dir = tmp_path / "vllm-server"
    server_dir.mkdir()
    with SGLangServer(ranks=2) as a, SGLangServer() as b, VLLMServer(server_dir) as v:
        run_capture(_cfg("sglang", tmp_path / "data" / "pair", mapping_url=a.url,
                         formal_url=b.url, stages=("prefill",)))
        run_capture(_cfg("vllm", tmp_path / "data" / "v", url=v.url, stages=("decode",)))
    roots = {r.key: r for r in discover.discover(tmp_path / "data")}
    assert set(roots) == {"pair/prefill", "v/decode"}  # one root per stage holds the pair
    pair = roots["pair/prefill"]
    assert pair.framework == "sglang" and pair.model == "Qwen/Qwen3-8B"
    assert sorted((f.stage, f.role, f.rank) for f in pair.files) == [
        ("prefill", "formal", 0), ("prefill", "mapping", 0), ("prefill", "mapping", 1)]
    vfile = roots["v/decode"].files[0]
    assert (roots["v/decode"].framework, vfile.stage, vfile.role) == ("vllm", "decode", "single")
