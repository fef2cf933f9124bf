"""Find trace roots and trace files under a data root, sniffing (never parsing) traces.

Rules and examples: docs/discovery.md. Naming data: pipeline/catalog/discovery.toml.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import tomllib
import zlib
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from pipeline.paths import read_catalog

SNIFF_BYTES = 64 * 1024
_RAW_CHUNK = 16 * 1024
_RAW_CAP = 4 * 1024 * 1024
_SIDECAR_MAX = 16 * 1024 * 1024
MANIFEST_NAME = "proftriage.toml"
CAPTURE_NAME = "capture.json"
SERVER_ARGS_NAME = "server_args.json"
_open_binary = open  # indirection so tests can count the bytes sniffing reads

_KINETO_HEADER_KEYS = {"schemaVersion", "deviceProperties", "distributedInfo",
                       "baseTimeNanoseconds", "displayTimeUnit"}
# A string (to its closing quote, or to the end of the sniffed text when it is cut there: an
# unterminated string must not be rescanned from each later quote, which was quadratic) or one
# structural character.
_TOKEN_RE = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)|[{}\[\]:,]')
_TRACE_SUFFIX_RE = re.compile(r"\.(pt\.)?trace\.json(\.gz)?$")
_MERGED_RE = re.compile(r"^merged-.+\.trace\.json(\.gz)?$")
_SGLANG_RANK_RE = re.compile(r"-TP-(\d+)")
_RANK_RE = re.compile(r"(?:^|[-_.])rank-?(\d+)(?=[-_.]|$)")
_SGLANG_STAGE_RE = re.compile(r"-TP-\d+(?:-[A-Z]P-\d+)*-(EXTEND|DECODE|prefill|decode)$")
_HF_NAME_RE = re.compile(r"^[^_]+_(?P<model>.+?)__\d+$")
_BAD_KEY_RE = re.compile(r"(?:\.{3,}|[|,\[\]\s\x00-\x1f])+")
_ASYNC_LLM_NOTE = "vLLM frontend (AsyncLLM) trace: CPU only, no GPU kernels"


class DiscoveryError(Exception):
    """The data root (or a file given to inspect_file) cannot be used."""


@dataclass(frozen=True)
class TraceFile:
    """One trace file and what its name, sidecars and first bytes say about it."""

    path: Path
    rel_path: str
    kind: str
    framework: str
    model: str | None
    role: str
    stage: str
    rank: int | None
    size_bytes: int
    mtime_ns: int
    fingerprint: str
    status: str
    reason: str | None


@dataclass(frozen=True)
class TraceRoot:
    """A directory that directly holds trace files (plus its mapping/ formal/ subdirs)."""

    key: str
    path: Path
    framework: str
    model: str | None
    run: str
    files: tuple[TraceFile, ...]
    fingerprint: str
    status: str
    reason: str | None
    server_args: dict | None
    manifest: dict | None


@dataclass
class _Ctx:
    """What a root's sidecars and location say, shared by its files."""

    root_dir: Path
    dir_framework: str
    dir_model: str | None
    manifest: dict | None = None
    capture: dict | None = None
    server_args: dict | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Sniff:
    kind: str | None   # 'kineto' | 'layerwise' | None
    decided: bool      # False: header unreadable, kind unknown
    head: str          # decoded first bytes (for content markers)
    note: str | None = None


# ---------------------------------------------------------------- public API


def discover(data_root: Path) -> list[TraceRoot]:
    """Trace roots under `data_root`, sorted by key; warnings are dropped."""
    return discover_with_warnings(data_root)[0]


def discover_with_warnings(data_root: Path) -> tuple[list[TraceRoot], list[str]]:
    """Trace roots under `data_root` and the warnings met on the way (unreadable dirs…)."""
    data_root = normal_path(data_root)
    _check_data_root(data_root)
    warnings: list[str] = []
    roots = []
    for dir_path in _walk(data_root, warnings):
        if dir_path != data_root and _is_role_subdir(dir_path):
            continue  # its files belong to the parent's root
        root = _build_root(dir_path, data_root, warnings)
        if root is not None:
            roots.append(root)
    roots = _unique_keys(sorted(roots, key=lambda r: r.key))
    return sorted(roots, key=lambda r: r.key), warnings


