"""`catalog` attribution: the upstream call site of a kernel, from `pipeline/catalog/kernel_sites.toml`.

For kernels that still have no site after the mapping trace, eager steps and other roots: the
framework's entry whose pattern matches the kernel gives ``site = "catalog: <file> <function>"``,
plus the projection the layer slot tells (``qkv_proj``, ``o_proj``, ``gate_up_proj``,
``down_proj``, ``router``). ``attribution = "catalog"``; ``mapped_from`` names the entry and the
upstream file it cites. A catalog site says which code launches such a kernel upstream, not what
this trace proved.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache

from pipeline.align.slotmap import needs_site
from pipeline.classify import display_name, kernel_key
from pipeline.paths import read_catalog

CATALOG = "kernel_sites.toml"
PREFIX = "catalog: "
PROJECTION = {"qkv": "qkv_proj", "o": "o_proj", "gate_up": "gate_up_proj", "down": "down_proj", "router": "router",
              "mlp": "mlp"}


@dataclass(frozen=True)
class SiteEntry:
    """One catalog entry."""

    id: str
    frameworks: tuple[str, ...]
    source: str  # the regex, compiled on first use (`pattern`)
    full: bool
    site: str
    upstream: str
    checked: str
    examples: tuple[str, ...]
    roles: tuple[str, ...] = ()  # only for kernels whose layer slot has one of these roles
    models: tuple[str, ...] = ()  # only for roots whose model name contains one of these
    behind_custom_op: bool = False  # the profiler records no Python frame below the op that launches it
    moved_from: tuple[str, ...] = ()  # the site file's path in older framework versions

    @property
    def pattern(self) -> re.Pattern[str]:
        return _regex(self.source)

    @property
    def file(self) -> str:
        return self.site.split(" ", 1)[0]

    @property
    def files(self) -> tuple[str, ...]:
        """The site's file and its older paths."""
        return (self.file, *self.moved_from)


@lru_cache(maxsize=None)
def _regex(source: str) -> re.Pattern[str]:
    return re.compile(source, re.I)


@lru_cache(maxsize=1)
def site_entries() -> tuple[SiteEntry, ...]:
    """The catalog, in order."""
    return tuple(
        SiteEntry(e["id"], tuple(e["frameworks"]), e["pattern"], e.get("match_on") == "full",
                  e["site"], e["upstream"], e["checked"], tuple(e["examples"]), tuple(e.get("roles", ())),
                  tuple(m.lower() for m in e.get("models", ())), bool(e.get("behind_custom_op", False)),
                  tuple(e.get("moved_from", ())))
        for e in read_catalog(CATALOG)["site"]
    )


@lru_cache(maxsize=None)
def lookup(name: str, framework: str | None, role: str | None = None, model: str | None = None) -> SiteEntry | None:
    """The first entry of `framework` matching kernel `name`, its slot `role` and the root's `model`
    (None when none does); a ``full`` entry searches the raw name and its display name (demangled)."""
    key = kernel_key(name or "")
    full = f"{name} {display_name(name or '')}"  # ROCm names can be mangled: the demangled form too
    model = (model or "").lower()
    for entry in site_entries():
        if framework not in entry.frameworks or (entry.roles and role not in entry.roles):
            continue
        if entry.models and not any(m in model for m in entry.models):
            continue
        if entry.pattern.search(full if entry.full else key):
            return entry
    return None


def catalog_site(entry: SiteEntry, role: str | None) -> str:
    """``catalog: <site>`` with the projection of the slot when it tells one."""
    proj = PROJECTION.get(role or "")
    return f"{PREFIX}{entry.site}" + (f" ({proj})" if proj else "")


def attribute_from_catalog(records: list[dict], framework: str | None, model: str | None = None) -> dict[str, dict]:
    """Give kernels without a site their catalog site (in place). Per stage: ``time_ns``, ``kernels``
    and ``entries[]`` (``id, site, upstream, time_ns, kernels``) of what the catalog attributed."""
    out: dict[str, dict] = {}
    used: dict[str, dict[str, list]] = defaultdict(dict)
    for r in records:
        if not needs_site(r):
            continue
        entry = lookup(r.get("name") or "", framework, r.get("slot_role"), model)
        if entry is None:
            continue
        r.update(site=catalog_site(entry, r.get("slot_role")), attribution="catalog", stack=[], cpu_op=None,
                 cpu_op_ev=None, mapped_from=f"catalog {entry.id} ({entry.upstream})", match_kind=None)
        acc = used[r["stage"]].setdefault(entry.id, [entry, 0, 0])
        acc[1] += r["dur_ns"]
        acc[2] += 1
    for stage, entries in used.items():
        rows = sorted(({"id": e.id, "site": e.site, "upstream": e.upstream, "time_ns": t, "kernels": n}
                       for e, t, n in entries.values()), key=lambda x: -x["time_ns"])
        out[stage] = {"time_ns": sum(x["time_ns"] for x in rows), "kernels": sum(x["kernels"] for x in rows),
                      "entries": rows, "note": "sites from pipeline/catalog/kernel_sites.toml (which upstream code "
                                               "launches such a kernel), not proven by this trace"}
    return out
