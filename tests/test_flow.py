"""One flow (issue 17): facts built once per root for every rank, reports stored as tables, bundles
and triage only read them; a missing or stale report is named with the command that builds it."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from pipeline.facts import build_facts
from pipeline.ingest import ingest_inputs
from pipeline.render.bundle import write_bundles
from pipeline.report.read import TriageOptions, read_report
from pipeline.report.state import NotAnalyzed, report_problem
from pipeline.report.triage import analyze, triage_root
from pipeline.store import Warehouse
from tests.conftest import TRACES, analyze_all

SGLANG = ["sglang/qwen3-8b-mi300x-decode-graph-bs32", "sglang/qwen3-8b-mi300x-extend-eager-bs15"]
TWO_RANKS = "other/hta-2rank-sendrecv"


def _warehouse(tmp_path: Path, spool: Path, roots: list[str]) -> Warehouse:
    wh = Warehouse(tmp_path / "w.duckdb")
    ingest_inputs([TRACES / r for r in roots], wh, spool, data_root=TRACES)
    return wh


def _count(conn, sql: str, params: list) -> int:
    return conn.execute(sql, params).fetchone()[0]


def test_bundle_never_analyses_it_names_the_command(tmp_path: Path, spool: Path) -> None:
    wh = _warehouse(tmp_path, spool, SGLANG)
    with wh.connect() as conn:
        with pytest.raises(NotAnalyzed) as err:
            write_bundles(conn, tmp_path / "b")
        for root in SGLANG:
            assert f"proftriage analyze {root}" in str(err.value)
        assert _count(conn, "SELECT count(*) FROM kernel_facts", []) == 0  # nothing computed on the side
        assert _count(conn, "SELECT count(*) FROM report_stages", []) == 0
        analyze_all(conn)
        built = conn.execute("SELECT root, built_at FROM facts_builds ORDER BY root").fetchall()
        reports = conn.execute("SELECT root, built_at FROM report_roots ORDER BY root").fetchall()
        write_bundles(conn, tmp_path / "b")
        assert conn.execute("SELECT root, built_at FROM facts_builds ORDER BY root").fetchall() == built
        assert conn.execute("SELECT root, built_at FROM report_roots ORDER BY root").fetchall() == reports


def test_reingested_root_makes_its_report_stale(tmp_path: Path, spool: Path) -> None:
    wh = _warehouse(tmp_path, spool, SGLANG[:1])
    with wh.connect() as conn:
        analyze_all(conn)
        assert report_problem(conn, SGLANG[0]) is None
    ingest_inputs([TRACES / SGLANG[0]], wh, spool, data_root=TRACES)  # a new load of the root
    with wh.connect() as conn:
        problem = report_problem(conn, SGLANG[0])
        assert problem and "older than the last ingest" in problem and "proftriage analyze" in problem
        with pytest.raises(NotAnalyzed):
            read_report(conn, SGLANG[0])
        analyze(conn, SGLANG[0])
        assert report_problem(conn, SGLANG[0]) is None


def test_facts_of_an_older_facts_step_are_stale_and_rebuilt(tmp_path: Path, spool: Path) -> None:
    wh = _warehouse(tmp_path, spool, SGLANG[:1])
    with wh.connect() as conn:
        analyze_all(conn)
        conn.execute("UPDATE facts_builds SET facts_version = facts_version - 1")  # as an older release wrote them
        problem = report_problem(conn, SGLANG[0])
        assert problem and "older version of the facts step" in problem and "proftriage analyze" in problem
        triage_root(conn, SGLANG[0])  # triage brings facts and report up to date
        assert report_problem(conn, SGLANG[0]) is None


def test_facts_hold_every_rank_and_the_check_passes(tmp_path: Path, spool: Path) -> None:
    from pipeline.checks import Floors, RULES, run_rule

    wh = _warehouse(tmp_path, spool, [TWO_RANKS])
    with wh.connect() as conn:
        summary = build_facts(conn, TWO_RANKS)
        assert summary.ranks == [0, 1]
        per_rank = dict(conn.execute(
            "SELECT f.rank, count(*) FROM kernels k JOIN trace_files f USING (file_id) WHERE f.root = ? "
            "GROUP BY f.rank", [TWO_RANKS]).fetchall())
        facts = dict(conn.execute("SELECT rank, count(*) FROM kernel_facts WHERE root = ? AND kind = 'kernel' "
                                  "GROUP BY rank", [TWO_RANKS]).fetchall())
        assert facts == per_rank and set(facts) == {0, 1}
        rule = next(r for r in RULES if r.name == "kernel_facts_match_kernels")
        outcome = run_rule(conn, rule, TWO_RANKS, Floors())
        assert outcome.passed and outcome.row["files_with_facts"] == 2 and outcome.row["files_without_facts"] == 0
        conn.execute("DELETE FROM kernel_facts WHERE root = ? AND rank = 1", [TWO_RANKS])
        assert not run_rule(conn, rule, TWO_RANKS, Floors()).passed  # one rank missing fails the check


def test_one_analysis_serves_every_view(tmp_path: Path, spool: Path) -> None:
    wh = _warehouse(tmp_path, spool, [TWO_RANKS])
    with wh.connect() as conn:
        analyze(conn, TWO_RANKS)
        views = [v for (v,) in conn.execute("SELECT view FROM report_views WHERE root = ? ORDER BY view",
                                            [TWO_RANKS]).fetchall()]
        assert views == ["0", "1", "all"]
        stamp = conn.execute("SELECT built_at FROM report_roots WHERE root = ?", [TWO_RANKS]).fetchone()
        r1 = triage_root(conn, TWO_RANKS, TriageOptions(rank=1))
        both = triage_root(conn, TWO_RANKS, TriageOptions(all_ranks=True))
        assert conn.execute("SELECT built_at FROM report_roots WHERE root = ?", [TWO_RANKS]).fetchone() == stamp
    time_r1 = _stage_time(r1)
    per_rank = {p["rank"]: p["time_ns"] for p in both["stages"][0]["ranks"]["per_rank"]}
    assert per_rank[1] == time_r1  # rank 1's own view and its column in the pooled view agree


def _stage_time(report: dict) -> int:
    return sum(s["kernel_time_ns"] for s in report["stages"])


_ROW = re.compile(r"^\| (\d+) \| (.+?) \| (\w+) \| ([\d.]+ (?:ms|µs|ns|s)) \| ([\d.]+ %) \|")


def test_every_bundle_number_equals_the_stored_report(tmp_path: Path, spool: Path) -> None:
    """The kernel rows each bundle shows are the stored `report_kernels` rows (read with SQL here),
    formatted, in order, with nothing added or dropped above the cutoff."""
    from pipeline.report.headline import fmt_ns, pct

    wh = _warehouse(tmp_path, spool, SGLANG)
    with wh.connect() as conn:
        analyze_all(conn)
        written = write_bundles(conn, tmp_path / "b")
        stored = {}
        for root in SGLANG:
            view = conn.execute("SELECT default_view FROM report_roots WHERE root = ?", [root]).fetchone()[0]
            for stage, time_ns, share in conn.execute(
                    "SELECT stage, time_ns, share FROM report_kernels WHERE root = ? AND view = ? AND share >= 0.01 "
                    "ORDER BY stage, pos", [root, view]).fetchall():
                stored.setdefault((root, stage), []).append((fmt_ns(time_ns), pct(share)))
    text = next(p for p in written if p.name == "sglang.md").read_text(encoding="utf-8")
    shown: dict = {}
    root = stage = None
    for line in text.splitlines():
        if line.startswith("## Trace root: "):
            root = line.removeprefix("## Trace root: ").strip("`")
        elif line.startswith("### Stage: "):
            stage = line.removeprefix("### Stage: ")
        elif stage and (m := _ROW.match(line)) and line.count("|") >= 13:
            shown.setdefault((root, stage), []).append((m.group(4), m.group(5)))
    assert shown == stored
    assert sum(len(v) for v in shown.values()) > 10


def test_analyze_command_then_bundle(tmp_path: Path, spool: Path) -> None:
    from pipeline.cli import main

    wh_path = tmp_path / "w.duckdb"
    assert main(["bundle", "--warehouse", str(wh_path), "--output-dir", str(tmp_path / "b")]) == 2
    assert not wh_path.exists()  # a reading command creates nothing
    _warehouse(tmp_path, spool, SGLANG[:1])
    assert main(["bundle", "--warehouse", str(wh_path), "--output-dir", str(tmp_path / "b")]) == 2
    assert main(["analyze", "--warehouse", str(wh_path)]) == 0
    assert main(["bundle", "--warehouse", str(wh_path), "--output-dir", str(tmp_path / "b")]) == 0
    assert (tmp_path / "b" / "Qwen3-8B" / "sglang.md").is_file()
    assert main(["analyze", "no/such-root", "--warehouse", str(wh_path)]) == 2
    assert os.path.getsize(wh_path) > 0


def test_every_report_table_is_cleared_with_its_root() -> None:
    from pipeline.paths import read_sql
    from pipeline.report.tables import specs

    listed = set(re.findall(r"DELETE FROM (report_\w+) WHERE root = \?", read_sql("report/delete_root.sql")))
    assert listed == set(specs())


def test_every_list_table_is_read_back() -> None:
    from pipeline.paths import read_sql
    from pipeline.report.tables import list_tables

    read = set(re.findall(r"FROM (report_\w+) t WHERE", read_sql("report/read_view.sql")))
    assert read == set(list_tables().values()) | {"report_views", "report_stages"}


def test_every_derived_table_is_dropped_together() -> None:
    from pipeline.paths import read_sql
    from pipeline.store import DERIVED_PREFIXES, FACT_TABLES, declared_columns

    listed = set(re.findall(r"DROP TABLE IF EXISTS (\w+);", read_sql("meta/drop_derived.sql")))
    assert listed == {t for t in declared_columns() if t in FACT_TABLES or t.startswith(DERIVED_PREFIXES)}


def test_a_changed_derived_table_is_rebuilt_and_raw_rows_kept(tmp_path: Path, spool: Path) -> None:
    """An older warehouse whose kernel_facts lacks a column: the derived tables are recreated (the
    state then asks for `analyze`), the raw tables keep every row."""
    wh = _warehouse(tmp_path, spool, SGLANG[:1])
    with wh.connect() as conn:
        analyze(conn, SGLANG[0])
        kernels = _count(conn, "SELECT count(*) FROM kernels", [])
        conn.execute("ALTER TABLE kernel_facts DROP COLUMN cost_note")
        conn.execute("DELETE FROM schema_info")
    with wh.connect() as conn:
        assert "cost_note" in [r[0] for r in conn.execute("DESCRIBE kernel_facts").fetchall()]
        assert _count(conn, "SELECT count(*) FROM kernel_facts", []) == 0
        assert _count(conn, "SELECT count(*) FROM report_roots", []) == 0
        assert _count(conn, "SELECT count(*) FROM kernels", []) == kernels
        assert "no kernel facts yet" in report_problem(conn, SGLANG[0])
        analyze(conn, SGLANG[0])
        assert report_problem(conn, SGLANG[0]) is None


def test_every_warehouse_column_has_a_comment() -> None:
    import duckdb

    from pipeline.store import ensure_schema

    conn = duckdb.connect()
    ensure_schema(conn)
    missing = conn.execute(
        "SELECT c.table_name || '.' || c.column_name FROM duckdb_columns() c "
        "JOIN duckdb_tables() t ON t.table_name = c.table_name AND t.schema_name = c.schema_name "
        "WHERE c.schema_name = 'main' AND NOT t.internal AND coalesce(c.comment, '') = ''").fetchall()
    tables = conn.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main'").fetchone()[0]
    assert missing == [] and tables >= 20


def test_in_memory_schema_has_the_same_tables_without_comments() -> None:
    """An in-memory warehouse (one triage's scratch store) skips the COMMENT ON statements only."""
    import duckdb

    from pipeline.store import ensure_schema

    def columns(documented: bool) -> tuple[list, int]:
        conn = duckdb.connect()
        ensure_schema(conn, scratch=not documented)
        rows = conn.execute("SELECT table_name, column_index, column_name, data_type, is_nullable FROM duckdb_columns() "
                            "WHERE schema_name = 'main' ORDER BY ALL").fetchall()
        comments = conn.execute("SELECT count(*) FROM duckdb_columns() WHERE schema_name = 'main' "
                                "AND coalesce(comment, '') <> ''").fetchone()[0]
        return rows, comments

    (full, with_comments), (bare, without) = columns(True), columns(False)
    assert bare == full and len({t for t, *_ in full}) >= 20
    assert with_comments >= 400 and without <= 2  # schema_info is created (documented) before the hash check


def test_every_command_and_argument_has_help_text() -> None:
    import argparse

    from pipeline.cli import build_parser

    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    helped = {c.dest for c in sub._choices_actions if c.help}
    assert set(sub.choices) == helped and {"register", "dagster-home", "analyze", "diff"} <= helped
    for name, command in sub.choices.items():
        bare = [a.dest for a in command._actions if a.dest != "help" and not a.help]
        assert bare == [], f"{name}: arguments without help: {bare}"


def test_a_process_waiting_for_the_warehouse_says_so(tmp_path: Path) -> None:
    import fcntl
    import subprocess
    import sys

    path = tmp_path / "w.duckdb"
    code = ("from pipeline.store import Warehouse\n"
            f"with Warehouse({str(path)!r}, lock_timeout_s=0.3).connect():\n    pass\n")
    with open(f"{path}.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another process holds the warehouse
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert f"waiting for the warehouse {path}" in proc.stderr
    assert proc.returncode != 0 and "still locked after" in proc.stderr


@pytest.mark.parametrize("roots", [SGLANG, [TWO_RANKS], ["vllm/gpt-oss-20b-mi300x-mixed-piecewisegraph"]])
def test_report_from_the_facts_just_built_equals_one_from_the_stored_facts(tmp_path: Path, spool: Path,
                                                                           roots: list[str]) -> None:
    """`analyze` hands the facts table it stored to the report instead of reading it back: the table
    must be what the warehouse holds, and the report the same either way."""
    from pipeline.facts import load_facts, report_facts
    from pipeline.report.build import analyze_root

    wh = _warehouse(tmp_path, spool, roots)
    with wh.connect() as conn:
        for root in roots:
            summary = build_facts(conn, root)
            stored = load_facts(conn, root, for_report=True)
            assert report_facts(summary.table).equals(stored)
            assert summary.table.drop_columns(["root"]).equals(load_facts(conn, root))
            from_memory = analyze_root(conn, root, summary.table)["views"]
            assert analyze_root(conn, root)["views"] == from_memory