def discover_root(root_dir: Path, data_root: Path | None = None) -> TraceRoot | None:
    """The trace root at `root_dir`, or None if it directly holds no trace."""
    root_dir = normal_path(root_dir)
    base = normal_path(data_root) if data_root is not None else root_dir.parent
    return _build_root(root_dir, base, [])


def inspect_file(path: Path) -> TraceFile:
    """Describe one file, using the sidecars of its directory (for `proftriage inspect`)."""
    path = normal_path(path)
    if not path.is_file():
        raise DiscoveryError(f"not a file: {path}")
    root_dir = path.parent
    if _is_role_subdir(root_dir):
        root_dir = root_dir.parent
    ctx = _make_ctx(root_dir, root_dir.parent, [])
    tf = _make_file(path, ctx)
    if tf is not None:
        return tf
    st = path.stat()
    return TraceFile(path, _rel(path, root_dir), "kineto", "unknown", None, "single", "unknown",
                     None, st.st_size, st.st_mtime_ns, _file_fp(_rel(path, root_dir), st),
                     "rejected", "not a trace: no traceEvents / event list / layerwise keys")


def sniff(path: Path) -> str | None:
    """'kineto', 'layerwise' or None, from at most the first ~64 KiB (gzip-aware)."""
    return _sniff(Path(path)).kind


# ---------------------------------------------------------------- walking


def _check_data_root(data_root: Path) -> None:
    if not data_root.exists():
        raise DiscoveryError(f"data root does not exist: {data_root}")
    if not data_root.is_dir():
        raise DiscoveryError(f"data root is not a directory: {data_root}")
    try:
        with os.scandir(data_root):
            pass
    except OSError as exc:
        raise DiscoveryError(f"data root is not readable: {data_root}: {exc}") from exc


def _walk(top: Path, warnings: list[str]):
    """Yield readable directories depth-first (sorted); skip hidden dirs and symlinks."""
    stack = [top]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as it:
                subdirs = sorted(e.name for e in it if _is_walkable_dir(e))
        except OSError as exc:
            warnings.append(f"unreadable directory skipped: {current}: {exc.strerror or exc}")
            continue
        yield current
        stack.extend(current / name for name in reversed(subdirs))


def _is_walkable_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False) and not entry.name.startswith(".")
    except OSError:
        return False


def _is_role_subdir(path: Path) -> bool:
    return path.name.lower() in _catalog()["roles"]["subdirs"]


def _candidates(root_dir: Path, warnings: list[str]) -> list[Path]:
    """`*.json` / `*.json.gz` files in the root and its role subdirs, sorted."""
    dirs = [root_dir]
    try:
        dirs += sorted(p for p in root_dir.iterdir()
                       if p.is_dir() and not p.is_symlink() and _is_role_subdir(p))
    except OSError as exc:
        warnings.append(f"unreadable directory skipped: {root_dir}: {exc.strerror or exc}")
        return []
    found = []
    for d in dirs:
        try:
            found += [p for p in d.iterdir() if _is_json_name(p.name) and p.is_file()]
        except OSError as exc:
            warnings.append(f"unreadable directory skipped: {d}: {exc.strerror or exc}")
    return sorted(found)


def _is_json_name(name: str) -> bool:
    return name.endswith((".json", ".json.gz"))


# ---------------------------------------------------------------- roots


def _build_root(root_dir: Path, data_root: Path, warnings: list[str]) -> TraceRoot | None:
    candidates = _candidates(root_dir, warnings)
    if not candidates:
        return None
    ctx = _make_ctx(root_dir, data_root, warnings)
    files = [tf for p in candidates if (tf := _make_file(p, ctx)) is not None]
    if not any(tf.status != "rejected" for tf in files):
        return None
    files = _shadow_merged(files)
    key = _root_key(root_dir, data_root)
    reason = _manifest_error(ctx) or _diffusion_gate(root_dir, warnings)
    return TraceRoot(
        key=key, path=root_dir, framework=_root_framework(ctx, files),
        model=_root_model(ctx, files), run=_root_run(ctx, root_dir),
        files=tuple(files), fingerprint=_root_fp(key, files, root_dir),
        status="rejected" if reason else "ok", reason=reason,
        server_args=ctx.server_args, manifest=ctx.manifest)


