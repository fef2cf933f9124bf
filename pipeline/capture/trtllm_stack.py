"""`proftriage trtllm-with-stack`: copy TRT-LLM's profiler module so traces carry Python stacks.

Upstream TensorRT-LLM creates its torch profiler without `with_stack` (current home:
`tensorrt_llm/_torch/pyexecutor/profiling.py`, `PyExecutorProfileManager.profile_step`;
older releases: `py_executor.py`, `_profiler`). The patched copy (1) adds `with_stack=True`
to every `torch.profiler.profile(...)` call and (2) guards each `export_chrome_trace(...)`
statement so only rank 0 writes. Everything else is byte-for-byte the source.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.capture.errors import CaptureError

PROFILE_CALL = ("torch", ".", "profiler", ".", "profile", "(")
SKIP = {tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT}


@dataclass
class Patch:
    """The patched text and a human list of what changed."""

    text: str
    changes: list[str] = field(default_factory=list)


def _tokens(source: str) -> list[tokenize.TokenInfo]:
    return list(tokenize.generate_tokens(io.StringIO(source).readline))


def _offsets(source: str) -> list[int]:
    starts, pos = [0], 0
    for line in source.splitlines(keepends=True):
        pos += len(line)
        starts.append(pos)
    return starts


def _profile_calls(toks: list[tokenize.TokenInfo]) -> list[tuple[int, int]]:
    """(index of the opening paren, index of its closing paren) for each profile call."""
    out, n = [], len(PROFILE_CALL)
    for i in range(len(toks) - n + 1):
        if tuple(t.string for t in toks[i:i + n]) != PROFILE_CALL:
            continue
        depth, j = 0, i + n - 1
        for j in range(i + n - 1, len(toks)):
            depth += {"(": 1, ")": -1}.get(toks[j].string, 0) if toks[j].type == tokenize.OP else 0
            if depth == 0:
                break
        out.append((i + n - 1, j))
    return out


def _with_stack_edit(toks, open_i: int, close_i: int, offs: list[int]) -> tuple[int, int, str] | None:
    """(start, end, replacement) in character offsets, or None when already True."""
    inner = toks[open_i + 1:close_i]
    for k, t in enumerate(inner[:-2]):
        if t.string == "with_stack" and inner[k + 1].string == "=":
            value = inner[k + 2]
            if value.string == "True":
                return None
            a = offs[value.start[0] - 1] + value.start[1]
            b = offs[value.end[0] - 1] + value.end[1]
            return a, b, "True"
    last = next((t for t in reversed(inner) if t.type not in SKIP), toks[open_i])
    at = offs[last.end[0] - 1] + last.end[1]
    if last.string in ("(", ","):
        return at, at, ("with_stack=True" if last.string == "(" else " with_stack=True")
    return at, at, ", with_stack=True"


def add_with_stack(source: str) -> Patch:
    """Add (or force) `with_stack=True` in every `torch.profiler.profile(` call."""
    toks, offs = _tokens(source), _offsets(source)
    calls = _profile_calls(toks)
    if not calls:
        raise CaptureError("refusing to patch: no `torch.profiler.profile(` call found. In current "
                           "TensorRT-LLM it lives in tensorrt_llm/_torch/pyexecutor/profiling.py "
                           "(older releases: py_executor.py); pass that file as --source")
    edits = [e for e in (_with_stack_edit(toks, o, c, offs) for o, c in calls) if e]
    text = source
    for a, b, rep in sorted(edits, reverse=True):
        text = text[:a] + rep + text[b:]
    lines = [toks[o].start[0] for o, _ in calls]
    note = f"with_stack=True in torch.profiler.profile call(s) at line(s) {lines}"
    return Patch(text, [note] if edits else [f"already {note}"])


def rank_expression(source: str) -> str:
    """How this file names the global rank: `executor.global_rank`, `self.global_rank`, or torch."""
    if "executor.global_rank" in source or re.search(r"\bexecutor = self\._executor\b", source):
        return "executor.global_rank"
    if "self.global_rank" in source:
        return "self.global_rank"
    return "(torch.distributed.get_rank() if torch.distributed.is_initialized() else 0)"


def _statement_end(toks: list[tokenize.TokenInfo], row: int) -> int:
    """Last physical line of the logical line that starts at `row`."""
    for t in toks:
        if t.type == tokenize.NEWLINE and t.start[0] >= row:
            return t.start[0]
    return row


def guard_export(source: str) -> Patch:
    """Wrap each `<x>.export_chrome_trace(...)` statement in `if <rank> == 0:`."""
    lines = source.splitlines(keepends=True)
    toks, expr = _tokens(source), rank_expression(source)
    stmt = re.compile(r"^(\s*)[\w.\[\]]+\.export_chrome_trace\(")
    rows = [i + 1 for i, line in enumerate(lines) if stmt.match(line)]
    if not rows:
        raise CaptureError("refusing to patch: no `.export_chrome_trace(` statement found, so the "
                           "rank-0 guard cannot be placed; is this TRT-LLM's profiler module?")
    done = []
    for row in reversed(rows):
        indent = stmt.match(lines[row - 1]).group(1)
        prev = lines[row - 2].strip() if row > 1 else ""
        if prev.startswith("if ") and "== 0" in prev and "rank" in prev:
            continue
        end = _statement_end(toks, row)
        body = ["    " + ln if ln.strip() else ln for ln in lines[row - 1:end]]
        lines[row - 1:end] = [f"{indent}if {expr} == 0:  # proftriage: rank 0 exports\n"] + body
        done.append(row)
    note = (f"export_chrome_trace at line(s) {sorted(done)} guarded by `{expr} == 0`"
            if done else "export_chrome_trace already guarded")
    return Patch("".join(lines), [note])


def patch_trtllm_source(source: str, name: str = "<source>") -> Patch:
    """Both edits; the result must still compile, else `CaptureError`."""
    first = add_with_stack(source)
    second = guard_export(first.text)
    try:
        compile(second.text, name, "exec")
    except SyntaxError as err:
        raise CaptureError(f"patched {name} does not compile ({err}); refusing to write it") from err
    return Patch(second.text, first.changes + second.changes)


def write_patched(source_path: Path, output_path: Path) -> Patch:
    """Read `source_path`, patch it and write the copy to `output_path` (never in place)."""
    if output_path.resolve() == source_path.resolve():
        raise CaptureError("--output must differ from --source: the patch writes a copy")
    if not source_path.is_file():
        raise CaptureError(f"source file not found: {source_path}")
    patch = patch_trtllm_source(source_path.read_text(encoding="utf-8"), str(source_path))
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output_path.write_text(patch.text, encoding="utf-8")
    return patch
