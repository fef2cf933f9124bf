"""Which GPU a trace ran on, and its peaks: `pipeline/catalog/devices.toml`, optionally overridden.

`match_device(props)` reads one ``deviceProperties`` entry; an unknown device is reported as
such and gets no peaks (nothing is modelled against a guessed roof). ``PROFTRIAGE_PEAKS`` names a
TOML file of measured "max achievable" peaks that replace catalog figures key by key (or add
devices): docs/roofline.md.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import orjson

from pipeline.config import settings
from pipeline.paths import read_catalog, read_sql

CATALOG = "devices.toml"
PEAKS_ENV = "PROFTRIAGE_PEAKS"
DTYPES = ("fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "fp6", "fp4", "int8")
GIB = 1 << 30


class PeaksFileError(ValueError):
    """The override file named by PROFTRIAGE_PEAKS is unreadable or malformed (message names it)."""


@dataclass(frozen=True)
class DeviceSpec:
    """One catalog (or override) entry."""

    key: str
    model: str
    match: tuple[re.Pattern[str], ...]
    hbm_tbps: float
    tflops: dict[str, float]
    source: str
    dense: str
    requires: dict = field(default_factory=dict)
    empty_name: dict = field(default_factory=dict)
    link_tbps: float | None = None  # scale-up interconnect, one direction (collectives' roof)
    link: str = ""


@dataclass(frozen=True)
class Device:
    """The device of a trace: matched to a spec, or not (then `spec` is None and nothing is modelled)."""

    name: str
    spec: DeviceSpec | None
    matched_by: str | None = None
    note: str | None = None

    @property
    def matched(self) -> bool:
        return self.spec is not None

    def peak_tflops(self, dtype: str | None) -> float | None:
        return self.spec.tflops.get(dtype) if self.spec and dtype else None

    @property
    def hbm_tbps(self) -> float | None:
        return self.spec.hbm_tbps if self.spec else None

    @property
    def link_tbps(self) -> float | None:
        return self.spec.link_tbps if self.spec else None

    def as_json(self) -> dict:
        s = self.spec
        return {
            "name": self.name, "matched": self.matched, "key": s.key if s else None, "model": s.model if s else None,
            "matched_by": self.matched_by,
            "peaks": {"tflops": dict(s.tflops), "hbm_tbps": s.hbm_tbps, "link_tbps": s.link_tbps} if s else None,
            "source": {"citation": s.source, "dense": s.dense, "link": s.link or None} if s else None,
            "note": self.note,
        }


def _spec(raw: dict, origin: str) -> DeviceSpec:
    try:
        tflops = {k: float(v) for k, v in raw.get("tflops", {}).items()}
        bad = sorted(set(tflops) - set(DTYPES))
        if bad:
            raise ValueError(f"unknown dtype keys {bad} (known: {', '.join(DTYPES)})")
        return DeviceSpec(
            key=raw["key"], model=raw["model"], match=tuple(re.compile(p, re.I) for p in raw.get("match", [])),
            hbm_tbps=float(raw["hbm_tbps"]), tflops=tflops, source=raw["source"], dense=raw.get("dense", ""),
            requires=dict(raw.get("requires", {})), empty_name=dict(raw.get("empty_name", {})),
            link_tbps=float(raw["link_tbps"]) if raw.get("link_tbps") is not None else None, link=raw.get("link", ""),
        )
    except (KeyError, ValueError, TypeError, re.error) as exc:
        raise ValueError(f"{origin}: device entry {raw.get('key', '?')!r}: {exc}") from exc


@lru_cache(maxsize=1)
def catalog_specs() -> tuple[DeviceSpec, ...]:
    return tuple(_spec(raw, CATALOG) for raw in read_catalog(CATALOG)["device"])


def _read_override(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PeaksFileError(f"{PEAKS_ENV}={path}: cannot read the peaks file: {exc}") from exc


def _apply_override(specs: list[DeviceSpec], path: Path) -> list[DeviceSpec]:
    """Override tables keyed by device key: ``[h100-sxm] hbm_tbps = …, tflops = {bf16 = …},
    source = "…"`` replaces those figures; a table with `model`/`match` for an unknown key adds a device."""
    data = _read_override(path)
    by_key = {s.key: s for s in specs}
    added = []
    for key, table in data.items():
        if not isinstance(table, dict) or not table.get("source"):
            raise PeaksFileError(f"{PEAKS_ENV}={path}: [{key}] must be a table with a `source` (how it was measured)")
        base = by_key.get(key)
        try:
            if base is None:
                added.append(_spec({**table, "key": key}, f"{PEAKS_ENV}={path}"))
                continue
            merged = _spec({
                "key": key, "model": base.model, "match": [p.pattern for p in base.match],
                "hbm_tbps": table.get("hbm_tbps", base.hbm_tbps), "tflops": {**base.tflops, **table.get("tflops", {})},
                "link_tbps": table.get("link_tbps", base.link_tbps), "link": base.link,
                "source": f"{table['source']} (measured, {PEAKS_ENV}={path}); catalog: {base.source}",
                "dense": base.dense, "requires": base.requires, "empty_name": base.empty_name,
            }, f"{PEAKS_ENV}={path}")
        except ValueError as exc:
            raise PeaksFileError(str(exc)) from exc
        by_key[key] = merged
    return added + [by_key[s.key] for s in specs]


def device_specs() -> list[DeviceSpec]:
    """Catalog entries with the PROFTRIAGE_PEAKS override applied (re-read on every call)."""
    specs = list(catalog_specs())
    path = settings().peaks_file
    return _apply_override(specs, path) if path and str(path) not in ("", ".") else specs


def _requires_ok(spec: DeviceSpec, props: dict) -> bool:
    return all(props.get(k) == v for k, v in spec.requires.items())


def _empty_name_ok(spec: DeviceSpec, props: dict) -> bool:
    want = spec.empty_name
    if not want:
        return False
    if any(props.get(k) != v for k, v in want.items() if k != "mem_gib"):
        return False
    lo, hi = want.get("mem_gib", (0, float("inf")))
    return lo <= (props.get("totalGlobalMem") or 0) / GIB <= hi


def match_device(props: dict | None, specs: list[DeviceSpec] | None = None) -> Device:
    """The catalog device one ``deviceProperties`` entry describes (unmatched: say why)."""
    specs = device_specs() if specs is None else specs
    if not props:
        return Device("", None, note="the trace records no deviceProperties: device unknown, nothing modelled")
    name = str(props.get("name") or "").strip()
    if name:
        for spec in specs:
            if any(p.search(name) for p in spec.match) and _requires_ok(spec, props):
                return Device(name, spec, "name")
        return Device(name, None, note=f"{name!r} is not in the device catalog (pipeline/catalog/devices.toml): "
                                       f"nothing modelled; add it or set {PEAKS_ENV}")
    for spec in specs:
        if _empty_name_ok(spec, props):
            gib = (props.get("totalGlobalMem") or 0) / GIB
            return Device("", spec, "properties", note=(
                f"deviceProperties name is empty: matched {spec.model} by compute capability "
                f"{props.get('computeMajor')}.{props.get('computeMinor')}, {props.get('numSms')} CUs/SMs and "
                f"{gib:.0f} GiB"))
    return Device("", None, note="deviceProperties name is empty and the properties match no catalog entry: "
                                 "nothing modelled")


def _props_for(props: list, device: int | None) -> dict | None:
    """The deviceProperties entry of GPU `device` (by `id`, else by position; a lone entry)."""
    entries = [p for p in props if isinstance(p, dict)]
    for p in entries:
        if device is not None and p.get("id") == device:
            return p
    if device is not None and 0 <= device < len(entries):
        return entries[device]
    return entries[0] if len(entries) == 1 else None


def trace_device(conn, records: list[dict]) -> Device:
    """The device the records ran on: the matched entry holding most kernel time (a note names others)."""
    file_ids = sorted({r["file_id"] for r in records})
    if not file_ids:
        return match_device(None)
    rows = conn.execute(read_sql("roofline/device_properties.sql"), [file_ids]).fetchall()
    props = {f: (orjson.loads(p) if p else []) for f, p in rows}
    time: dict[tuple[int, int | None], int] = {}
    for r in records:
        key = (r["file_id"], r.get("device"))
        time[key] = time.get(key, 0) + (r.get("dur_ns") or 0)
    try:
        specs = device_specs()
    except PeaksFileError as exc:  # a bad override models nothing rather than the wrong roofs
        return Device("", None, note=f"{exc}: nothing modelled")
    by_device: dict[tuple[str, str | None], list] = {}
    for (fid, dev), t in time.items():
        d = match_device(_props_for(props.get(fid) or [], dev), specs)
        slot = by_device.setdefault((d.name, d.spec.key if d.spec else None), [d, 0])
        slot[1] += t
    ranked = sorted(by_device.values(), key=lambda x: -x[1])
    best = ranked[0][0]
    if len(ranked) > 1:
        others = ", ".join(f"{d.name or d.matched_by or '?'}" for d, _ in ranked[1:])
        note = f"kernels ran on several device models; peaks of the one holding most time (others: {others})"
        best = Device(best.name, best.spec, best.matched_by, "; ".join(filter(None, [best.note, note])))
    return best