def _make_ctx(root_dir: Path, data_root: Path, warnings: list[str]) -> _Ctx:
    ctx = _Ctx(root_dir, _framework_from_dirs(root_dir, data_root),
               _model_from_dir(root_dir.name), warnings=warnings)
    ctx.manifest = _load_manifest(root_dir / MANIFEST_NAME, warnings)
    ctx.capture = _load_json_sidecar(root_dir / CAPTURE_NAME, warnings)
    if ctx.capture is None:  # a captured pair: <stage>/{mapping,formal}/capture.json
        for role in ("formal", "mapping"):
            ctx.capture = ctx.capture or _load_json_sidecar(root_dir / role / CAPTURE_NAME, warnings)
        if ctx.capture:
            ctx.capture = {k: v for k, v in ctx.capture.items() if k not in ("role", "files", "ranks")}
    ctx.server_args = _load_json_sidecar(root_dir / SERVER_ARGS_NAME, warnings)
    if ctx.server_args is None and isinstance((ctx.capture or {}).get("server_args"), dict):
        ctx.server_args = ctx.capture["server_args"]
    return ctx


def _root_key(root_dir: Path, data_root: Path) -> str:
    try:
        rel = root_dir.relative_to(data_root).as_posix()
    except ValueError:
        rel = root_dir.name
    return sanitize_key(root_dir.name if rel in ("", ".") else rel)


def sanitize_key(raw: str) -> str:
    """Dagster-safe partition key that is also a safe relative path: runs of '|', ',', '[',
    ']', '...', whitespace → '_'; empty and '.' segments dropped, a '..' segment → '_' (a key
    names folders under the reports folder, so it never climbs out of it or starts at '/')."""
    parts = [seg for seg in raw.split("/") if seg not in ("", ".")]
    return _BAD_KEY_RE.sub("_", "/".join("_" if seg == ".." else seg for seg in parts)) or "_"


def normal_path(path: Path | str) -> Path:
    """Absolute, with '.' and '..' resolved lexically (symlinks kept): `root/x/../f` is `root/f`."""
    return Path(os.path.abspath(Path(path).expanduser()))


def _unique_keys(roots: list[TraceRoot]) -> list[TraceRoot]:
    """Two paths that sanitize to one key: suffix the later ones with a path hash."""
    seen: set[str] = set()
    out = []
    for r in roots:
        if r.key in seen:
            r = replace(r, key=f"{r.key}~{_sha(str(r.path))[:8]}")
        seen.add(r.key)
        out.append(r)
    return out


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
    for src in (ctx.manifest, ctx.capture):
        if src and isinstance(src.get("run"), str) and src["run"]:
            return src["run"]
    return root_dir.name


def _shadow_merged(files: list[TraceFile]) -> list[TraceFile]:
    """A merged SGLang trace is skipped when per-rank SGLang files sit beside it."""
    per_rank = {_parent(f.rel_path) for f in files
                if f.kind == "kineto" and _SGLANG_RANK_RE.search(Path(f.rel_path).name)}
    return [replace(f, status="skipped", reason="per-rank traces present")
            if f.kind == "merged" and f.status == "ok" and _parent(f.rel_path) in per_rank
            else f for f in files]


def _parent(rel_path: str) -> str:
    return rel_path.rpartition("/")[0]


def _root_fp(key: str, files: list[TraceFile], root_dir: Path) -> str:
    parts = [key] + [f.fingerprint for f in files]
    for name in (MANIFEST_NAME, CAPTURE_NAME, SERVER_ARGS_NAME):
        try:
            st = (root_dir / name).stat()
            parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            pass
    return _sha("\n".join(parts))[:16]


