"""Markdown bundles: ``<out>/<model>/<framework>.md`` per model × framework and ``<out>/index.md``."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import duckdb

from pipeline.paths import safe_join
from pipeline.render.markdown import render
from pipeline.report.build import TriageOptions, triage_root

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
    rows = conn.execute("SELECT root, framework, model FROM trace_roots ORDER BY root").fetchall()
    out: dict[tuple[str, str], list[str]] = defaultdict(list)
    for root, framework, model in rows:
        if only is None or root in only:
            out[(framework or "unknown", slug(model))].append(root)
    return out


def _family_shares(report: dict) -> dict[str, dict[str, float]]:
    return {s["stage"]: {f["family"]: f["share"] for f in s["families"]} for s in report.get("stages", [])}


def cross_framework(reports_by_fw: dict[str, list[dict]]) -> list[dict]:
    """Per stage, family shares side by side per framework, with the largest differences called out."""
    shares: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)  # stage → framework → family → share
    for fw, reports in reports_by_fw.items():
        for rep in reports[:1]:  # the first root of each framework represents it
            for stage, fams in _family_shares(rep).items():
                shares[stage][fw] = fams
    out = []
    for stage, per_fw in sorted(shares.items()):
        frameworks = sorted(per_fw, key=framework_rank)
        families = sorted({f for fams in per_fw.values() for f in fams})
        rows = [{"family": fam, "shares": [per_fw[fw].get(fam, 0.0) for fw in frameworks]} for fam in families]
        for r in rows:
            r["spread"] = max(r["shares"]) - min(r["shares"])
        rows.sort(key=lambda r: (-max(r["shares"]), r["family"]))
        diffs = sorted(rows, key=lambda r: -r["spread"])[:CROSS_TOP_DIFFS] if len(frameworks) > 1 else []
        out.append({"stage": stage, "frameworks": [FRAMEWORK_NAMES.get(f, f) for f in frameworks],
                    "rows": rows, "differences": [d for d in diffs if d["spread"] > 0]})
    return out


class ReportCache:
    """Triage reports by root, computed once per bundle run (a model's roots feed every framework's bundle)."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, opts: TriageOptions | None = None):
        self.conn, self.opts, self._done = conn, opts or TriageOptions(), {}

    def get(self, roots: list[str]) -> list[dict]:
        for root in roots:
            if root not in self._done:
                self._done[root] = triage_root(self.conn, root, self.opts)
        return [self._done[r] for r in roots]


def write_bundle(conn: duckdb.DuckDBPyConnection, out_dir: Path, framework: str, model: str,
                 opts: TriageOptions | None = None, cache: ReportCache | None = None) -> Path:
    """Render one model × framework bundle (with the model's cross-framework section)."""
    cache = cache or ReportCache(conn, opts)
    model_slug = slug(model)
    by_fw = {fw: cache.get(roots) for (fw, m), roots in _roots(conn).items() if m == model_slug}
    if framework not in by_fw:
        raise KeyError(f"no trace root for framework {framework!r} and model {model!r} in the warehouse")
    path = safe_join(out_dir, model_slug, f"{slug(framework)}.md")
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render("bundle.md.j2", model=model, framework=FRAMEWORK_NAMES.get(framework, framework),
                  reports=by_fw[framework], cross=cross_framework(by_fw), heading_level=2)
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
    written, cache = [], ReportCache(conn)
    for fw, model in sorted(_roots(conn, roots), key=lambda t: (t[1].lower(), framework_rank(t[0]))):
        written.append(write_bundle(conn, out_dir, fw, model, cache=cache))
    written.append(write_index(conn, out_dir))
    return written
