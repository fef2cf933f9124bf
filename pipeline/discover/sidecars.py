"""Sidecars of a root: proftriage.toml (manifest), capture.json, server_args.json, and the diffusion gate."""

from __future__ import annotations

import fnmatch
import json
import tomllib
from pathlib import Path

from pipeline.discover.infer import _framework_from_dirs, _model_from_dir
from pipeline.discover.records import (CAPTURE_NAME, MANIFEST_NAME, SERVER_ARGS_NAME, _catalog, _Ctx,
                                       _rel)

_SIDECAR_MAX = 16 * 1024 * 1024


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