# ---------------------------------------------------------------- files


def _make_file(path: Path, ctx: _Ctx) -> TraceFile | None:
    """A TraceFile, or None when the file is not a trace (and its name does not say so)."""
    name = path.name
    snf = _sniff(path)
    kind, status, reason = _kind_status(name, snf)
    if kind is None:
        return None
    try:
        st = path.stat()
    except OSError as exc:
        ctx.warnings.append(f"cannot stat {path}: {exc}")
        return None
    rel = _rel(path, ctx.root_dir)
    rule = _manifest_rule(ctx.manifest, rel)
    cap = _capture_entry(ctx.capture, rel)
    stage = rule.get("stage") or _stage_from_name(name) or cap.get("stage") or "unknown"
    if ".async_llm." in name:
        reason = _ASYNC_LLM_NOTE if reason is None else f"{reason}; {_ASYNC_LLM_NOTE}"
        stage = rule.get("stage") or "unknown"
    return TraceFile(
        path=path, rel_path=rel, kind=kind,
        framework=_file_framework(ctx, name, snf),
        model=_file_model(ctx, name, snf), role=_file_role(rule, cap, rel), stage=stage,
        rank=_first_int(rule.get("rank"), _rank_from_name(name), cap.get("rank")),
        size_bytes=st.st_size, mtime_ns=st.st_mtime_ns, fingerprint=_file_fp(rel, st),
        status=status, reason=reason)


def _kind_status(name: str, snf: _Sniff) -> tuple[str | None, str, str | None]:
    """(kind, status, reason); kind None means: not a trace, leave it out."""
    name_kind = "merged" if _MERGED_RE.search(name) else (
        "kineto" if _name_says_trace(name) else None)
    if snf.kind == "layerwise":
        return "layerwise", "ok", None
    if snf.kind == "kineto":
        return name_kind or "kineto", "ok", None
    if not snf.decided:  # header unreadable: trust the name, ingest reports the error
        return name_kind, "ok", snf.note
    if name_kind:  # named like a trace, but the content says otherwise
        return name_kind, "rejected", f"not a trace: {snf.note}"
    return None, "", None


def _name_says_trace(name: str) -> bool:
    return bool(_TRACE_SUFFIX_RE.search(name) or _framework_from_name(name))


def _rel(path: Path, root_dir: Path) -> str:
    try:
        return path.relative_to(root_dir).as_posix()
    except ValueError:
        return path.name


def _file_fp(rel: str, st: os.stat_result) -> str:
    return _sha(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}")[:16]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def _first_int(*values) -> int | None:
    for v in values:
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        if isinstance(v, str) and v.isdigit():
            return int(v)
    return None


# ---------------------------------------------------------------- inference rules


def _explicit_framework(ctx: _Ctx) -> str | None:
    for src in (ctx.manifest, ctx.capture):
        if src and isinstance(src.get("framework"), str) and src["framework"]:
            return _normalise_framework(src["framework"])
    return _framework_from_server_args(ctx.server_args)


def _file_framework(ctx: _Ctx, name: str, snf: _Sniff) -> str:
    return (_explicit_framework(ctx) or _framework_from_name(name)
            or _framework_from_content(snf) or ctx.dir_framework)


def _normalise_framework(value: str) -> str:
    v = value.strip().lower()
    return _catalog()["framework_dirs"].get(v, v)


def _framework_from_name(name: str) -> str | None:
    for pat in _catalog()["name_patterns"]:
        if re.search(pat["regex"], name):
            return pat["framework"]
    return None


def _framework_from_content(snf: _Sniff) -> str | None:
    if snf.kind == "layerwise":
        return "vllm"
    hits = Counter({fw: sum(snf.head.count(m) for m in markers)
                    for fw, markers in _catalog()["content_markers"].items()})
    best = hits.most_common(1)
    return best[0][0] if best and best[0][1] > 0 else None


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


# ---------------------------------------------------------------- sidecars


