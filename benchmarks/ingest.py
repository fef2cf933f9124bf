"""Ingest speed and memory on a ~1 GB trace built from real events, and on every real trace.

Run: ``.venv/bin/python benchmarks/ingest.py [--size-gb 1.0] [--repeat 1] [--keep] [--no-hta] [--profile]``

1. Builds ``benchmarks/.work/big-<size>gb.json`` (if missing): the SGLang extend eager trace
   (``--source``) with its ``traceEvents`` replicated N times — copy k has ``ts`` shifted by
   k × span and ``correlation``/``External id``/``Python id``/``Python parent id``/``Ev Idx``
   and flow ``id`` offset by k × (max id + 1). Written event by event with orjson (never the
   whole document in memory); the source's header keys keep their order and values
   (``baseTimeNanoseconds`` included).
2. Measures, interleaved, each in a fresh process on a warm page cache:
   (a) baseline ``orjson.loads(open(f, 'rb').read())``; (b) ours: ``ingest_inputs`` into a
   DuckDB warehouse file, default workers. Targets: wall ≤ 0.5 × baseline, peak ≤ 0.2 ×.
   Checks that the warehouse holds N × the source's kernel rows.
3. Every real trace under ``tests/data/traces``: our ingest vs HolisticTraceAnalysis'
   ``Trace(...).parse_traces`` with its JSON and ijson (batch+compress) backends, both with
   HTA's default config (which drops ``python_function`` events) and keeping them like we do
   (like for like), run in ``benchmarks/.work/hta-venv`` if present (create it with
   ``python3 -m venv benchmarks/.work/hta-venv && benchmarks/.work/hta-venv/bin/pip install
   HolisticTraceAnalysis ijson``). Ours starts from an existing empty warehouse (created
   before the clock starts, as in deployment). Then the whole corpus in one ingest call.
   Target: ours ≥ 3× faster.
4. ``--profile`` (automatic when a 1 GB target is missed): cProfile of ``parse_file`` with one
   worker (in process) on a ~100 MB variant, grouped by where the time goes.
"""

from __future__ import annotations

import argparse
import gzip
import math
import shutil
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import WORK, TRACES, gb, median, print_table, run_child  # noqa: E402

DEFAULT_SOURCE = TRACES / "sglang" / "qwen3-8b-mi300x-extend-eager-bs15" / "sglang_Qwen3-8B_prefilldecode.json.gz"
ID_KEYS = ("correlation", "External id", "Python id", "Python parent id", "Ev Idx")
HTA_VENV = WORK / "hta-venv"


# ------------------------------------------------------------------------------------ build

def load_source(path: Path) -> dict:
    data = gzip.open(path, "rb").read() if path.name.endswith(".gz") else path.read_bytes()
    return orjson.loads(data)


def _span_and_ids(events: list[dict]) -> tuple[float, int]:
    lo, hi, top = math.inf, -math.inf, 0
    for e in events:
        ts = e.get("ts")
        if isinstance(ts, (int, float)) and e.get("ph") != "M":
            lo, hi = min(lo, ts), max(hi, ts + (e.get("dur") or 0))
        args = e.get("args") or {}
        for k in ID_KEYS:
            v = args.get(k)
            if isinstance(v, int):
                top = max(top, v)
        if e.get("ph") in ("s", "f", "t") and isinstance(e.get("id"), int):
            top = max(top, e["id"])
    return math.ceil(hi - lo) + 1.0, top + 1


def _shifted(e: dict, dt: float, did: int) -> dict:
    e = dict(e)
    if isinstance(e.get("ts"), (int, float)):
        e["ts"] = round(e["ts"] + dt, 3)
    if isinstance(e.get("id"), int) and e.get("ph") in ("s", "f", "t"):
        e["id"] += did
    args = e.get("args")
    if args:
        args = dict(args)
        for k in ID_KEYS:
            if isinstance(args.get(k), int) and args[k] >= 0:
                args[k] += did
        e["args"] = args
    return e


