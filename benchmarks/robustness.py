"""Input that used to cost too much (issue 16, item 8): each case at growing sizes, as ratios.

Run: ``.venv/bin/python benchmarks/robustness.py [--base REV] [--header-mb 12] [--name-mb 200]
[--files 1000,10000] [--only header,sniff,name,files] [--keep]``

Cases, each measured in a fresh process (`common.run_child`; the call time inside the child):

* **header**: a header field of H, 2H and 4H MB before ``traceEvents`` (parse of the file).
  Linear: time ratios ≈ size ratios (2, 4); the old scan was quadratic (≈ 4, 16). Plus a
  250 MB field, which is refused (over the 64 MiB header cap) — its time vs the 4H file.
* **sniff**: discovery of a file whose first 64 KiB hold a string of escaped quotes, against
  the same file with plain letters (ratio ≈ 1; the old tokenizer rescanned from each quote).
* **name**: ``triage --input`` of a trace with one kernel name of N MB against ``orjson.loads``
  of the same file (the cost of reading it at all). Names over 64 Ki characters and events over
  64 MiB are refused at ingest, so analysis never sees them.
* **files**: ingest of a root of F tiny files (3 kernels each), for each F; ms per file and the
  ratio of per-file costs (≈ 1 when linear).

``--base REV`` runs every case for that commit too (its tree unpacked by ``git archive`` into a
temporary folder, first on ``sys.path`` in its children), side by side. A case over ``--limit`` seconds is shown
as "> limit". Inputs go to ``benchmarks/.work/robustness/`` (deleted unless ``--keep``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import ROOT, WORK, print_table, run_child  # noqa: E402
from tracegen.minimal import KERNEL, write_tiny_root  # noqa: E402

OUT = WORK / "robustness"
HEAD = "import sys, time\nsys.path.insert(0, {tree!r})\nimport pipeline\nassert pipeline.__file__.startswith({tree!r})\n"
PARSE = HEAD + """from pathlib import Path
from pipeline.ingest.parse import parse_file
t0 = time.perf_counter()
got = parse_file(Path({path!r}), 1, Path({spool!r}), in_memory=True)
RESULT = {{"work_s": time.perf_counter() - t0, "status": got.status, "error": (got.error or "")[-120:]}}
"""
SNIFF = HEAD + """from pathlib import Path
from pipeline.discover import discover_root
t0 = time.perf_counter()
root = discover_root(Path({path!r}))
RESULT = {{"work_s": time.perf_counter() - t0, "status": root.files[0].status}}
"""
TRIAGE = HEAD + """import contextlib, io
from pipeline.cli import main
t0 = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
    status = main(["triage", "--input", {path!r}, "-q", "--format", "json"])
