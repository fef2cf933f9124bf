"""Slot groups for the per-layer table: a catalog rule per kernel, then the slot's place in the layer.

`pipeline/catalog/layer_groups.toml` names each kernel's *base* group (by key pattern or family). A
dense GEMM (`gemm`) and a norm take their final group from where their slot sits in the layer
template (`refine`): before the attention a GEMM is the QKV projection, after it (before the next
norm) the O projection, right before a router/top-k slot the router GEMM, otherwise an MLP GEMM
(`gate_up` before the activation, `down` after it); a norm between the QKV GEMM and the attention
is a q/k norm; an activation after the router is the experts' (`expert`), else the MLP's (`mlp`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from pipeline.classify import kernel_key
from pipeline.paths import read_catalog

CATALOG = "layer_groups.toml"
GEMM = "gemm"  # base group resolved by position
OTHER = "other"


@dataclass(frozen=True)
class GroupRule:
    """One catalog rule."""

    id: str
    group: str
    pattern: re.Pattern[str] | None
    family: str | None
    source: str
    examples: tuple[str, ...]


@lru_cache(maxsize=1)
def group_labels() -> dict[str, str]:
    """Group id → label (catalog order)."""
    return dict(read_catalog(CATALOG)["groups"])


@lru_cache(maxsize=1)
def group_rules() -> tuple[GroupRule, ...]:
    """The catalog rules, in order."""
    return tuple(
        GroupRule(r["id"], r["group"], re.compile(r["pattern"], re.I) if "pattern" in r else None,
                  r.get("family"), r["source"], tuple(r.get("examples", ())))
        for r in read_catalog(CATALOG)["rule"]
    )


@lru_cache(maxsize=None)
def base_group(name: str, family: str | None) -> str:
    """The catalog group of one kernel (``gemm`` for a dense GEMM, resolved later by position)."""
    key = kernel_key(name or "")
    for rule in group_rules():
        if rule.pattern is not None and rule.pattern.search(key):
            return rule.group
        if rule.family is not None and rule.family == family:
            return rule.group
    return OTHER


def rule_of(name: str, family: str | None) -> str | None:
    """Id of the rule that gives `base_group` (tests)."""
    key = kernel_key(name or "")
    for rule in group_rules():
        if (rule.pattern is not None and rule.pattern.search(key)) or (rule.family is not None and rule.family == family):
            return rule.id
    return None


def refine(bases: list[str] | tuple[str, ...]) -> list[tuple[str, str | None]]:
    """(group, role) per template slot from the slots' base groups, by position (module docstring)."""
    return list(_refine(tuple(bases)))


@lru_cache(maxsize=4096)
def _refine(bases: tuple[str, ...]) -> tuple[tuple[str, str | None], ...]:
    attn = [i for i, b in enumerate(bases) if b == "attention"]
    first_attn, last_attn = (attn[0], attn[-1]) if attn else (len(bases), len(bases))
    after_o = next((i for i in range(last_attn + 1, len(bases)) if bases[i] == "norm"), len(bases))
    acts = [i for i, b in enumerate(bases) if b == "activation" and i > last_attn]
    first_gemm = next((i for i, b in enumerate(bases) if b == GEMM), len(bases))
    out: list[tuple[str, str | None]] = []
    for i, b in enumerate(bases):
        if b == GEMM:
            out.append(_gemm_role(i, bases, (first_attn, last_attn, after_o) if attn else None, acts))
        elif b == "norm" and first_gemm < i < first_attn:
            out.append(("qk_norm_rope", "qk_norm"))
        elif b == "qk_norm_rope":
            out.append((b, "rope"))
        elif b == "activation":
            moe = any(x in ("router_topk", "expert_gemm") for x in bases[:i])
            out.append((b, "expert" if moe else "mlp"))
        else:
            out.append((b, None))
    return tuple(out)


def _gemm_role(i: int, bases: list[str], attn: tuple[int, int, int] | None, acts: list[int]) -> tuple[str, str]:
    """`attn`: (first attention slot, last attention slot, first norm after it), None without attention."""
    if attn and i < attn[0]:
        return "qkv_o_gemm", "qkv"
    if attn and attn[1] < i < attn[2]:
        return "qkv_o_gemm", "o"
    nxt = next((b for b in bases[i + 1:] if b not in (GEMM, OTHER)), None)
    if nxt == "router_topk":
        return "router_topk", "router"
    if acts and i < acts[0]:
        return "mlp_gemm", "gate_up"
    if acts:
        return "mlp_gemm", "down"
    return "mlp_gemm", "mlp"