def build_big(source: Path, target_bytes: int, out: Path) -> dict:
    """Stream-write the replicated trace; returns {copies, events, bytes, seconds}."""
    started = time.perf_counter()
    doc = load_source(source)
    events = doc["traceEvents"]
    meta_events = [e for e in events if e.get("ph") == "M"]
    timed = [e for e in events if e.get("ph") != "M"]
    per_copy = sum(len(orjson.dumps(e)) + 2 for e in timed)
    copies = max(1, round(target_bytes / per_copy))
    span, id_span = _span_and_ids(timed)
    tmp = out.with_suffix(".partial")
    n = 0
    with open(tmp, "wb", buffering=8 << 20) as f:
        f.write(b"{")
        first_key = True
        for key, value in doc.items():
            f.write(b"" if first_key else b",")
            first_key = False
            f.write(orjson.dumps(key) + b":")
            if key != "traceEvents":
                f.write(orjson.dumps(value))
                continue
            f.write(b"[\n")
            sep = b""
            for e in meta_events:  # process/thread names once, not per copy
                f.write(sep + orjson.dumps(e))
                sep, n = b",\n", n + 1
            for k in range(copies):
                dt, did = k * span, k * id_span
                for e in timed:
                    f.write(sep + orjson.dumps(_shifted(e, dt, did) if k else e))
                    sep, n = b",\n", n + 1
            f.write(b"\n]")
        f.write(b"}")
    tmp.replace(out)
    info = {"copies": copies, "events": n, "bytes": out.stat().st_size, "seconds": time.perf_counter() - started,
            "source": str(source.relative_to(common.ROOT)) if source.is_relative_to(common.ROOT) else source.name}
    out.with_suffix(".info.json").write_bytes(orjson.dumps(info))
    return info


def ensure_big(source: Path, size_gb: float, name: str) -> tuple[Path, dict]:
    out = WORK / name
    info_path = out.with_suffix(".info.json")
    if out.exists() and info_path.exists():
        return out, orjson.loads(info_path.read_bytes())
    WORK.mkdir(parents=True, exist_ok=True)
    print(f"building {out.relative_to(common.ROOT)} (~{size_gb:g} GB) from {source.name} …", flush=True)
    return out, build_big(source, int(size_gb * 1e9), out)


def warm(path: Path) -> None:
    """Read the file once so every measured run starts on a warm page cache."""
    with open(path, "rb") as f:
        while f.read(64 << 20):
            pass


# ------------------------------------------------------------------------------------ children

OURS_CHILD = """
import shutil, time
from pathlib import Path
from pipeline.ingest import ingest_inputs
from pipeline.store import Warehouse
work = Path({work!r})
db = work / "bench-{tag}.duckdb"
spool = work / "spool-{tag}"
for p in (db, Path(str(db) + ".wal"), Path(str(db) + ".lock")):
    p.unlink(missing_ok=True)
shutil.rmtree(spool, ignore_errors=True)
with Warehouse(db).connect():  # an empty warehouse exists before the clock starts, as in deployment
    pass
t0 = time.perf_counter()
summaries = ingest_inputs([Path({path!r})], Warehouse(db), spool, workers={workers})
work_s = time.perf_counter() - t0
import duckdb
con = duckdb.connect(str(db), read_only=True)
kernels = con.execute("SELECT count(*) FROM kernels").fetchone()[0]
con.close()
errors = [e for s in summaries for e in s.errors]
for p in (db, Path(str(db) + ".wal"), Path(str(db) + ".lock")):
    p.unlink(missing_ok=True)
shutil.rmtree(spool, ignore_errors=True)
RESULT = {{"work_s": work_s, "kernels": kernels, "errors": errors,
          "rows": {{k: v for s in summaries for k, v in s.rows.items()}}}}
"""