def _load_manifest(path: Path, warnings: list[str]) -> dict | None:
    if not path.is_file():
        return None
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        warnings.append(f"invalid manifest {path}: {exc}")
        return {"_error": f"invalid {MANIFEST_NAME}: {exc}"}
    return data


def _manifest_error(ctx: _Ctx) -> str | None:
    return (ctx.manifest or {}).get("_error")


def _manifest_rule(manifest: dict | None, rel: str) -> dict:
    """Top-level stage/role/rank, then every matching [[files]] entry in order (last wins)."""
    if not manifest or "_error" in manifest:
        return {}
    rule = {k: manifest[k] for k in ("stage", "role", "rank") if k in manifest}
    for entry in manifest.get("files", []):
        if isinstance(entry, dict) and fnmatch.fnmatchcase(rel, str(entry.get("glob", ""))):
            rule.update({k: entry[k] for k in ("stage", "role", "rank") if k in entry})
    return rule


def _capture_entry(capture: dict | None, rel: str) -> dict:
    """capture.json's stage/role/rank, refined by its entry for `rel` in `files`.

    `files` is a list of names (with a parallel `ranks` list, as pipeline/capture writes
    it) or of objects `{path|name, stage?, role?, rank?}`.
    """
    if not capture:
        return {}
    out = {k: capture[k] for k in ("stage", "role", "rank") if capture.get(k) is not None}
    files = capture.get("files") or []
    ranks = capture.get("ranks") if isinstance(capture.get("ranks"), list) else []
    for i, entry in enumerate(files if isinstance(files, list) else []):
        if entry == rel and i < len(ranks) and ranks[i] is not None:
            out["rank"] = ranks[i]
        elif isinstance(entry, dict) and rel in (entry.get("path"), entry.get("name")):
            out.update({k: entry[k] for k in ("stage", "role", "rank")
                        if entry.get(k) is not None})
    return out


def _load_json_sidecar(path: Path, warnings: list[str]) -> dict | None:
    try:
        if not path.is_file() or path.stat().st_size > _SIDECAR_MAX:
            return None
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        warnings.append(f"unreadable {path.name} ignored: {path}: {exc}")
        return None
    return data if isinstance(data, dict) else None


def _diffusion_gate(root_dir: Path, warnings: list[str]) -> str | None:
    """Reason string when a server log / capture.json says a diffusers backend served."""
    cfg = _catalog()["diffusion"]
    for log in _gate_files(root_dir, cfg["log_globs"]):
        phrase = _find_phrase(log, cfg["phrases"], cfg["max_scan_bytes"], warnings)
        if phrase:
            return f"diffusers backend fallback: {_rel(log, root_dir)}: '{phrase}'"
    return None


def _gate_files(root_dir: Path, globs: list[str]) -> list[Path]:
    dirs = [root_dir] + [root_dir / s for s in _catalog()["roles"]["subdirs"]]
    found = set()
    for d in dirs:
        for g in globs:
            try:
                found.update(p for p in d.glob(g) if p.is_file())
            except OSError:
                continue
    return sorted(found)


def _find_phrase(path: Path, phrases: list[str], limit: int,
                 warnings: list[str]) -> str | None:
    """First phrase found (case-insensitive), reading 1 MiB chunks up to `limit` bytes."""
    lowered = [p.lower().encode() for p in phrases]
    overlap = max(len(p) for p in lowered)
    tail, total = b"", 0
    try:
        with path.open("rb") as fh:
            while total < limit and (chunk := fh.read(1 << 20)):
                total += len(chunk)
                window = tail + chunk.lower()
                for raw, low in zip(phrases, lowered):
                    if low in window:
                        return raw
                tail = window[-overlap:]
    except OSError as exc:
        warnings.append(f"cannot read log {path}: {exc}")
    return None


# ---------------------------------------------------------------- sniffing


