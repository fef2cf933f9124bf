"""Ingest's SQL lives in sql/ingest: the static per-table statement lists cover every table, no
statement is left in pipeline/ingest's Python, and rows spooled as Parquet load like rows kept
in memory."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import pipeline.ingest as ingest_mod
from pipeline.ingest import ingest_inputs
from pipeline.paths import REPO_ROOT, read_sql
from pipeline.store import Warehouse, declared_columns, file_tables
from tests.conftest import TRACES, load_json_exact, us_to_ns

SGLANG_DECODE = TRACES / "sglang/qwen3-8b-mi300x-decode-graph-bs32"  # has baseTimeNanoseconds
HF = TRACES / "hf-transformers/qwen1.5-0.5b-chat-h100-bs16-forward"


def _pid_tables() -> set[str]:
    return {t for t, cols in declared_columns().items() if t != "trace_files" and {"file_id", "pid"} <= set(cols)}


def _code(name: str) -> str:
    return "\n".join(line for line in read_sql(name).splitlines() if not line.lstrip().startswith("--"))


def test_every_table_keyed_by_file_id_is_cleared_with_its_files() -> None:
    listed = re.findall(r"DELETE FROM (\w+) WHERE list_contains\(\?, file_id\);", _code("ingest/delete_files.sql"))
    assert sorted(listed) == sorted(file_tables()) and len(listed) == len(set(listed))


def test_every_table_with_a_pid_is_split_by_rank_label() -> None:
    code = _code("ingest/split_merged.sql")
    moved = re.findall(r"INSERT INTO (\w+) BY NAME\s+SELECT t\.\* REPLACE \((.*?)\)\s+FROM (\w+) t", code, re.S)
    dropped = re.findall(r"DELETE FROM (\w+) t\s+USING _merged_split s", code)
    assert sorted(t for t, _, _ in moved) == sorted(dropped) == sorted(_pid_tables())
    for table, replaced, source in moved:
        assert source == table
        assert ("AS device" in replaced) == ("device" in declared_columns()[table]), table
    labelled = re.findall(r"SELECT pid FROM (\w+) WHERE file_id = \$file_id", _code("ingest/merged_labels.sql"))
    assert sorted(labelled) == sorted(_pid_tables())


def test_no_sql_statement_is_left_in_ingest_python() -> None:
    """Statements live in sql/ingest; only control statements (SET, BEGIN, COMMIT) stay in code
    (pipeline/ingest/argspec.py generates expressions, never a statement)."""
    found = []
    for path in sorted((REPO_ROOT / "pipeline/ingest").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            texts = [node.value] if isinstance(node, ast.Constant) and isinstance(node.value, str) else []
            if isinstance(node, ast.JoinedStr):
                texts = ["".join(v.value for v in node.values if isinstance(v, ast.Constant))]
            found += [f"{path.name}:{node.lineno}" for t in texts
                      if re.match(r"\s*(SELECT|INSERT|DELETE|UPDATE|CREATE|DROP|WITH|COPY|ALTER)\b", t)]
    assert found == []


def _tables(wh: Warehouse) -> dict[str, list[tuple]]:
    """Every row of every table keyed by file_id, in a fixed order."""
    with wh.connect() as conn:
        return {t: sorted(map(tuple, (r.values() for r in conn.table(t).to_arrow_table().to_pylist())), key=repr)
                for t in file_tables()}


@pytest.mark.parametrize("root", [SGLANG_DECODE, HF], ids=lambda p: p.name)
def test_spooled_rows_load_like_rows_kept_in_memory(root: Path, spool: Path, monkeypatch) -> None:
    memory = Warehouse(None)
    [kept] = ingest_inputs([root], memory, spool / "memory")
    monkeypatch.setattr(ingest_mod, "IN_MEMORY_BYTES", 0)  # every file goes through its Parquet spool
    spooled = Warehouse(None)
    [read] = ingest_inputs([root], spooled, spool / "parquet")
    assert read.rows == kept.rows and read.rows["kernels"] > 0
    assert _tables(spooled) == _tables(memory)
    doc = load_json_exact(next(root.glob("*.json.gz")))  # and the times are absolute, from the raw JSON
    base = int(doc.get("baseTimeNanoseconds", 0))
    kernels = [e for e in doc["traceEvents"] if e.get("cat") == "kernel"]
    with spooled.connect() as conn:
        got = conn.execute("SELECT count(*), min(ts_ns), sum(dur_ns) FROM kernels").fetchone()
    assert got == (len(kernels), min(us_to_ns(e["ts"]) for e in kernels) + base, sum(us_to_ns(e["dur"]) for e in kernels))