HTA_CHILD = """
import logging, os, time, warnings
logging.disable(logging.WARNING)
warnings.simplefilter("ignore")
from hta.common.trace import Trace
from hta.configs.parser_config import ParserConfig, ParserBackend
cfg = ParserConfig()
cfg.parser_backend = ParserBackend.{backend}
if {keep_python}:
    cfg.set_skip_event_types(set())  # HTA drops python_function events by default; we keep them
rows = 0
t0 = time.perf_counter()
for path in {paths!r}:  # one file, or the whole corpus in one process
    tr = Trace(trace_files={{0: path}}, trace_dir=os.path.dirname(path), parser_config=cfg)
    tr.parse_traces(max_ranks=1, use_multiprocessing=False, use_memory_profiling=False)
    rows += int(tr.get_trace(0).shape[0])
RESULT = {{"work_s": time.perf_counter() - t0, "rows": rows}}
"""


PARSE_CHILD = """
import shutil, time
from pathlib import Path
from pipeline.discover import resolve_inputs
from pipeline.ingest import parse_root
spool = Path({work!r}) / "spool-parse"
shutil.rmtree(spool, ignore_errors=True)
t0 = time.perf_counter()
parsed = [p for root in resolve_inputs([Path({path!r})]) for p in parse_root(root, spool).values() if p]
work_s = time.perf_counter() - t0
shutil.rmtree(spool, ignore_errors=True)
RESULT = {{"work_s": work_s, "errors": [p.error for p in parsed if p.error]}}
"""


def ours_parse(path: Path) -> dict:
    """Discovery + parse into Arrow tables, no warehouse: the counterpart of HTA's in-memory load."""
    return run_child(PARSE_CHILD.format(work=str(WORK), path=str(path)))


def ours(path: Path, tag: str = "x", workers: int = 0) -> dict:
    r = run_child(OURS_CHILD.format(work=str(WORK), path=str(path), tag=tag, workers=workers))
    if r["errors"]:
        raise RuntimeError(f"ingest of {path} reported errors: {r['errors']}")
    return r


def hta_python() -> str | None:
    py = HTA_VENV / "bin" / "python"
    if not py.exists():
        return None
    try:
        run_child("import hta, ijson\nRESULT = {}", python=str(py))
    except RuntimeError:
        return None
    return str(py)


def hta(paths: list[Path], python: str, backend: str, keep_python: bool) -> dict | None:
    """HTA's loader on `paths`, one `Trace` per file, all in one fresh process."""
    child = HTA_CHILD.format(paths=[str(p.resolve()) for p in paths], backend=backend, keep_python=keep_python)
    try:
        return run_child(child, python=python, timeout=900)
    except RuntimeError as exc:
        print(f"  HTA ({backend}) failed on {paths[0].name}…: {str(exc).splitlines()[-1][:200]}")
        return None


# ------------------------------------------------------------------------------------ parts