RESULT = {{"work_s": time.perf_counter() - t0, "status": status}}
"""
INGEST = HEAD + """from pathlib import Path
from pipeline.ingest import ingest_inputs
from pipeline.store import Warehouse
t0 = time.perf_counter()
[summary] = ingest_inputs([Path({path!r})], Warehouse(Path({warehouse!r})), Path({spool!r}))
RESULT = {{"work_s": time.perf_counter() - t0, "status": f"{{summary.ok}} loaded"}}
"""


def _measure(code: str, limit: float) -> dict:
    try:
        return run_child(code, timeout=limit)
    except RuntimeError as exc:
        if "timed out" in str(exc):
            return {"work_s": None, "status": f"> {limit:g} s"}
        raise


def _header_file(mb: int) -> Path:
    path = OUT / f"header-{mb}mb.json"
    if not path.exists():
        with open(path, "wb") as fh:
            fh.write(b'{"schemaVersion": 1, "big": "')
            for _ in range(mb):
                fh.write(b"x" * (1 << 20))
            fh.write(b'", "traceEvents": ' + orjson.dumps([dict(KERNEL, ts=1.0 + i) for i in range(100)]) + b"}")
    return path


def _sniff_root(kind: str) -> Path:
    root = OUT / f"sniff-{kind}"
    root.mkdir(parents=True, exist_ok=True)
    body = b'\\"' * (40 << 10) if kind == "escaped" else b"x" * (80 << 10)
    (root / "s.trace.json").write_bytes(b'{"schemaVersion": 1, "big": "' + body + b'", "traceEvents": []}')
    return root


def _name_file(mb: int) -> Path:
    path = OUT / f"name-{mb}mb.trace.json"
    if not path.exists():
        events = [dict(KERNEL, ts=1.0 + i, args={"correlation": i}) for i in range(100)]
        text = orjson.dumps({"traceEvents": events})
        cut = text.index(b'"name":"k"', len(text) // 2)
        with open(path, "wb") as fh:
            fh.write(text[:cut] + b'"name":"void gemm_')
            for _ in range(mb):
                fh.write(b"a" * (1 << 20))
            fh.write(b'"' + text[cut + len(b'"name":"k"'):])
    return path


def _files_root(count: int) -> Path:
    root = OUT / f"files-{count}" / "run"
    return root if root.exists() else write_tiny_root(root, count)


def _cell(result: dict) -> str:
    return "—" if result["work_s"] is None else f"{result['work_s']:.2f}"


def _ratio(a: dict, b: dict) -> str:
    return "—" if a["work_s"] is None or b["work_s"] is None else f"{a['work_s'] / b['work_s']:.2f}"


def bench_header(trees: dict[str, Path], mb: int, limit: float) -> None:
    sizes = [mb, 2 * mb, 4 * mb, 250]
    for side, tree in trees.items():
        got = {s: _measure(PARSE.format(tree=str(tree), path=str(_header_file(s)), spool=str(OUT / "spool")), limit)
               for s in sizes}
        rows = [[f"{s} MB", _cell(got[s]), _ratio(got[s], got[mb]), f"{s / mb:g}", got[s]["status"]] for s in sizes]
        print_table(["header field", "s", f"÷ {mb} MB", "size ratio", "result"], rows,
                    title=f"[{side}] parse with a header field before traceEvents (linear: time ratio ≈ size ratio)")


def bench_sniff(trees: dict[str, Path], limit: float) -> None:
    rows = []
    for side, tree in trees.items():
        got = {k: _measure(SNIFF.format(tree=str(tree), path=str(_sniff_root(k))), limit) for k in ("plain", "escaped")}
        rows.append([side, f"{1000 * got['plain']['work_s']:.1f}", f"{1000 * got['escaped']['work_s']:.1f}",
                     _ratio(got["escaped"], got["plain"])])
    print_table(["tree", "plain ms", "escaped quotes ms", "ratio"], rows,
                title="discovery sniff of a header string over 64 KiB (≈ 1 when linear)")


def bench_name(trees: dict[str, Path], mb: int, limit: float) -> None:
    path = _name_file(mb)
    base = run_child(common.ORJSON_CHILD.format(path=str(path)))
    rows = [["orjson.loads (baseline)", f"{base['work_s']:.2f}", "1.00", ""]]
    for side, tree in trees.items():
        got = _measure(TRIAGE.format(tree=str(tree), path=str(path)), limit)
        rows.append([f"[{side}] triage --input", _cell(got), _ratio(got, base), f"exit {got['status']}"])
    print_table(["", "s", "÷ orjson.loads", "result"], rows, title=f"one kernel name of {mb} MB")


def bench_files(trees: dict[str, Path], counts: list[int], limit: float) -> None:
    for side, tree in trees.items():
        got = {}
        for n in counts:
            warehouse = OUT / f"files-{side}-{n}.duckdb"
            warehouse.unlink(missing_ok=True)
            got[n] = _measure(INGEST.format(tree=str(tree), path=str(_files_root(n)), warehouse=str(warehouse),
                                            spool=str(OUT / "spool")), limit)
        first = counts[0]
        rows = []
        for n in counts:
            per = None if got[n]["work_s"] is None else 1000 * got[n]["work_s"] / n
            per0 = None if got[first]["work_s"] is None else 1000 * got[first]["work_s"] / first
            rows.append([f"{n:,} files", _cell(got[n]), "—" if per is None else f"{per:.2f}",
                         "—" if per is None or per0 is None else f"{per / per0:.2f}", got[n]["status"]])
        print_table(["root", "s", "ms per file", f"÷ per-file at {first:,}", "result"], rows,
                    title=f"[{side}] ingest of a root of tiny files (linear: per-file ratio ≈ 1)")


def _export(rev: str, into: Path) -> Path:
    """The tree of commit `rev`, unpacked into `into` (``git archive``: no worktree, no checkout)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", "--format=tar", rev], cwd=ROOT, check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", help="also measure this commit (e.g. the one before the fix)")
    ap.add_argument("--header-mb", type=int, default=12)
    ap.add_argument("--name-mb", type=int, default=200)
    ap.add_argument("--files", default="1000,10000", help="comma list of file counts")
    ap.add_argument("--only", default="header,sniff,name,files")
    ap.add_argument("--limit", type=float, default=900.0, help="seconds before a case is given up")
    ap.add_argument("--keep", action="store_true", help="keep the generated inputs")
    args = ap.parse_args(argv)
    only = set(args.only.split(","))
    print(f"machine: {common.machine_line()}; load avg {common.loadavg()}")
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="robustness-", dir=WORK) as tmp:
        trees = {"new": ROOT}
        if args.base:
            trees = {f"base {args.base}": _export(args.base, Path(tmp) / "base"), "new": ROOT}
        try:
            if "header" in only:
                bench_header(trees, args.header_mb, args.limit)
            if "sniff" in only:
                bench_sniff(trees, args.limit)
            if "name" in only:
                bench_name(trees, args.name_mb, args.limit)
            if "files" in only:
                bench_files(trees, [int(n) for n in args.files.split(",")], args.limit)
        finally:
            if not args.keep:
                shutil.rmtree(OUT, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
