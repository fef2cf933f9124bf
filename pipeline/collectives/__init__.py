"""Collectives across ranks: instances matched over the ranks of one root, transfer vs wait, the
late rank, bandwidths, and the host-bound ceiling (docs/collectives.md).

- `facts`: per-kernel columns (collective metadata, the CPU gap before each collective);
- `match`: collective instances across ranks, and whether their ends line up;
- `metrics`: one row per collective (transfer, wait per rank, late rank, bytes, bandwidths);
- `hostbound`: the share of a stage's wall time GPU-side kernel savings could recover.
"""

from __future__ import annotations

from pipeline.paths import read_catalog


def load_config() -> dict:
    """`pipeline/catalog/collectives.toml` (`read_catalog` parses it once per process; shared: do not modify it)."""
    return read_catalog("collectives.toml")