def big_part(args) -> bool:
    source = Path(args.source)
    big, info = ensure_big(source, args.size_gb, f"big-{args.size_gb:g}gb.json")
    print(f"\n== 1 GB-class ingest: {big.relative_to(common.ROOT)}: {info['bytes'] / 1e9:.2f} GB, "
          f"{info['events']:,} events = {info['copies']} copies of {Path(info['source']).name}"
          + (f" (built in {info['seconds']:.0f} s)" if "seconds" in info else ""))
    src = ours(source, tag="src")
    expect = src["kernels"] * info["copies"]
    warm(big)
    base_runs, our_runs = [], []
    for i in range(args.repeat):
        print(f"  run {i + 1}/{args.repeat}: baseline …", end="", flush=True)
        base_runs.append(common.orjson_child(big))
        print(f" {base_runs[-1]['wall_s']:.1f} s; ours …", end="", flush=True)
        our_runs.append(ours(big, tag="big"))
        print(f" {our_runs[-1]['wall_s']:.1f} s  (load avg {common.loadavg()})", flush=True)
    b_wall, o_wall = median([r["wall_s"] for r in base_runs]), median([r["wall_s"] for r in our_runs])
    b_work, o_work = median([r["work_s"] for r in base_runs]), median([r["work_s"] for r in our_runs])
    b_peak, o_peak = max(r["peak_kb"] for r in base_runs), max(r["peak_kb"] for r in our_runs)
    rows = [
        ["wall s (process)", f"{b_wall:.1f}", f"{o_wall:.1f}", f"{o_wall / b_wall:.2f}", "≤ 0.50"],
        ["work s (call only)", f"{b_work:.1f}", f"{o_work:.1f}", f"{o_work / b_work:.2f}", ""],
        ["peak RSS GB", f"{gb(b_peak):.2f}", f"{gb(o_peak):.2f}", f"{o_peak / b_peak:.3f}", "≤ 0.20"],
        ["  self / largest worker / tree GB",
         "/".join(f"{gb(max(r[k] for r in base_runs)):.2f}" for k in ("self_rss_kb", "children_rss_kb", "tree_rss_kb")),
         "/".join(f"{gb(max(r[k] for r in our_runs)):.2f}" for k in ("self_rss_kb", "children_rss_kb", "tree_rss_kb")),
         "", ""],
    ]
    print_table(["", "baseline orjson.loads", "ours ingest", "ours/base", "target"], rows,
                title=f"median of {args.repeat} interleaved run(s); peak = max over runs of max(self, largest worker, sampled tree sum)")
    kern = our_runs[-1]["kernels"]
    ok_k = kern == expect
    print(f"\nkernels in warehouse: {kern:,}; expected {info['copies']} × {src['kernels']:,} = {expect:,}: "
          f"{'OK' if ok_k else 'MISMATCH'}")
    print("rows per table: " + ", ".join(f"{k}={v:,}" for k, v in sorted(our_runs[-1]["rows"].items())))
    met = o_wall <= 0.5 * b_wall and o_peak <= 0.2 * b_peak
    print(f"targets: wall {'met' if o_wall <= 0.5 * b_wall else 'MISSED'}, "
          f"memory {'met' if o_peak <= 0.2 * b_peak else 'MISSED'}")
    if not args.keep:
        big.unlink(missing_ok=True)
        big.with_suffix(".info.json").unlink(missing_ok=True)
    return met and ok_k


HTA_VARIANTS = (  # (column key, backend, keep python_function events)
    ("json", "JSON", False), ("ijson", "IJSON_BATCH_AND_COMPRESS", False),
    ("json+py", "JSON", True), ("ijson+py", "IJSON_BATCH_AND_COMPRESS", True),
)


def _best(per: dict, keys: tuple[str, ...], field: str = "work_s") -> float:
    values = [median([r[field] for r in per[k]]) for k in keys if per[k]]
    return min(values) if values else math.nan


