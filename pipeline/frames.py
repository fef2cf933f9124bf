"""Python frame names → package-relative locations, and the choice of a kernel's site.

Rules live in `pipeline/catalog/frames.toml`; nothing here depends on where a checkout was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from pipeline.paths import read_catalog

_FRAME_RE = re.compile(r"^(?P<path>.+?\.py)\((?P<line>\d+)\): (?P<func>.*)$")


@dataclass(frozen=True)
class FrameRules:
    code_packages: tuple[str, ...]
    library_packages: tuple[str, ...]
    noise: tuple[str, ...]
    builtin_prefixes: tuple[str, ...]


@lru_cache(maxsize=1)
def rules() -> FrameRules:
    """The frame rules from the catalog."""
    cat = read_catalog("frames.toml")
    return FrameRules(
        tuple(cat["code_packages"]), tuple(cat["library_packages"]),
        tuple(cat["noise_frames"]), tuple(cat["builtin_prefixes"]),
    )


def _relative_path(path: str, r: FrameRules) -> str:
    path = path.replace("\\", "/")
    for marker in ("site-packages/", "dist-packages/"):
        idx = path.rfind(marker)
        if idx >= 0:
            return path[idx + len(marker):]
    best = -1
    for pkg in r.code_packages + r.library_packages:
        idx = path.rfind(f"/{pkg}/")
        if idx > best:
            best = idx
    if best >= 0:
        return path[best + 1:]
    if "/lib/python" in path:  # stdlib: keep from the file name
        return path.rsplit("/", 1)[-1]
    return path.lstrip("/")


@lru_cache(maxsize=65536)
def display_frame(name: str) -> str:
    """``/x/y/sglang/srt/models/llama.py(194): forward`` → ``sglang/srt/models/llama.py:194 forward``."""
    m = _FRAME_RE.match(name)
    if not m:
        return name
    return f"{_relative_path(m['path'], rules())}:{m['line']} {m['func']}"


@lru_cache(maxsize=65536)
def frame_kind(name: str) -> str:
    """``code`` (can be a site), ``library``, ``noise`` or ``builtin`` for a raw frame name."""
    r = rules()
    if name.startswith(r.builtin_prefixes) or not _FRAME_RE.match(name):
        return "builtin"
    shown = display_frame(name)
    if any(n in shown for n in r.noise):
        return "noise"
    top = shown.split("/", 1)[0]
    if top in r.code_packages:
        return "code"
    if top in r.library_packages or "/" not in shown.split(":", 1)[0]:
        return "library"
    return "code"  # user scripts and model code outside known packages


def choose_site(stack: list[str]) -> str | None:
    """Innermost code frame of a raw stack (outermost → innermost), shown package-relative."""
    for name in reversed(stack):
        if frame_kind(name) == "code":
            return display_frame(name)
    return None
