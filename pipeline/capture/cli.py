"""Subcommands `capture`, `probe` and `trtllm-with-stack`, registered into the main CLI."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipeline.capture.errors import CaptureError
from pipeline.capture.frameworks import FRAMEWORKS, common
from pipeline.capture.http import command_deadline
from pipeline.capture.probe import probe_server
from pipeline.capture.runner import CaptureConfig, run_capture
from pipeline.capture.trtllm_stack import write_patched
from pipeline.capture.workload import STAGES


def _stages(text: str) -> tuple[str, ...]:
    stages = tuple(s.strip() for s in text.split(",") if s.strip())
    bad = [s for s in stages if s not in STAGES]
    if bad or not stages:
        raise argparse.ArgumentTypeError(f"stages must be a comma list of {', '.join(STAGES)}")
    return stages


def _add_capture(sub: argparse._SubParsersAction) -> None:
    d = common()
    p = sub.add_parser("capture", help="drive a live server's profiler and write trace roots")
    p.add_argument("--framework", required=True, choices=FRAMEWORKS, help="the server's framework")
    p.add_argument("--url", help="server base URL (single capture)")
    p.add_argument("--mapping-url", help="graph-off server for the mapping trace")
    p.add_argument("--formal-url", help="serving-config server for the formal trace")
    p.add_argument("--output-dir", required=True, type=Path, help="folder the trace roots are written under")
    p.add_argument("--stages", type=_stages, default=STAGES, help="prefill,decode (default both)")
    p.add_argument("--num-steps", type=int, default=d["num_steps"], help="profiled steps per stage")
    p.add_argument("--warmup", type=int, default=d["warmup"], help="requests before profiling starts")
    p.add_argument("--prefill-input-len", type=int, default=d["prefill_input_len"],
                   help="prompt tokens of the prefill workload")
    p.add_argument("--decode-output-len", type=int, default=d["decode_output_len"],
                   help="generated tokens of the decode workload")
    p.add_argument("--timeout", type=float, default=1800.0,
                   help="the whole capture ends within this many seconds (exit 2 past it; default 1800)")
    p.add_argument("--wait-timeout", type=float, default=180.0, help="seconds to wait for one stage's traces")
    p.add_argument("--request-timeout", type=float, default=300.0,
                   help="seconds for one HTTP request, connect to last body byte")
    p.add_argument("--model", help="model name for OpenAI routes (default: from the server)")
    p.add_argument("--expected-ranks", type=int, help="rank files to wait for (default: server info)")
    p.add_argument("--server-trace-dir", type=Path,
                   help="vLLM: the server's torch_profiler_dir as seen from here")
    p.add_argument("--profile-by-stage", action="store_true",
                   help="also ask SGLang/TokenSpeed for their own EXTEND/DECODE split")
    p.set_defaults(func=cmd_capture)


def _add_probe(sub: argparse._SubParsersAction) -> None:
    d = common()
    p = sub.add_parser("probe", help="send a few short requests and report answers and latency")
    p.add_argument("--framework", required=True, choices=FRAMEWORKS, help="the server's framework")
    p.add_argument("--url", required=True, help="server base URL")
    p.add_argument("--requests", type=int, default=d["probe_requests"], help="how many short requests")
    p.add_argument("--max-tokens", type=int, default=d["probe_max_tokens"], help="tokens each request generates")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="the whole probe ends within this many seconds (exit 2 past it)")
    p.add_argument("--model", help="model name for OpenAI routes (default: from the server)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_probe)


def _add_trtllm(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("trtllm-with-stack",
                       help="copy TRT-LLM's profiler module with with_stack=True and rank-0 export")
    p.add_argument("--source", required=True, type=Path,
                   help="profiling.py (current) or py_executor.py (older releases)")
    p.add_argument("--output", required=True, type=Path, help="where the patched copy is written")
    p.set_defaults(func=cmd_trtllm_with_stack)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `capture`, `probe` and `trtllm-with-stack` to the main parser's subparsers."""
    _add_capture(subparsers)
    _add_probe(subparsers)
    _add_trtllm(subparsers)


def _fail(err: CaptureError) -> int:
    print(f"error: {err}", file=sys.stderr)
    return 2


def cmd_capture(args: argparse.Namespace) -> int:
    """Run a capture; prints the trace roots written, one per line."""
    cfg = CaptureConfig(
        framework=args.framework, output_dir=args.output_dir, url=args.url,
        mapping_url=args.mapping_url, formal_url=args.formal_url, stages=args.stages,
        num_steps=args.num_steps, warmup=args.warmup, prefill_input_len=args.prefill_input_len,
        decode_output_len=args.decode_output_len, timeout=args.wait_timeout,
        request_timeout=args.request_timeout, deadline=args.timeout, model=args.model,
        expected_ranks=args.expected_ranks, server_trace_dir=args.server_trace_dir,
        profile_by_stage=args.profile_by_stage)
    try:
        roots = run_capture(cfg)
    except CaptureError as err:
        return _fail(err)
    for root in roots:
        print(root)
    return 0


def _render_probe(report: dict) -> str:
    lines = [f"{report['framework']} {report['url']} model={report['model']}",
             f"requests={report['requests']} ok={report['successes']} errors={report['errors']} "
             f"non_empty={report['non_empty']} all_non_empty={report['all_non_empty']}",
             f"latency mean={report['latency_mean_s']} s p95={report['latency_p95_s']} s"]
    for s in report["samples"]:
        lines.append(f"  [{s['field'] or s['error'] or 'empty'}] {s['text']!r}")
    return "\n".join(lines)


def cmd_probe(args: argparse.Namespace) -> int:
    """Probe a server; exit 1 when no answer was non-empty, 2 when no request got an HTTP
    answer at all or the probe ran out of its --timeout."""
    try:
        with command_deadline(args.timeout, "probe"):
            report = probe_server(args.framework, args.url, args.requests, args.max_tokens,
                                  args.timeout, args.model)
    except CaptureError as err:
        return _fail(err)
    print(json.dumps(report, indent=2) if args.json else _render_probe(report))
    if report["unanswered"] == report["requests"]:
        detail = "; ".join(report["error_messages"][:2])
        return _fail(CaptureError(f"no HTTP answer to any of {report['requests']} probe requests ({detail})"))
    return 0 if report["non_empty"] else 1


def cmd_trtllm_with_stack(args: argparse.Namespace) -> int:
    """Write the patched copy and list what changed."""
    try:
        patch = write_patched(args.source, args.output)
    except CaptureError as err:
        return _fail(err)
    for change in patch.changes:
        print(change)
    print(f"wrote {args.output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (`python -m pipeline.capture.cli …`) until the main CLI wires us."""
    parser = argparse.ArgumentParser(prog="proftriage")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
