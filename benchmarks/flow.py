"""The Dagster path on a generated corpus: analyse every root once, then render every bundle.

Run: ``.venv/bin/python benchmarks/flow.py [--base REV] [--models 8] [--repeat 3]``

Generates (once, under ``benchmarks/.work/flow-corpus``) a data root of N roots over M models with
`tracegen`: model ``i`` has one SGLang root and ``i + 1`` vLLM roots (M = 8 → N = 44), every root a
small eager decode trace. Each side runs in a fresh process over an ingested warehouse and does
what the Dagster assets do, one root or one bundle at a time:

- *analyse*: per root, what `kernel_facts` + `triage_report` compute (the working tree:
  `pipeline.report.triage.analyze`; an older tree: its attribution + triage of the root);
- *bundles*: one `write_bundle` per model × framework, each with a fresh report cache (each bundle
  is its own asset run), then the index.

Prints both times per side, bundles ÷ analyse (target ≤ 0.2), and the time of each SGLang bundle
against the number of roots its model holds: it renders one SGLang root, and its cross-framework
section reads the model's other roots — flat when bundles only read stored reports, growing when
they recompute them. ``--base`` runs the same on an earlier commit (default: the commit before the
one-flow change) in a temporary worktree, interleaved.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import ROOT, WORK, median, print_table, run_child  # noqa: E402

BEFORE_ONE_FLOW = "f019f67"

CHILD = """
import sys, time, shutil
from pathlib import Path
sys.path.insert(0, {tree!r})
import pipeline
assert pipeline.__file__.startswith({tree!r}), pipeline.__file__
from pipeline.ingest import ingest_inputs
from pipeline.store import Warehouse
from pipeline.render import bundle as B
data, work = Path({data!r}), Path({work!r})
shutil.rmtree(work, ignore_errors=True); work.mkdir(parents=True)
wh = Warehouse(work / "w.duckdb")
ingest_inputs([data], wh, work / "spool", data_root=data)
try:
    from pipeline.report.triage import analyze
    def analyse(conn, root): analyze(conn, root)
except ImportError:  # before the one flow: kernel_facts asset + triage_report asset
    from pipeline.attribute import attribute_root
    from pipeline.report.build import triage_root
    def analyse(conn, root):
        attribute_root(conn, root)
        triage_root(conn, root)
per_bundle = {{}}
with wh.connect() as conn:
    roots = [r for (r,) in conn.execute("SELECT root FROM trace_roots ORDER BY root").fetchall()]
    t0 = time.perf_counter()
    for root in roots:
        analyse(conn, root)
    t_analyse = time.perf_counter() - t0
    groups = B._roots(conn)
    t0 = time.perf_counter()
    for fw, model in sorted(groups):
        t1 = time.perf_counter()
        B.write_bundle(conn, work / "bundles", fw, model, cache=B.ReportCache(conn))
        per_bundle[fw + "/" + model] = time.perf_counter() - t1
    B.write_index(conn, work / "bundles")
    t_bundles = time.perf_counter() - t0
RESULT = {{"work_s": t_analyse + t_bundles, "analyse_s": t_analyse, "bundles_s": t_bundles, "roots": len(roots),
           "per_bundle": per_bundle}}
"""


def make_corpus(models: int) -> Path:
    """Model i: one SGLang root and i + 1 vLLM roots (small eager decode traces)."""
    from tracegen import ModelSpec, file_name, make_trace, write_trace

    data = WORK / f"flow-corpus-{models}"
    if data.exists():
        return data
    print(f"generating {data.relative_to(ROOT)} …", flush=True)
    for i in range(models):
        for fw, count in (("sglang", 1), ("vllm", i + 1)):
            for j in range(count):
                spec = ModelSpec(framework=fw, layers=4)
                obj = make_trace(spec, steps=3, mode="eager", stage="decode", seed=100 * i + j)
                root = data / fw / f"model{i}-run{j}"
                write_trace(obj, root / file_name(fw, stage="decode"))
                (root / "server_args.json").write_text(f'{{"model_path": "org/model{i}"}}')
    return data


def run_side(tree: Path, data: Path) -> dict:
    return run_child(CHILD.format(tree=str(tree), data=str(data), work=str(WORK / "flow-run")))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", default=BEFORE_ONE_FLOW, help="earlier commit to compare with ('' = none)")
    ap.add_argument("--models", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3, help="interleaved runs per side (median)")
    args = ap.parse_args(argv)
    print(f"machine: {common.machine_line()}; load avg {common.loadavg()}")
    WORK.mkdir(parents=True, exist_ok=True)
    data = make_corpus(args.models)
    with tempfile.TemporaryDirectory(prefix="flow-", dir=WORK) as tmp:
        sides = {"new": ROOT}
        if args.base:
            sides = {"base": Path(tmp) / "base", **sides}
            subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(sides["base"]), args.base],
                           cwd=ROOT, check=True)
        try:
            runs: dict[str, list[dict]] = {s: [] for s in sides}
            for i in range(args.repeat):
                for side, tree in sides.items():
                    runs[side].append(run_side(tree, data))
                    r = runs[side][-1]
                    print(f"  run {i + 1} {side}: analyse {r['analyse_s']:.2f} s, bundles {r['bundles_s']:.2f} s",
                          flush=True)
        finally:
            if args.base:
                subprocess.run(["git", "worktree", "remove", "--force", str(sides["base"])], cwd=ROOT, check=False)
    rows, scaling = [], []
    for side, rs in runs.items():
        a, b = median([r["analyse_s"] for r in rs]), median([r["bundles_s"] for r in rs])
        rows.append([side, rs[0]["roots"], f"{a:.2f}", f"{b:.2f}", f"{b / a:.2f}"])
    print_table(["side", "roots", "analyse s", "all bundles s", "bundles / analyse"], rows,
                title=f"median of {args.repeat} runs (target: bundles / analyse ≤ 0.2)")
    for i in range(args.models):
        key = next(k for k in runs["new"][0]["per_bundle"] if k.startswith("sglang/") and k.endswith(f"model{i}"))
        scaling.append([key, i + 2] + [f"{1000 * median([r['per_bundle'][key] for r in runs[s]]):.0f}" for s in runs])
    print_table(["bundle", "roots of the model"] + [f"{s} ms" for s in runs], scaling,
                title="one SGLang bundle (one own root) against the roots its model holds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
