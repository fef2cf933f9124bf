"""Markdown bundles: ``<out>/<model>/<framework>.md`` per model × framework and ``<out>/index.md``.

Bundles only read stored reports (`pipeline.report.read`); a root whose report is missing or stale
is named with the command that builds it (`NotAnalyzed`), never analysed here.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path

import duckdb

from pipeline.diff.nightly import since_previous
from pipeline.paths import read_sql, safe_join
from pipeline.render.markdown import render
from pipeline.report.read import TriageOptions, read_report
from pipeline.report.state import NotAnalyzed, report_problem

FRAMEWORK_ORDER = ("sglang", "vllm", "trtllm", "tokenspeed")
FRAMEWORK_NAMES = {"sglang": "SGLang", "vllm": "vLLM", "trtllm": "TensorRT-LLM", "tokenspeed": "TokenSpeed",
                   "unknown": "unknown framework"}
CROSS_TOP_DIFFS = 3


def slug(text: str | None) -> str:
    """A file-name-safe form of a model or framework name."""
    value = re.sub(r"[^A-Za-z0-9._-]+", "-", (text or "unknown-model").strip()).strip("-.")
    return value or "unknown-model"


def bundle_key(framework: str | None, model: str | None) -> str:
    """Partition key of a bundle: ``<framework>/<model slug>``."""
    return f"{framework or 'unknown'}/{slug(model)}"


def framework_rank(framework: str) -> tuple[int, str]:
    """Sort key: SGLang, vLLM, TensorRT-LLM, TokenSpeed, then others alphabetically."""
    return (FRAMEWORK_ORDER.index(framework) if framework in FRAMEWORK_ORDER else len(FRAMEWORK_ORDER), framework)


def _roots(conn: duckdb.DuckDBPyConnection, only: list[str] | None = None) -> dict[tuple[str, str], list[str]]:
    rows = conn.execute(read_sql("report/roots.sql")).fetchall()
    out: dict[tuple[str, str], list[str]] = defaultdict(list)
    for root, framework, model in rows:
        if only is None or root in only:
            out[(framework or "unknown", slug(model))].append(root)
    return out


def _family_times(report: dict) -> dict[str, dict[str, int]]:
    """stage → family → kernel time net of same-stream overlap (what the family shares are of)."""
    return {s["stage"]: {f["family"]: f["time_ns"] - f.get("same_stream_overlap_ns", 0) for f in s["families"]}
            for s in report.get("stages", [])}


def cross_framework(reports_by_fw: dict[str, list[dict]]) -> list[dict]:
    """Per stage, family shares side by side per framework, with the largest differences called out.

    Every stage any framework has is listed; a framework's figures pool all of its roots that have
    the stage (family time summed over the roots, share of their summed kernel time)."""
    times: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))  # stage → fw → family → ns
    roots: dict[str, Counter] = defaultdict(Counter)  # stage → fw → roots pooled
    for fw, reports in reports_by_fw.items():
        for rep in reports:
            for stage, fams in _family_times(rep).items():
                times[stage][fw].update(fams)
                roots[stage][fw] += 1
    out = []
    for stage, per_fw in sorted(times.items()):
        frameworks = sorted(per_fw, key=framework_rank)
        totals = {fw: sum(per_fw[fw].values()) for fw in frameworks}
        shares = {fw: {fam: t / totals[fw] if totals[fw] else 0.0 for fam, t in per_fw[fw].items()}
                  for fw in frameworks}
        families = sorted({f for fams in per_fw.values() for f in fams})
        rows = [{"family": fam, "shares": [shares[fw].get(fam, 0.0) for fw in frameworks]} for fam in families]
        for r in rows:
            r["spread"] = max(r["shares"]) - min(r["shares"])
        rows.sort(key=lambda r: (-max(r["shares"]), r["family"]))
        diffs = sorted(rows, key=lambda r: -r["spread"])[:CROSS_TOP_DIFFS] if len(frameworks) > 1 else []
        out.append({"stage": stage, "frameworks": [FRAMEWORK_NAMES.get(f, f) for f in frameworks],
                    "roots": [roots[stage][f] for f in frameworks],
                    "rows": rows, "differences": [d for d in diffs if d["spread"] > 0]})
    return out


def family_reports(conn: duckdb.DuckDBPyConnection, roots: list[str]) -> list[dict]:
    """The stored family times of `roots` (default view), shaped as reports' ``stages[].families``: all
    the cross-framework section reads of the other frameworks' roots."""
    stages: dict[str, dict[str, dict]] = {r: {} for r in roots}
    for root, stage, family, time_ns, pdl in conn.execute(read_sql("report/family_times.sql"), [roots]).fetchall():
        stages[root].setdefault(stage, {"stage": stage, "families": []})["families"].append(
            {"family": family, "time_ns": time_ns, "same_stream_overlap_ns": pdl or 0})
    return [{"stages": list(stages[r].values())} for r in roots]


