"""Whole `triage` on a trace shaped like the reference tool's measured case, vs parsing it.

Run: ``.venv/bin/python benchmarks/triage.py [--repeat 3] [--layers 100] [--steps 101] [--keep] [--base REV]``

Generates (if missing) ``benchmarks/.work/triage-sglang-<layers>x<steps>_decode.json`` with
``tracegen/__init__.py`` (``ModelSpec.bench`` = 1 Python frame + 1 cpu_op + 1 launch + 1 kernel
per op, 8 ops per layer, one stage annotation per step — the reference tool's benchmark
shape: 100 layers × 101 steps ≈ 324k events, 80 800 kernels), then measures, interleaved,
each in a fresh process: (a) ``orjson.loads(open(f, 'rb').read())`` and (b) ``proftriage
triage --input FILE --format json --output-dir … -q`` (in-memory warehouse, attribution, all
tables). Target: triage ≤ 3 × the orjson parse. The reference tool took 15.6 s / 0.47 GB on
its 64.7 MB, 323 505-event case (its author's 2-vCPU EPYC; quoted, not measured here).
``--base REV`` also runs the CLI of commit REV (checked out into a temporary git worktree; or of
the source tree at REV when it is a folder) in the same interleaved rounds and prints its column
and new ÷ base.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import ROOT, WORK, gb, median, print_table, run_child  # noqa: E402

REFERENCE = {"events": 323_505, "mb": 64.7, "wall_s": 15.6, "peak_gb": 0.47}

TRIAGE_CHILD = """
import sys
sys.path.insert(0, {tree!r})
import time
import pipeline.cli as cli
assert cli.__file__.startswith({tree!r}), cli.__file__
import pipeline.report.triage as report
stages = {{"ingest": 0.0, "analysis": 0.0}}
def timed(fn, key):
    def inner(*a, **k):
        t0 = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            stages[key] += time.perf_counter() - t0
    return inner