def real_part(args) -> None:
    files = sorted(TRACES.glob("*/*/*.json*"))
    py = hta_python() if not args.no_hta else None
    if py is None:
        why = "--no-hta given" if args.no_hta else f"no HTA venv at {HTA_VENV.relative_to(common.ROOT)}"
        print(f"\n== real traces: HTA comparison skipped ({why}); ours only")
    else:
        print("\n== real traces: ours (ingest_inputs → DuckDB file) vs HTA Trace.parse_traces, fresh process each."
              "\n   HTA drops python_function events by default; '+py' keeps them like we do (like for like).")
    if args.corpus_only:
        corpus_part(args, files, py, None)
        return
    rows = []
    tot = {"ours": 0.0, "default": 0.0, "py": 0.0}
    for f in files:
        per: dict[str, list] = {"ours": [], "parse": []} | {k: [] for k, _, _ in HTA_VARIANTS}
        for _ in range(args.repeat):
            per["ours"].append(ours(f, tag="real"))
            per["parse"].append(ours_parse(f))
            for key, backend, keep in HTA_VARIANTS if py else ():
                r = hta([f], py, backend, keep)
                if r:
                    per[key].append(r)
        o = median([r["work_s"] for r in per["ours"]])
        parse = median([r["work_s"] for r in per["parse"]])
        row = [f"{f.parent.parent.name}/{f.parent.name}", f"{f.stat().st_size / 1e6:.1f}",
               f"{per['ours'][-1]['rows'].get('kernels', 0):,}", f"{o:.3f}", f"{parse:.3f}"]
        tot["ours"] += o
        tot["parse"] = tot.get("parse", 0.0) + parse
        if py:
            default, with_py = _best(per, ("json", "ijson")), _best(per, ("json+py", "ijson+py"))
            tot["default"] += default
            tot["py"] += with_py
            row += [f"{default:.3f}", f"{default / o:.1f}×", f"{with_py:.3f}", f"{with_py / o:.1f}×",
                    f"{with_py / parse:.1f}×"]
        rows.append(row)
    headers = ["trace", "gz MB", "kernels", "ours s", "ours parse s"]
    if py:
        headers += ["HTA default s", "ratio", "HTA +py s", "ratio (like for like)", "+py / parse"]
        rows.append(["TOTAL", "", "", f"{tot['ours']:.3f}", f"{tot['parse']:.3f}", f"{tot['default']:.3f}",
                     f"{tot['default'] / tot['ours']:.1f}×", f"{tot['py']:.3f}", f"{tot['py'] / tot['ours']:.1f}×",
                     f"{tot['py'] / tot['parse']:.1f}×"])
    print_table(headers, rows, title="s = time of the load call inside the child (median of "
                f"{args.repeat}); ours = ingest into the warehouse file; ours parse = discovery + parse "
                "into Arrow tables only (no warehouse), the counterpart of HTA's in-memory DataFrame; "
                "HTA = the faster of its JSON and ijson backends")
    corpus_part(args, files, py, tot)


def corpus_part(args, files: list[Path], py: str | None, tot: dict | None) -> None:
    """The whole corpus at once: one `ingest` call vs HTA loading every file in one process."""
    runs: dict[str, list] = {"ours": [], "py": [], "default": []}
    for _ in range(args.repeat):
        runs["ours"].append(ours(TRACES, tag="corpus")["work_s"])
        for key, keep in (("py", True), ("default", False)) if py else ():
            times = [r["work_s"] for backend in ("JSON", "IJSON_BATCH_AND_COMPRESS")
                     if (r := hta(files, py, backend, keep))]
            if times:
                runs[key].append(min(times))
    o = median(runs["ours"])
    spread = f"{min(runs['ours']):.3f}–{max(runs['ours']):.3f}"
    print(f"\n== the whole corpus at once ({len(files)} files; median of {args.repeat}, interleaved)")
    print(f"ours, one ingest call (one warehouse open, next root parsed while one loads): {o:.3f} s (runs {spread})")
    if py and runs["py"]:
        hp, hd = median(runs["py"]), median(runs["default"])
        print(f"HTA, every file in one process: keeping python_function {hp:.3f} s → {hp / o:.1f}× (like for like); "
              f"default config {hd:.3f} s → {hd / o:.1f}×")
        pairs = sorted(h / us for h, us in zip(runs["py"], runs["ours"]))  # run i of each, back to back
        print(f"like for like, ratio of each interleaved pair: min {pairs[0]:.1f}×, median {median(pairs):.1f}×, "
              f"max {pairs[-1]:.1f}× (the machine's load moves both sides)")
        if tot:
            print(f"file by file (table above): like for like {tot['py'] / tot['ours']:.1f}×, default "
                  f"{tot['default'] / tot['ours']:.1f}×")
        print("target: ours ≥ 3× faster than HTA")


STAGES = (  # (owner module, attribute, label); owners are imported lazily in _timed_stages
    ("pipeline.ingest.duckjson", "BatchParser.convert", "DuckDB read_json + split (duckjson)"),
    ("pipeline.ingest.parse", "convert_batch", "orjson path (small batches, tail's last event)"),
    ("pipeline.ingest.parse", "_write_tables", "Parquet spool write"),
    ("pipeline.ingest", "load_root", "warehouse load (load_root)"),
)


