"""Inference rules: framework, model, run, stage, rank and role from sidecars, names, content and folders."""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from pathlib import Path

from pipeline.discover.records import _SGLANG_RANK_RE, TraceFile, _catalog, _Ctx, _Sniff

_RANK_RE = re.compile(r"(?:^|[-_.])rank-?(\d+)(?=[-_.]|$)")
_SGLANG_STAGE_RE = re.compile(r"-TP-\d+(?:-[A-Z]P-\d+)*-(EXTEND|DECODE|prefill|decode)$")
_HF_NAME_RE = re.compile(r"^[^_]+_(?P<model>.+?)__\d+$")


def _root_framework(ctx: _Ctx, files: list[TraceFile]) -> str:
    explicit = _explicit_framework(ctx)
    if explicit:
        return explicit
    votes = Counter(f.framework for f in files if f.framework != "unknown"
                    and f.status == "ok")
    return votes.most_common(1)[0][0] if votes else ctx.dir_framework


def _root_model(ctx: _Ctx, files: list[TraceFile]) -> str | None:
    explicit = _explicit_model(ctx)
    if explicit:
        return explicit
    votes = Counter(f.model for f in files if f.model and f.status == "ok")
    return votes.most_common(1)[0][0] if votes else ctx.dir_model


def _root_run(ctx: _Ctx, root_dir: Path) -> str:
    return _explicit_run(ctx) or root_dir.name


def _explicit_run(ctx: _Ctx) -> str | None:
    """The run a manifest or capture.json names (a lone file has no other)."""
    for src in (ctx.manifest, ctx.capture):
        if src and isinstance(src.get("run"), str) and src["run"]:
            return src["run"]
    return None


def _first_int(*values) -> int | None:
    for v in values:
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        if isinstance(v, str) and v.isdigit():
            return int(v)
    return None


def _explicit_framework(ctx: _Ctx) -> str | None:
    for src in (ctx.manifest, ctx.capture):
        if src and isinstance(src.get("framework"), str) and src["framework"]:
            return _normalise_framework(src["framework"])
    return _framework_from_server_args(ctx.server_args)


def _file_framework(ctx: _Ctx, name: str, snf: _Sniff) -> str:
    """Sidecars, then the file name, then content, then folder names. A name shape that another
    framework writes too (a pattern's `yields_to`) gives way to that framework's content markers."""
    explicit = _explicit_framework(ctx)
    if explicit:
        return explicit
    rule = _name_rule(name)
    content = _framework_from_content(snf)
    if rule is not None and content not in rule.get("yields_to", ()):
        return rule["framework"]
    return content or ctx.dir_framework


def _normalise_framework(value: str) -> str:
    v = value.strip().lower()
    return _catalog()["framework_dirs"].get(v, v)


def _framework_from_name(name: str) -> str | None:
    rule = _name_rule(name)
    return rule["framework"] if rule is not None else None


def _name_rule(name: str) -> dict | None:
    """The first catalog `name_patterns` entry matching the bare file name."""
    return next((p for p in _catalog()["name_patterns"] if re.search(p["regex"], name)), None)


def _framework_from_content(snf: _Sniff) -> str | None:
    """The framework the sniffed head names most: `content_markers` (frame paths, process and thread
    names), else, only when none of those is there, operator namespaces (`op_namespaces`)."""
    if snf.kind == "layerwise":
        return "vllm"
    cat = _catalog()
    markers = {fw: sum(snf.head.count(m) for m in ms) for fw, ms in cat["content_markers"].items()}
    ops: Counter[str] = Counter()
    for entry in cat["op_namespaces"]:
        ops[entry["framework"]] += len(_op_name_re(entry["namespace"]).findall(snf.head))
    return _most_hits(markers) or _most_hits(ops)


def _most_hits(hits: dict[str, int]) -> str | None:
    best = Counter(hits).most_common(1)
    return best[0][0] if best and best[0][1] > 0 else None


@functools.lru_cache(maxsize=None)
def _op_name_re(namespace: str) -> re.Pattern[str]:
    """An event name that starts with `<namespace>::` (a torch.library operator)."""
    return re.compile(r'"name"\s*:\s*"' + re.escape(namespace) + "::")


