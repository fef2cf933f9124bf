"""Find trace roots and trace files under a data root: walking, keys, fingerprints, building records.

Rules and examples: docs/discovery.md. Naming data: pipeline/catalog/discovery.toml.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import replace
from pathlib import Path

from pipeline.discover.infer import (_explicit_run, _file_framework, _file_model, _file_role, _first_int,
                                     _rank_from_name, _root_framework, _root_model, _root_run, _stage_from_name)
from pipeline.discover.records import (_SGLANG_RANK_RE, CAPTURE_NAME, MANIFEST_NAME, SERVER_ARGS_NAME,
                                       DiscoveryError, TraceFile, TraceRoot, _catalog, _Ctx, _rel)
from pipeline.discover.sidecars import _capture_entry, _diffusion_gate, _make_ctx, _manifest_error, _manifest_rule
from pipeline.discover.sniffing import _kind_status, _sniff

_BAD_KEY_RE = re.compile(r"(?:\.{3,}|[|,\[\]\s\x00-\x1f])+")
_ASYNC_LLM_NOTE = "vLLM frontend (AsyncLLM) trace: CPU only, no GPU kernels"


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
    """Describe one file as its root's discovery does, using the sidecars of its directory (for
    `proftriage inspect`)."""
    path = _existing_file(path)
    root_dir = _sidecar_dir(path)
    return _describe(path, _make_ctx(root_dir, root_dir.parent, []))


def lone_file(path: Path) -> tuple[TraceFile, str | None]:
    """One file given by itself (a side of `triage --mapping-input A --formal-input B`), and the run
    its sidecars name: the sidecars of its directory count, as in `inspect_file`, but no folder name
    names its model (docs/discovery.md, "A lone file")."""
    path = _existing_file(path)
    root_dir = _sidecar_dir(path)
    ctx = _make_ctx(root_dir, root_dir.parent, [])
    ctx.dir_model = None
    return _describe(path, ctx), _explicit_run(ctx)


def lone_root(path: Path, key: str) -> TraceRoot:
    """The root, keyed `key`, of one file given by itself (`triage --input FILE`): its folder's
    sidecars, gates and per-rank traces count as for the folder's root, but the folder's name names
    no model and no run (docs/discovery.md, "A lone file")."""
    path = _existing_file(path)
    root_dir = path.parent
    ctx = _make_ctx(root_dir, root_dir.parent, [])
    ctx.dir_model = None
    tf = _describe(path, ctx)
    if tf.kind == "merged" and tf.status == "ok":  # skipped when per-rank traces sit beside it
        beside = [f for p in _candidates(root_dir, []) if p != path and (f := _make_file(p, ctx)) is not None]
        tf = next(f for f in _shadow_merged([tf, *beside]) if f.path == path)
    reason = _manifest_error(ctx) or _diffusion_gate(root_dir, [])
    return TraceRoot(key=key, path=root_dir, framework=tf.framework, model=tf.model, run=_explicit_run(ctx),
                     files=(tf,), fingerprint=tf.fingerprint, status="rejected" if reason else "ok",
                     reason=reason, server_args=ctx.server_args, manifest=ctx.manifest)


def _existing_file(path: Path) -> Path:
    path = normal_path(path)
    if not path.is_file():
        raise DiscoveryError(f"not a file: {path}")
    return path


def _sidecar_dir(path: Path) -> Path:
    """The directory whose sidecars describe `path`: its own, or the root above a mapping/ formal/ one."""
    return path.parent.parent if _is_role_subdir(path.parent) else path.parent


def _describe(path: Path, ctx: _Ctx) -> TraceFile:
    """`path`'s record under `ctx`; a file that is not a trace is listed as rejected."""
    tf = _make_file(path, ctx)
    if tf is not None:
        return tf
    st = path.stat()
    rel = _rel(path, ctx.root_dir)
    return TraceFile(path, rel, "kineto", "unknown", None, "single", "unknown", None, st.st_size, st.st_mtime_ns,
                     _file_fp(rel, st), "rejected", "not a trace: no traceEvents / event list / layerwise keys")


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


def _file_fp(rel: str, st: os.stat_result) -> str:
    return _sha(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}")[:16]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