def _timed_stages() -> tuple[dict, list]:
    """Wrap the ingest's building blocks with accumulating timers; returns (totals, undo list)."""
    import importlib

    totals: dict[str, float] = {}
    undo = []
    for module, attr, label in STAGES:
        owner = importlib.import_module(module)
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part)
        fn = getattr(owner, name)

        def timed(*a, _fn=fn, _label=label, **k):
            t0 = time.perf_counter()
            try:
                return _fn(*a, **k)
            finally:
                totals[_label] = totals.get(_label, 0.0) + time.perf_counter() - t0
        setattr(owner, name, timed)
        undo.append((owner, name, fn))
    return totals, undo


def profile_part(args) -> None:
    """Where a single-threaded ingest of a ~100 MB variant spends its time."""
    source = Path(args.source)
    small, info = ensure_big(source, 0.1, "big-0.1gb.json")
    print(f"\n== profile: ingest_inputs(workers=1) in process on {small.name} "
          f"({info['bytes'] / 1e6:.0f} MB, {info['events']:,} events)")
    import cProfile
    import pstats

    from pipeline.ingest import ingest_inputs
    from pipeline.store import Warehouse

    db, spool = WORK / "profile.duckdb", WORK / "spool-profile"

    def clean() -> None:
        for p in (db, Path(str(db) + ".wal"), Path(str(db) + ".lock")):
            p.unlink(missing_ok=True)
        shutil.rmtree(spool, ignore_errors=True)

    # Pass 1: stage timers only (no profiler overhead).
    clean()
    totals, undo = _timed_stages()
    t0 = time.perf_counter()
    try:
        ingest_inputs([small], Warehouse(db), spool, workers=1)
    finally:
        for owner, attr, fn in undo:
            setattr(owner, attr, fn)
    total = time.perf_counter() - t0
    rows = [[label, f"{totals.get(label, 0.0):.2f}", f"{100 * totals.get(label, 0.0) / total:.0f}%"]
            for _, _, label in STAGES]
    rest = total - sum(totals.values())
    rows.append(["rest (reader byte cutting, raw batch files, discovery, …)", f"{rest:.2f}",
                 f"{100 * rest / total:.0f}%"])
    print_table(["stage (timed wrappers, no profiler)", "s", "share"], rows, title=f"total {total:.2f} s")

    # Pass 2: cProfile for the Python-level hot spots (Cython pyarrow calls count in their callers).
    clean()
    prof = cProfile.Profile()
    prof.enable()
    ingest_inputs([small], Warehouse(db), spool, workers=1)
    prof.disable()
    print("\ncProfile, top 12 by own time (profiler overhead inflates Python loops):")
    pstats.Stats(prof).sort_stats("tottime").print_stats(12)
    clean()
    if not args.keep:
        small.unlink(missing_ok=True)
        small.with_suffix(".info.json").unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size-gb", type=float, default=1.0, help="size of the replicated trace (default 1.0)")
    ap.add_argument("--source", default=str(DEFAULT_SOURCE), help="real trace to replicate")
    ap.add_argument("--repeat", type=int, default=1, help="interleaved runs per measured thing (median)")
    ap.add_argument("--keep", action="store_true", help="keep the generated big trace in benchmarks/.work/")
    ap.add_argument("--no-hta", action="store_true", help="skip the HolisticTraceAnalysis comparison")
    ap.add_argument("--no-big", action="store_true", help="skip the 1 GB part")
    ap.add_argument("--no-real", action="store_true", help="skip the real-trace part")
    ap.add_argument("--profile", action="store_true", help="always profile a ~100 MB variant")
    ap.add_argument("--corpus-only", action="store_true", help="real traces: only the whole-corpus comparison")
    args = ap.parse_args(argv)
    print(f"machine: {common.machine_line()}; load avg {common.loadavg()}; {time.strftime('%Y-%m-%d %H:%M')}")
    met = True
    if not args.no_big:
        met = big_part(args)
    if not args.no_real:
        real_part(args)
    if args.profile or not met:
        profile_part(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