def _read_head(path: Path) -> tuple[bytes, bool]:
    """First SNIFF_BYTES of the (decompressed) content and whether that is all of it."""
    with _open_binary(path, "rb") as fh:
        buf = fh.read(SNIFF_BYTES + 1)
        if buf[:2] != b"\x1f\x8b":
            return buf[:SNIFF_BYTES], len(buf) <= SNIFF_BYTES
        dec = zlib.decompressobj(wbits=31)
        out, raw_total = bytearray(), len(buf)
        while len(out) <= SNIFF_BYTES and not dec.eof:
            if not buf:
                buf = fh.read(_RAW_CHUNK) if raw_total <= _RAW_CAP else b""
                raw_total += len(buf)
                if not buf:
                    break  # truncated gzip (or cap reached): sniff what we have
            try:
                out += dec.decompress(buf, SNIFF_BYTES + 1 - len(out))
            except zlib.error:
                if not out:
                    raise
                break
            buf = dec.unconsumed_tail
        complete = dec.eof and not dec.unused_data and not fh.read(1)
        return bytes(out[:SNIFF_BYTES]), complete and len(out) <= SNIFF_BYTES


def _sniff(path: Path) -> _Sniff:
    try:
        data, complete = _read_head(path)
    except (OSError, zlib.error, EOFError) as exc:
        return _Sniff(None, False, "", f"header unreadable: {exc}")
    text = data.decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
    if not text:
        why = "empty file" if complete else "truncated before any data"
        return _Sniff(None, False, "", f"header unreadable: {why}")
    if text[0] == "[":
        ok = _looks_like_event_list(text)
        return _Sniff("kineto" if ok else None, True, text,
                      None if ok else "JSON array without trace events")
    if text[0] != "{":
        return _Sniff(None, True, text, "not a JSON object or array")
    return _classify_object(text, complete)


def _classify_object(text: str, complete: bool) -> _Sniff:
    keys, context_keys = _object_keys(text)
    if "traceEvents" in keys:
        return _Sniff("kineto", True, text)
    steps = any(k == "prefill" or re.fullmatch(r"decode_\d+", k) for k in keys)
    if "context" in keys and (steps or (not complete and
                                        {"engine_args", "torch_version"} & context_keys)):
        return _Sniff("layerwise", True, text)
    if not complete and _KINETO_HEADER_KEYS & keys:
        return _Sniff("kineto", True, text, "traceEvents beyond the sniffed header")
    shown = ", ".join(sorted(keys)[:6]) or "none"
    return _Sniff(None, True, text, f"JSON object without traceEvents (top keys: {shown})")


def _object_keys(text: str) -> tuple[set[str], set[str]]:
    """Top-level keys of a JSON object prefix (up to ``traceEvents``), and the keys directly inside `context`."""
    keys: set[str] = set()
    context_keys: set[str] = set()
    stack: list[str] = []
    expect_key, current = False, None
    for m in _TOKEN_RE.finditer(text):
        tok = m.group()
        if m.end() == len(text) and tok[0] == '"' and (len(tok) < 2 or tok[-1] != '"' or tok[-2] == "\\"):
            break  # a string cut by the end of the sniffed text
        if tok in "{[":
            stack.append(tok)
            expect_key = tok == "{"
        elif tok in "}]":
            stack.pop()
            if not stack:
                break
        elif tok == ",":
            expect_key = stack[-1] == "{"
        elif tok == ":":
            expect_key = False
        elif expect_key:
            key = _unquote(tok)
            if len(stack) == 1:
                keys.add(key)
                current = key
                if key == "traceEvents":  # enough to classify; the events need no tokenising
                    break
            elif len(stack) == 2 and current == "context":
                context_keys.add(key)
            expect_key = False
    return keys, context_keys


def _unquote(token: str) -> str:
    if "\\" not in token and len(token) >= 2 and token[0] == token[-1] == '"':
        return token[1:-1]
    try:
        return json.loads(token)
    except ValueError:
        return token.strip('"')


def _looks_like_event_list(text: str) -> bool:
    body = text[1:].lstrip()
    return body.startswith("{") and re.search(r'"ph"\s*:', body[:4096]) is not None


def _catalog() -> dict:
    return read_catalog("discovery.toml")
