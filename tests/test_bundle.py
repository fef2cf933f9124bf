"""Bundles: one per model × framework plus an index; every markdown table renders with intact rows."""

from __future__ import annotations

from pathlib import Path

from markdown_it import MarkdownIt

from pipeline.render.bundle import bundle_key, cross_framework, write_bundles
from pipeline.ingest import ingest_inputs
from pipeline.render.markdown import code, md, short
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


def _rep(stages: dict[str, dict[str, int]]) -> dict:
    """A stored report's shape as far as the comparison reads it: stage → family → time_ns."""
    return {"stages": [{"stage": st, "families": [{"family": f, "time_ns": t, "same_stream_overlap_ns": 0}
                                                   for f, t in fams.items()]} for st, fams in stages.items()]}


def test_cross_framework_calls_out_the_largest_difference() -> None:
    cross = cross_framework({"vllm": [_rep({"decode": {"gemm": 50, "attention": 30, "other": 20}})],
                             "sglang": [_rep({"decode": {"gemm": 60, "attention": 10, "other": 30}})]})
    [decode] = cross
    assert decode["frameworks"] == ["SGLang", "vLLM"]
    assert decode["differences"][0]["family"] == "attention"
    assert abs(decode["differences"][0]["spread"] - 0.2) < 1e-9


def test_cross_framework_compares_every_stage_of_every_root() -> None:
    """SGLang's prefill and decode come as two roots; before, only the first root of a framework
    was read, so one of the two stages had no SGLang column."""
    sglang = [_rep({"decode": {"gemm": 70, "attention": 30}}), _rep({"prefill": {"gemm": 40, "attention": 60}}),
              _rep({"decode": {"gemm": 10, "attention": 90, "norm": 0}})]
    vllm = [_rep({"prefill": {"gemm": 50, "attention": 50}, "decode": {"gemm": 60, "attention": 40}})]
    cross = {c["stage"]: c for c in cross_framework({"sglang": sglang, "vllm": vllm})}
    assert set(cross) == {"decode", "prefill"}
    for c in cross.values():
        assert c["frameworks"] == ["SGLang", "vLLM"]
    assert cross["decode"]["roots"] == [2, 1] and cross["prefill"]["roots"] == [1, 1]
    decode = {r["family"]: r["shares"] for r in cross["decode"]["rows"]}
    assert decode["gemm"] == [80 / 200, 60 / 100]  # SGLang's two decode roots pooled: (70 + 10) / (100 + 100)
    assert decode["attention"] == [120 / 200, 40 / 100]


def test_cross_framework_shares_leave_out_same_stream_overlap() -> None:
    rep = _rep({"decode": {"norm": 40, "gemm": 60}})
    rep["stages"][0]["families"][0]["same_stream_overlap_ns"] = 30  # the norm's PDL wait
    [decode] = cross_framework({"trtllm": [rep]})
    assert {r["family"]: r["shares"] for r in decode["rows"]} == {"norm": [10 / 70], "gemm": [60 / 70]}


def test_names_in_code_spans_stay_literal_in_table_cells() -> None:
    name = "void f<a|b>(int*) __x__ `t` *y*"
    html = MarkdownIt("commonmark").enable("table").render(f"| k |\n|---|\n| {code(name)} |\n")
    assert "<td><code>void f&lt;a|b&gt;(int*) __x__ `t` *y*</code></td>" in html
    assert code("`tick`").startswith("`` `") and "\\" not in code("a_b<c>")
    assert md("matmul_ogs") == "matmul_ogs" and md("_x <y>") == "\\_x \\<y\\>"
    assert bundle_key("sglang", "Qwen/Qwen3 8B") == "sglang/Qwen-Qwen3-8B"


def test_short_names_keep_head_and_tail() -> None:
    name = "Cijk_Alik_Bljk_BBS_BH_Bias_HA_S_SAV_UserArgs_" + "x" * 100 + "_MT256x192x64_WG32_8_1"
    cut = short(name, 60)
    assert len(cut) == 60 and cut.startswith("Cijk_Alik") and cut.endswith("_WG32_8_1")


def test_other_frameworks_family_times_equal_their_stored_reports(tmp_path: Path, spool: Path) -> None:
    """The cross-framework section reads only the family times of the other frameworks' roots; they
    are the stored reports' families (default view), stage by stage."""
    from pipeline.render.bundle import family_reports
    from pipeline.report.read import read_report

    wh = Warehouse(None)
    ingest_inputs([TRACES / "vllm", TRACES / "sglang"], wh, spool, data_root=TRACES)
    with wh.connect() as conn:
        roots = analyze_all(conn)
        light = family_reports(conn, roots)
        full = [read_report(conn, r) for r in roots]
    for lite, rep in zip(light, full):
        assert [(s["stage"], [(f["family"], f["time_ns"]) for f in s["families"]]) for s in lite["stages"]] == \
            [(s["stage"], [(f["family"], f["time_ns"]) for f in s["families"]]) for s in rep["stages"]]
