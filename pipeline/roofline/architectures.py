"""Published MoE architectures (`pipeline/catalog/models.toml`), for ops that record no expert weights.

`architecture_for(model)` matches a model name; ``PROFTRIAGE_MODELS`` names a TOML file of
``[[model]]`` entries in the catalog's format, read before the catalog (docs/roofline.md).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache

from pipeline.config import settings
from pipeline.paths import read_catalog

CATALOG = "models.toml"
MODELS_ENV = "PROFTRIAGE_MODELS"
_INTS = ("hidden_size", "moe_intermediate_size", "num_experts", "top_k")


class ModelsFileError(ValueError):
    """The file named by PROFTRIAGE_MODELS is unreadable or malformed (the message names it)."""


@dataclass(frozen=True)
class Architecture:
    """The expert sizes of one published MoE model."""

    name: str
    match: tuple[re.Pattern[str], ...]
    hidden_size: int
    moe_intermediate_size: int
    num_experts: int
    top_k: int
    gated: bool
    weight_bits: float
    source: str
    code: str | None = None  # models/<code>.py in vLLM / SGLang

    @property
    def weights_per_expert(self) -> int:
        """Weight elements of one expert: (2 if gated else 1)·H·I up (and gate), I·H down."""
        return (3 if self.gated else 2) * self.hidden_size * self.moe_intermediate_size


def _architecture(raw: dict, origin: str) -> Architecture:
    try:
        ints = {k: int(raw[k]) for k in _INTS}
        if min(ints.values()) <= 0 or ints["top_k"] > ints["num_experts"]:
            raise ValueError(f"sizes must be positive and top_k ≤ num_experts: {ints}")
        if not raw.get("source") or not raw.get("match"):
            raise ValueError("needs `match` and `source`")
        return Architecture(name=str(raw["name"]), match=tuple(re.compile(p, re.I) for p in raw["match"]),
                            gated=bool(raw.get("gated", True)), weight_bits=float(raw["weight_bits"]),
                            source=str(raw["source"]), code=raw.get("code"), **ints)
    except (KeyError, TypeError, ValueError, re.error) as exc:
        raise ValueError(f"{origin}: model entry {raw.get('name', '?')!r}: {exc}") from exc


@lru_cache(maxsize=1)
def catalog_architectures() -> tuple[Architecture, ...]:
    return tuple(_architecture(raw, CATALOG) for raw in read_catalog(CATALOG)["model"])


def _override() -> list[Architecture]:
    path = settings().models_file
    if not path or str(path) in ("", "."):
        return []
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        return [_architecture(raw, f"{MODELS_ENV}={path}") for raw in data.get("model", [])]
    except (OSError, tomllib.TOMLDecodeError, ValueError) as exc:
        raise ModelsFileError(f"{MODELS_ENV}={path}: {exc}") from exc


def architectures() -> tuple[Architecture, ...]:
    """The override's entries, then the catalog's."""
    return (*_override(), *catalog_architectures())


def architectures_by_code(codes: set[str]) -> tuple[Architecture, ...]:
    """Entries whose model source file is among `codes` (the trace's `models/<code>.py` frames)."""
    return tuple(a for a in architectures() if a.code and a.code in codes)


def architecture_for(model: str | None) -> Architecture | None:
    """The first override or catalog entry whose `match` finds `model` (None: unknown model)."""
    if not model:
        return None
    for arch in architectures():
        if any(p.search(model) for p in arch.match):
            return arch
    return None
