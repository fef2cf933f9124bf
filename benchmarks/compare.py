"""Ingest speed of the working tree against an earlier commit, interleaved, on the real traces.

Run: ``.venv/bin/python benchmarks/compare.py [--base REV] [--repeat 7] [--only TEXT …]``

The base commit is checked out into a temporary git worktree; every measured ingest runs in a
fresh process with that tree (or the working tree) first on ``sys.path``, base and new
alternating, each file of ``tests/data/traces`` on its own and then the whole corpus in one
call — the same child as ``benchmarks/ingest.py`` (an existing empty warehouse, the durable
write included). Prints the median call time of each side and new ÷ base. Single runs differ
by ~5 % on a shared 2-core VM, so a change is judged by the medians of several runs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import ROOT, TRACES, WORK, median, print_table, run_child  # noqa: E402
from ingest import OURS_CHILD  # noqa: E402


def _child(tree: Path, path: Path, tag: str) -> str:
    """The ingest child, importing `pipeline` from `tree` (checked, not assumed)."""
    head = f"import sys\nsys.path.insert(0, {str(tree)!r})\n"
    check = f"\nimport pipeline\nassert pipeline.__file__.startswith({str(tree)!r}), pipeline.__file__\n"
    return head + OURS_CHILD.format(work=str(WORK), path=str(path), tag=tag, workers=0) + check


def compare(base_tree: Path, inputs: list[Path], repeat: int) -> list[list[str]]:
    """Rows of (input, base ms, new ms, new/base), medians of `repeat` interleaved runs."""
    rows = []
    for path in inputs:
        times: dict[str, list[float]] = {"base": [], "new": []}
        for _ in range(repeat):
            for side, tree in (("base", base_tree), ("new", ROOT)):
                result = run_child(_child(tree, path, side))
                if result["errors"]:
                    raise RuntimeError(f"{side} ingest of {path} reported errors: {result['errors']}")
                times[side].append(result["work_s"])
        base, new = median(times["base"]), median(times["new"])
        label = "corpus (one call)" if path == TRACES else f"{path.parent.parent.name}/{path.parent.name}"
        rows.append([label, f"{1000 * base:.1f}", f"{1000 * new:.1f}", f"{new / base:.2f}"])
        print(f"  {label}: base {1000 * base:.1f} ms, new {1000 * new:.1f} ms", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", default="HEAD", help="commit to compare against (default HEAD: the uncommitted change)")
    ap.add_argument("--repeat", type=int, default=7, help="interleaved runs per side and input (median)")
    ap.add_argument("--only", nargs="*", default=[], help="inputs whose path contains one of these; 'corpus' for the whole")
    args = ap.parse_args(argv)
    files = sorted(TRACES.glob("*/*/*.json*")) + [TRACES]
    chosen = [p for p in files if not args.only or any(o in str(p) or (o == "corpus" and p == TRACES)
                                                        for o in args.only)]
    rev = subprocess.run(["git", "rev-parse", "--short", args.base], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    print(f"machine: {common.machine_line()}; load avg {common.loadavg()}")
    print(f"base {rev} vs the working tree, {args.repeat} interleaved runs each")
    WORK.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="compare-", dir=WORK) as tmp:
        tree = Path(tmp) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(tree), rev], cwd=ROOT, check=True)
        try:
            rows = compare(tree, chosen, args.repeat)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
    per_file = [r for r in rows if r[0] != "corpus (one call)"]
    if len(per_file) > 1:
        base, new = sum(float(r[1]) for r in per_file), sum(float(r[2]) for r in per_file)
        rows.append(["file by file, total", f"{base:.1f}", f"{new:.1f}", f"{new / base:.2f}"])
    print_table(["input", f"base {rev} ms", "new ms", "new/base"], rows,
                title="median call time (fresh process each; ingest into an existing empty warehouse)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
