"""Bundles: one per model × framework plus an index; every markdown table renders with intact rows."""

from __future__ import annotations

from pathlib import Path

from markdown_it import MarkdownIt

from pipeline.render.bundle import bundle_key, cross_framework, write_bundles
from pipeline.ingest import ingest_inputs
from pipeline.render.markdown import md
from pipeline.store import Warehouse
from tests.conftest import TRACES, analyze_all


def _table_rows(html_tokens) -> list[tuple[int, list[int]]]:
    """(header cell count, [body row cell counts]) per table."""
    tables, header, rows, cells, in_head = [], 0, [], 0, False
    for tok in html_tokens:
        if tok.type == "table_open":
            header, rows = 0, []
        elif tok.type == "thead_open":
            in_head = True
        elif tok.type == "thead_close":
            in_head = False
        elif tok.type == "tr_open":
            cells = 0
        elif tok.type in ("th_open", "td_open"):
            cells += 1
        elif tok.type == "tr_close":
            if in_head:
                header = cells
            else:
                rows.append(cells)
        elif tok.type == "table_close":
            tables.append((header, rows))
    return tables


def _raw_rows(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.startswith("|") and not line.startswith("|---"))


def test_every_bundle_renders_and_every_table_row_has_the_header_cell_count(tmp_path: Path, spool: Path) -> None:
    wh = Warehouse(None)
    ingest_inputs([TRACES], wh, spool, data_root=TRACES)
    out = tmp_path / "bundles"
    with wh.connect() as conn:
        analyze_all(conn)
        written = write_bundles(conn, out)
    assert (out / "index.md") in written
    parser = MarkdownIt("commonmark").enable("table")
    checked = 0
    for path in written:
        text = path.read_text(encoding="utf-8")
        tables = _table_rows(parser.parse(text))
        assert tables, f"{path} has no table"
        for header, rows in tables:
            assert all(n == header for n in rows), f"{path}: a row's cell count differs from its header ({header})"
            checked += 1 + len(rows)
        # every markdown table line became a table row (none broke out of its table)
        assert sum(1 + len(r) for _, r in tables) == _raw_rows(text), path
    assert checked > 100


def test_bundle_layout_and_index_order(tmp_path: Path, spool: Path) -> None:
    wh = Warehouse(None)
    ingest_inputs([TRACES / "vllm", TRACES / "sglang"], wh, spool, data_root=TRACES)
    out = tmp_path / "b"
    with wh.connect() as conn:
        analyze_all(conn)
        write_bundles(conn, out)
    assert (out / "Qwen3-8B" / "sglang.md").is_file()
    assert (out / "gpt-oss-20b" / "vllm.md").is_file()
    index = (out / "index.md").read_text()
    models = [line[2:].strip() for line in index.splitlines() if line.startswith("- ") and not line.startswith("  ")]
    assert models == sorted(models, key=str.lower)
    bundle = (out / "Qwen3-8B" / "sglang.md").read_text()
    assert "## Cross-framework comparison" in bundle and "### Stage: decode" in bundle
    assert "Kernels" in bundle and "Launch groups" in bundle and "Fusion patterns" in bundle


def test_cross_framework_calls_out_the_largest_difference() -> None:
    def rep(shares):
        return [{"stages": [{"stage": "decode", "families": [{"family": f, "share": s} for f, s in shares.items()]}]}]

    cross = cross_framework({"vllm": rep({"gemm": 0.5, "attention": 0.3}), "sglang": rep({"gemm": 0.6, "attention": 0.1})})
    [decode] = cross
    assert decode["frameworks"] == ["SGLang", "vLLM"]
    assert decode["differences"][0]["family"] == "attention"
    assert abs(decode["differences"][0]["spread"] - 0.2) < 1e-9


def test_markdown_escaping_keeps_kernel_names_literal() -> None:
    name = "void f<a|b>(int*) __x__ `t` *y*"
    escaped = md(name)
    html = MarkdownIt("commonmark").enable("table").render(f"| k |\n|---|\n| {escaped} |\n")
    assert "<td>void f&lt;a|b&gt;(int*) __x__ `t` *y*</td>" in html
    assert bundle_key("sglang", "Qwen/Qwen3 8B") == "sglang/Qwen-Qwen3-8B"