def _framework_from_server_args(args: dict | None) -> str | None:
    if not args:
        return None
    text = json.dumps(args, default=str).lower()
    if "tokenspeed" in text or "token-speed" in text:
        return "tokenspeed"
    for fw, keys in _catalog()["server_args_keys"].items():
        if any(k in args for k in keys):
            return fw
    return None


def _framework_from_dirs(root_dir: Path, data_root: Path) -> str:
    try:
        parts = list(root_dir.relative_to(data_root).parts)
    except ValueError:
        parts = [root_dir.name]
    aliases = _catalog()["framework_dirs"]
    for part in reversed([data_root.name] + parts):
        if part.lower() in aliases:
            return aliases[part.lower()]
    return "unknown"


def _explicit_model(ctx: _Ctx) -> str | None:
    manifest_model = (ctx.manifest or {}).get("model")
    if isinstance(manifest_model, str) and manifest_model:
        return manifest_model  # the user's display name, verbatim
    capture_model = (ctx.capture or {}).get("model")
    if isinstance(capture_model, str) and capture_model:
        return display_model(capture_model)
    args = ctx.server_args or {}
    for key in ("model_path", "model"):
        if isinstance(args.get(key), str) and args[key]:
            return display_model(args[key])
    return None


def display_model(value: str) -> str:
    """HF ids stay `org/name`; local paths (`/models/x/Qwen3-8B`) keep their last part."""
    value = value.rstrip("/")
    if value.startswith(("/", ".", "~")) or value.count("/") > 1:
        return value.rsplit("/", 1)[-1]
    return value


def _file_model(ctx: _Ctx, name: str, snf: _Sniff) -> str | None:
    return (_explicit_model(ctx) or _model_from_name(name) or _model_from_head(snf)
            or ctx.dir_model)


def _model_from_name(name: str) -> str | None:
    stem = _stem(name)
    tokens = stem.split("_")
    fws = set(_catalog()["framework_dirs"])
    if len(tokens) >= 3 and tokens[0].lower() in fws \
            and tokens[-1].lower() in _catalog()["stage_tokens"]:
        return "_".join(tokens[1:-1])
    m = _HF_NAME_RE.match(stem)
    return m.group("model") if m else None


def _model_from_head(snf: _Sniff) -> str | None:
    if snf.kind != "layerwise":
        return None
    m = re.search(r'"engine_args"\s*:\s*\{\s*"model"\s*:\s*"([^"]+)"', snf.head)
    return m.group(1) if m else None


def _model_from_dir(dir_name: str) -> str | None:
    rules = _catalog()["model_from_dir"]
    tokens = dir_name.split("-")
    for i, tok in enumerate(tokens):
        low = tok.lower()
        if i > 0 and (low in rules["hardware"]
                      or any(re.match(p, low) for p in rules["settings"])):
            return "-".join(tokens[:i])
    return dir_name or None


def _stem(name: str) -> str:
    return re.sub(r"(\.pt)?(\.trace)?\.json(\.gz)?$", "", name)


def _stage_from_name(name: str) -> str | None:
    """Stage from the file name only; a parent directory's name never counts."""
    stem = _stem(name)
    m = _SGLANG_STAGE_RE.search(stem)
    if m:
        return "prefill" if m.group(1).lower() in ("extend", "prefill") else "decode"
    words = _catalog()["stage_tokens"]
    found = {words[t] for t in re.split(r"[-_.]", stem.lower()) if t in words}
    if len(found) > 1:
        return "mixed"
    return found.pop() if found else None


def _rank_from_name(name: str) -> int | None:
    m = _SGLANG_RANK_RE.search(name) or _RANK_RE.search(_stem(name))
    return int(m.group(1)) if m else None


def _file_role(rule: dict, cap: dict, rel: str) -> str:
    for src in (rule, cap):
        if src.get("role") in ("mapping", "formal", "single"):
            return src["role"]
    tokens = set(re.split(r"[-_./]", rel.lower()))
    for role in _catalog()["roles"]["tokens"]:
        if role in tokens:
            return role
    return "single"
