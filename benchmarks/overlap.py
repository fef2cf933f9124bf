"""Scaling of the overlap sweep: n random kernels on 4 streams, time per n and per n log n.

Run: `.venv/bin/python benchmarks/overlap.py [n ...]` (default 10k 100k 1M). The ratio
column (ns per n·log2 n) should stay roughly flat if the analysis is O(n log n).
"""

from __future__ import annotations

import gc
import math
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from pipeline.analyze import overlap as ov  # noqa: E402

FAMILIES = ["gemm", "attention", "norm", "communication", "memory", "elementwise", "activation", "rope"]


def make_kernels(n: int, streams: int = 4, seed: int = 0) -> list[dict]:
    """Serial kernels per stream with random gaps, ~200 distinct names, some launch timestamps."""
    rnd = random.Random(seed)
    clock = [0] * streams
    out = []
    for i in range(n):
        s = rnd.randrange(streams)
        clock[s] += rnd.choice((0, 500, 2_000, 30_000))
        dur = rnd.randrange(1_000, 100_000)
        fam = FAMILIES[i % len(FAMILIES)]
        name = f"{fam}_kernel_{rnd.randrange(25)}"
        out.append({"name": name, "display_name": name, "family": fam, "ts_ns": clock[s], "dur_ns": dur,
                    "stream": s, "device": 0, "site": f"model/layer{rnd.randrange(8)}.py:1 forward",
                    "launch_ts_ns": clock[s] - rnd.randrange(0, 40_000)})
        clock[s] += dur
    return out


def time_sweep(kernels: list[dict]) -> tuple[float, float]:
    """(seconds in the sweep alone, seconds for the whole analyze_overlap call); best of a few runs in `main`."""
    cfg = ov.load_config()
    names, fam_to_cat, default = ov.category_sets(cfg)
    cols = ov._columns(kernels)
    cat = [fam_to_cat.get(f, default) for f in cols.family]
    t0 = time.perf_counter()
    ov._sweep(cols, cat, len(names), ov.DepRule.from_cfg(cfg["dep"]), None, cfg["launch"]["max_gap_ns"]).run()
    sweep = time.perf_counter() - t0
    t0 = time.perf_counter()
    ov.analyze_overlap(kernels)
    return sweep, time.perf_counter() - t0


def main(sizes: list[int]) -> None:
    print(f"{'n':>9} {'sweep s':>9} {'total s':>9} {'sweep ns/(n log2 n)':>20} {'total ns/(n log2 n)':>20}")
    for n in sizes:
        kernels = make_kernels(n)
        gc.collect()
        gc.freeze()  # keep the input out of the collector's scans, as a loaded stage would be
        runs = [time_sweep(kernels) for _ in range(3 if n <= 100_000 else 1)]
        sweep, total = min(r[0] for r in runs), min(r[1] for r in runs)
        gc.unfreeze()
        nlogn = n * math.log2(n)
        print(f"{n:>9} {sweep:>9.3f} {total:>9.3f} {sweep / nlogn * 1e9:>20.1f} {total / nlogn * 1e9:>20.1f}")


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sizes", nargs="*", type=int, default=[10_000, 100_000, 1_000_000],
                    help="numbers of kernels (default 10k 100k 1M)")
    main(ap.parse_args().sizes)