class ReportCache:
    """Stored reports by root, read once per bundle run (a model's roots feed every framework's bundle)."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, opts: TriageOptions | None = None):
        self.conn, self.opts, self._done = conn, opts or TriageOptions(), {}

    def get(self, roots: list[str]) -> list[dict]:
        for root in roots:
            if root not in self._done:
                self._done[root] = read_report(self.conn, root, self.opts)
        return [self._done[r] for r in roots]


def require_reports(conn: duckdb.DuckDBPyConnection, roots: list[str]) -> None:
    """`NotAnalyzed` naming every root whose stored report is missing or stale (and the command)."""
    problems = [p for p in (report_problem(conn, r) for r in roots) if p]
    if problems:
        raise NotAnalyzed("\n".join(problems))


def write_bundle(conn: duckdb.DuckDBPyConnection, out_dir: Path, framework: str, model: str,
                 opts: TriageOptions | None = None, cache: ReportCache | None = None) -> Path:
    """Render one model × framework bundle (with the model's cross-framework section)."""
    cache = cache or ReportCache(conn, opts)
    model_slug = slug(model)
    roots_by_fw = {fw: roots for (fw, m), roots in _roots(conn).items() if m == model_slug}
    if framework not in roots_by_fw:
        raise KeyError(f"no trace root for framework {framework!r} and model {model!r} in the warehouse")
    by_fw = {fw: cache.get(roots) if fw == framework else family_reports(conn, roots)
             for fw, roots in roots_by_fw.items()}
    path = safe_join(out_dir, model_slug, f"{slug(framework)}.md")
    path.parent.mkdir(parents=True, exist_ok=True)
    since = since_previous(conn, [r["root"]["root"] for r in by_fw[framework]])  # stored diffs only
    text = render("bundle.md.j2", model=model, framework=FRAMEWORK_NAMES.get(framework, framework),
                  reports=by_fw[framework], cross=cross_framework(by_fw), since=since, heading_level=2)
    path.write_text(text, encoding="utf-8")
    return path


def write_index(conn: duckdb.DuckDBPyConnection, out_dir: Path) -> Path:
    """``index.md``: models sorted, frameworks in the house order, with root counts."""
    groups = _roots(conn)
    models: dict[str, list[dict]] = defaultdict(list)
    for (fw, model), roots in groups.items():
        models[model].append({"framework": FRAMEWORK_NAMES.get(fw, fw), "key": fw, "roots": roots,
                              "link": f"{model}/{slug(fw)}.md"})
    entries = [{"model": m, "frameworks": sorted(v, key=lambda e: framework_rank(e["key"]))}
               for m, v in sorted(models.items(), key=lambda t: t[0].lower())]
    path = out_dir / "index.md"
    out_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(render("index.md.j2", models=entries), encoding="utf-8")
    return path


def write_bundles(conn: duckdb.DuckDBPyConnection, out_dir: Path, roots: list[str] | None = None) -> list[Path]:
    """Every bundle touching `roots` (all when None), then the index."""
    groups = _roots(conn, roots)
    models = {model for _, model in groups}
    require_reports(conn, [r for (_, m), rs in _roots(conn).items() if m in models for r in rs])
    written, cache = [], ReportCache(conn)
    for fw, model in sorted(groups, key=lambda t: (t[1].lower(), framework_rank(t[0]))):
        written.append(write_bundle(conn, out_dir, fw, model, cache=cache))
    written.append(write_index(conn, out_dir))
    return written
