"""Capture orchestration: probe → warm up → arm → send probe requests → stop → wait → manifest.

Layout: one trace root per stage, `<output-dir>/<stage>/` (role `single`), or for a pair
`<output-dir>/<stage>/mapping/` and `<output-dir>/<stage>/formal/` — discovery then sees one
root per stage holding the mapping/formal pair. Each folder holds the traces and
`capture.json`, so discovery needs no guessing.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pipeline.capture import frameworks as fwk
from pipeline.capture.errors import CaptureError
from pipeline.capture.generate import generate, openai_model
from pipeline.capture.http import command_deadline
from pipeline.capture.manifest import now_iso, single_rank, write_manifest
from pipeline.capture.probe import probe_server, require_answers
from pipeline.capture.wait import WaitSpec, list_traces, move_into, snapshot, wait_for_traces
from pipeline.capture.workload import STAGES, Prompts, StagePlan, plan
from pipeline.paths import UnsafePath, safe_join


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class CaptureConfig:
    """Everything one `proftriage capture` run needs (CLI flags map one to one)."""

    framework: str
    output_dir: Path
    url: str | None = None
    mapping_url: str | None = None
    formal_url: str | None = None
    stages: tuple[str, ...] = STAGES
    num_steps: int = 5
    warmup: int = 3
    prefill_input_len: int = 4090
    decode_input_len: int = 16
    decode_output_len: int = 2048
    timeout: float = 180.0  # waiting for one stage's traces
    request_timeout: float = 300.0  # one HTTP request, all of it
    deadline: float | None = 1800.0  # the whole capture (CLI --timeout); None: unbounded
    model: str | None = None
    probe_requests: int = 3
    expected_ranks: int | None = None
    server_trace_dir: Path | None = None
    profile_by_stage: bool = False
    prefix: str = "proftriage"
    poll: float = 0.5
    settle: float = 3.0
    log: Callable[[str], None] = field(default=_stderr, repr=False)

    def targets(self) -> list[tuple[str, str]]:
        """(role, url) pairs: one `single` server or a `mapping` + `formal` pair."""
        if self.mapping_url or self.formal_url:
            if not (self.mapping_url and self.formal_url):
                raise CaptureError("the two-trace form needs both --mapping-url and --formal-url")
            if self.url:
                raise CaptureError("give either --url or --mapping-url/--formal-url, not both")
            return [("mapping", self.mapping_url), ("formal", self.formal_url)]
        if not self.url:
            raise CaptureError("no server: pass --url, or --mapping-url and --formal-url")
        return [("single", self.url)]


@dataclass
class Server:
    """What we learnt about one server before capturing from it."""

    url: str
    role: str
    info_route: str | None
    info: Any
    model: str | None
    probe: dict[str, Any]


def run_capture(cfg: CaptureConfig) -> list[Path]:
    """Capture every stage from every target; returns the trace-root directories written.

    Ends within `cfg.deadline` seconds (`http.OutOfTime` past it), whatever the servers do."""
    with command_deadline(cfg.deadline, "capture"):
        return _run_capture(cfg)


def _run_capture(cfg: CaptureConfig) -> list[Path]:
    fw = fwk.framework(cfg.framework)
    for stage in cfg.stages:
        if stage not in STAGES:
            raise CaptureError(f"unknown stage {stage!r}; choose from {', '.join(STAGES)}")
    roots = []
    for role, url in cfg.targets():
        server = _inspect(cfg, fw, url, role)
        for stage in cfg.stages:
            stage_dir = cfg.output_dir / stage if role == "single" else cfg.output_dir / stage / role
            roots.append(capture_stage(cfg, fw, server, stage, stage_dir))
    return roots


def _inspect(cfg: CaptureConfig, fw: fwk.Framework, url: str, role: str) -> Server:
    """Probe the server (refusing silent ones) and read its info and model name."""
    cfg.log(f"[{role}] probing {fw.name} at {url} ({cfg.probe_requests} requests)")
    report = probe_server(fw.name, url, cfg.probe_requests, 16, cfg.request_timeout, cfg.model)
    require_answers(report)
    route, info = fwk.fetch_server_info(fw, url, cfg.request_timeout)
    model = cfg.model or report.get("model") or fwk.model_name(info)
    if fw.generate == "openai" and not model:
        model = openai_model(url, cfg.request_timeout)
    return Server(url, role, route, info, model, report)


def _watch_dir(cfg: CaptureConfig, fw: fwk.Framework, server: Server, stage_dir: Path,
               notes: list[str]) -> tuple[Path, list[Path]]:
    """Where the server will write, plus other visible dirs worth naming on a timeout."""
    if fw.server_writes_to == "request":
        return stage_dir, []
    reported = fwk.find_value(server.info, fw.server_dir_key)
    base = cfg.output_dir
    watch = Path(cfg.server_trace_dir or reported or base)
    if reported and Path(reported).resolve() != base.resolve():
        notes.append(f"{fw.name} reports {fw.server_dir_key}={reported}, which differs from "
                     f"the output dir {base}; watching {watch} and moving new traces "
                     f"into {stage_dir}")
    if not watch.is_dir():
        raise CaptureError(f"{fw.name} writes traces to its own {fw.server_dir_key} ({watch}), "
                           "which is not visible here; mount it or pass --server-trace-dir")
    env_dir = os.environ.get(fw.server_dir_env)
    seen = [Path(p) for p in (reported, env_dir, cfg.server_trace_dir) if p] + [base]
    others = [d for d in seen if d.is_dir() and d.resolve() != watch.resolve()]
    return watch, others


def _send(cfg: CaptureConfig, fw: fwk.Framework, server: Server, prompts: Prompts,
          count: int, words: int, tokens: int, ignore_eos: bool) -> int:
    """Send `count` sequential requests; returns how many failed."""
    failed = 0
    for _ in range(count):
        ans = generate(fw, server.url, server.model, prompts.next(words), tokens,
                       cfg.request_timeout, ignore_eos)
        if not ans.ok:
            failed += 1
            cfg.log(f"  request failed: {ans.error}")
    return failed


def _stage_plan(cfg: CaptureConfig, stage: str) -> StagePlan:
    return plan(stage, num_steps=cfg.num_steps, warmup=cfg.warmup,
                prefill_input_len=cfg.prefill_input_len, decode_input_len=cfg.decode_input_len,
                decode_output_len=cfg.decode_output_len)


def _fresh(stage_dir: Path) -> None:
    stage_dir.mkdir(parents=True, exist_ok=True)
    if list_traces(stage_dir, ["*.json", "*.json.gz"]):
        raise CaptureError(f"{stage_dir} already holds traces; choose a new --output-dir so "
                           "one trace root never mixes two captures")


def capture_stage(cfg: CaptureConfig, fw: fwk.Framework, server: Server, stage: str,
                  stage_dir: Path) -> Path:
    """One stage from one server: returns `stage_dir`, now a trace root with `capture.json`."""
    _fresh(stage_dir)
    notes: list[str] = []
    watch, others = _watch_dir(cfg, fw, server, stage_dir, notes)
    for note in notes:
        cfg.log("note: " + note)
    sp, prompts, started = _stage_plan(cfg, stage), Prompts(), now_iso()
    before = snapshot(watch, fw.trace_globs)
    others_before = {str(d): snapshot(d, fw.trace_globs) for d in others}
    cfg.log(f"[{server.role}/{stage}] warmup {sp.warmup_requests} request(s)")
    _send(cfg, fw, server, prompts, sp.warmup_requests, sp.input_len, sp.warmup_tokens, False)
    payload = fwk.start_payload(fw, output_dir=str(stage_dir.resolve()), num_steps=cfg.num_steps,
                                stage=stage, prefix=cfg.prefix,
                                profile_by_stage=cfg.profile_by_stage)
    cfg.log(f"[{server.role}/{stage}] POST {fw.start_route} {payload}")
    fwk.start_profile(fw, server.url, payload, cfg.request_timeout)
    failed = _send(cfg, fw, server, prompts, sp.requests, sp.input_len, sp.output_len, True)
    note = fwk.stop_profile(fw, server.url, cfg.request_timeout, "num_steps" in payload)
    if note:
        notes.append(note)
    files = _wait(cfg, fw, server, stage, watch, before, others, others_before)
    if watch != stage_dir:
        files = move_into(files, stage_dir)
    record = _record(cfg, fw, server, stage, sp, payload, files, started, notes, failed)
    write_manifest(stage_dir, record)
    cfg.log(f"[{server.role}/{stage}] wrote {len(files)} trace(s) to {stage_dir}")
    return stage_dir


def _wait(cfg: CaptureConfig, fw: fwk.Framework, server: Server, stage: str, watch: Path,
          before: dict, others: list[Path], others_before: dict) -> list[Path]:
    expected = cfg.expected_ranks or fwk.expected_ranks(fw, server.info)
    spec = WaitSpec(directory=watch, globs=list(fw.trace_globs), before=before,
                    route=f"{fw.name} {fw.start_route}+{fw.stop_route} ({server.role}/{stage})",
                    timeout=cfg.timeout, poll=cfg.poll, settle=cfg.settle,
                    expected_ranks=expected, rank_of=lambda n: fwk.rank_of(fw, n),
                    elsewhere=others, elsewhere_before=others_before)
    return wait_for_traces(spec)


def _record(cfg: CaptureConfig, fw: fwk.Framework, server: Server, stage: str, sp: StagePlan,
            payload: dict, files: list[Path], started: str, notes: list[str],
            failed: int) -> dict[str, Any]:
    ranks = [fwk.rank_of(fw, p.name) for p in files]
    return {
        "framework": fw.name, "model": server.model, "stage": stage, "role": server.role,
        "rank": single_rank(ranks), "server_args": fwk.server_args(server.info),
        "server_info": server.info,
        "workload": {**sp.as_dict(), "num_steps": cfg.num_steps, "failed_requests": failed},
        "started_at": started, "finished_at": now_iso(),
        "files": [p.name for p in files], "ranks": ranks, "url": server.url,
        "server_info_route": server.info_route, "start_payload": payload,
        "probe": {k: server.probe[k] for k in ("successes", "errors", "all_non_empty",
                                                "latency_mean_s", "latency_p95_s")},
        "notes": notes,
    }


def capture_from_matrix_entry(entry: dict[str, Any], output_root: Path,
                              **overrides: Any) -> list[Path]:
    """Capture for one matrix entry `{framework, model, url | mapping_url+formal_url, stages,
    num_steps}` under `output_root/<model>/<framework>/`; returns the trace roots written."""
    model = str(entry.get("model") or "unknown-model")
    try:
        out = safe_join(Path(output_root), model.replace("/", "__"), str(entry["framework"]))
    except UnsafePath as exc:
        raise CaptureError(f"matrix entry {model!r}: {exc}") from None
    stages = entry.get("stages") or STAGES
    cfg = CaptureConfig(
        framework=entry["framework"], output_dir=out, url=entry.get("url"),
        mapping_url=entry.get("mapping_url"), formal_url=entry.get("formal_url"),
        stages=tuple(stages.split(",") if isinstance(stages, str) else stages),
        num_steps=int(entry.get("num_steps", 5)), model=entry.get("model"), **overrides)
    return run_capture(cfg)