cli.ingest_root = timed(cli.ingest_root, "ingest")
report.triage_root = timed(report.triage_root, "analysis")
t0 = time.perf_counter()
rc = cli.main(["triage", "--input", {path!r}, "--format", "json", "--output-dir", {out!r}, "-q"])
RESULT = {{"work_s": time.perf_counter() - t0, "rc": rc, **{{k + "_s": v for k, v in stages.items()}}}}
"""


def ensure_trace(layers: int, steps: int) -> tuple[Path, dict]:
    path = WORK / f"triage-sglang-{layers}x{steps}_decode.json"
    info_path = path.with_suffix(".info.json")
    if path.exists() and info_path.exists():
        return path, orjson.loads(info_path.read_bytes())
    from tracegen import ModelSpec, make_trace, write_trace

    print(f"generating {path.relative_to(common.ROOT)} …", flush=True)
    started = time.perf_counter()
    obj = make_trace(ModelSpec.bench(layers, "sglang"), steps=steps, mode="eager", stage="decode")
    events = obj["traceEvents"]
    kernels = sum(1 for e in events if e.get("cat") == "kernel")
    write_trace(obj, path)
    info = {"events": len(events), "kernels": kernels, "bytes": path.stat().st_size,
            "seconds": time.perf_counter() - started}
    info_path.write_bytes(orjson.dumps(info))
    return path, info


def triage_child(path: Path, out: Path, tree: Path = ROOT) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    r = run_child(TRIAGE_CHILD.format(tree=str(tree), path=str(path), out=str(out)))
    if r["rc"] != 0 or not (out / "triage.json").exists():
        raise RuntimeError(f"triage failed (rc={r['rc']})")
    r["json_bytes"] = (out / "triage.json").stat().st_size
    return r


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layers", type=int, default=100)
    ap.add_argument("--steps", type=int, default=101)
    ap.add_argument("--repeat", type=int, default=3, help="interleaved runs of each (median)")
    ap.add_argument("--keep", action="store_true", help="keep the generated trace in benchmarks/.work/")
    ap.add_argument("--base", help="also run the triage of this commit (or source folder), interleaved")
    args = ap.parse_args(argv)
    if args.base:
        with common.base_checkout(args.base) as base_tree:
            return run(args, base_tree)
    return run(args, None)


def run(args: argparse.Namespace, base_tree: tuple[str, Path] | None) -> int:
    """The interleaved rounds and the table (`base_tree`: (rev, checkout) of the commit compared against)."""
    print(f"machine: {common.machine_line()}; load avg {common.loadavg()}; {time.strftime('%Y-%m-%d %H:%M')}")
    path, info = ensure_trace(args.layers, args.steps)
    print(f"trace: {path.relative_to(common.ROOT)}: {info['bytes'] / 1e6:.1f} MB, {info['events']:,} events, "
          f"{info['kernels']:,} kernels")
    out = WORK / "triage-out"
    with open(path, "rb") as f:  # warm page cache
        f.read()
    base, ours, old = [], [], []
    for i in range(args.repeat):
        base.append(common.orjson_child(path))
        if base_tree:
            old.append(triage_child(path, out, base_tree[1]))
        ours.append(triage_child(path, out))
        print(f"  run {i + 1}/{args.repeat}: orjson {base[-1]['wall_s']:.2f} s, triage {ours[-1]['wall_s']:.2f} s"
              + (f", triage at {base_tree[0]} {old[-1]['wall_s']:.2f} s" if base_tree else "")
              + f" (load avg {common.loadavg()})", flush=True)
    bw, ow = median([r["wall_s"] for r in base]), median([r["wall_s"] for r in ours])
    bk, ok = median([r["work_s"] for r in base]), median([r["work_s"] for r in ours])
    bp, op = max(r["peak_kb"] for r in base), max(r["peak_kb"] for r in ours)
    rows = [
        ["wall s (process)", f"{bw:.2f}", f"{ow:.2f}", f"{ow / bw:.2f}", "≤ 3.00", f"{REFERENCE['wall_s']}"],
        ["work s (call only)", f"{bk:.2f}", f"{ok:.2f}", f"{ok / bk:.2f}", "", ""],
        ["  of which ingest s", "", f"{median([r['ingest_s'] for r in ours]):.2f}", "", "", ""],
        ["  of which analysis s", "", f"{median([r['analysis_s'] for r in ours]):.2f}", "", "", ""],
        ["peak RSS GB", f"{gb(bp):.2f}", f"{gb(op):.2f}", f"{op / bp:.2f}", "", f"{REFERENCE['peak_gb']}"],
    ]
    print_table(["", "orjson.loads", "triage (CLI)", "triage/orjson", "target", "reference tool*"], rows,
                title=f"median of {args.repeat} interleaved runs; peak = max(self, largest child, sampled tree sum)")
    print(f"* reference tool, single-trace mode, on its {REFERENCE['mb']} MB / {REFERENCE['events']:,}-event case "
          "(quoted from its measurements, not run here)")
    if base_tree:
        rows = [[k, f"{median([r[key] for r in old]):.2f}", f"{median([r[key] for r in ours]):.2f}",
                 f"{median([r[key] for r in ours]) / median([r[key] for r in old]):.2f}"]
                for k, key in (("wall s (process)", "wall_s"), ("work s (call only)", "work_s"),
                               ("  of which ingest s", "ingest_s"), ("  of which analysis s", "analysis_s"))]
        rows.append(["peak RSS GB", f"{gb(max(r['peak_kb'] for r in old)):.2f}", f"{gb(op):.2f}",
                     f"{op / max(r['peak_kb'] for r in old):.2f}"])
        print_table(["", f"triage at {base_tree[0]}", "triage (working tree)", "new/base"], rows,
                    title=f"the same {args.repeat} interleaved rounds")
    print(f"triage.json: {ours[-1]['json_bytes'] / 1e3:.0f} kB; target "
          f"{'met' if ow <= 3 * bw else 'MISSED'} on process wall ({ow / bw:.2f}×), "
          f"{'met' if ok <= 3 * bk else 'MISSED'} on call time ({ok / bk:.2f}×)")
    shutil.rmtree(out, ignore_errors=True)
    if not args.keep:
        path.unlink(missing_ok=True)
        path.with_suffix(".info.json").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
