"""Concurrent work on one root, in real processes on real traces: nothing lost, nothing shared.

Several `python -m pipeline.cli ingest` (or in-memory `triage --input`) processes run at once
with one state folder (so one spool folder); each must finish, and the rows they leave must be
identical to a sequential run's, which itself reconciles with the raw trace (kernel count and
summed duration recounted with the stdlib reader).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import orjson

from tests.conftest import TRACES, load_json_exact, us_to_ns

REPO = Path(__file__).resolve().parents[1]
# Two real roots with files big enough (≥ 2 MB decompressed) to go through DuckDB's reader,
# whose batch files used to live in the shared spool folder, and a small one.
ROOTS = [TRACES / "sglang/qwen3-8b-mi300x-extend-eager-bs15",
         TRACES / "vllm/gpt-oss-120b-b200-tp8-eager-prefill-rank0",
         TRACES / "sglang/qwen3-8b-mi300x-decode-graph-bs32"]
TABLES = ("trace_roots", "trace_files", "kernels", "gpu_memops", "launches", "cpu_ops", "python_frames",
          "annotations", "trace_meta")
VOLATILE = {"ingested_at", "loaded_at"}


def _cli(args: list[str], state: Path) -> subprocess.Popen:
    env = dict(os.environ, PROFTRIAGE_STATE_DIR=str(state))
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(procs: list[subprocess.Popen]) -> list[tuple[int, bytes, bytes]]:
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        out.append((p.returncode, stdout, stderr))
    return out


def _rows(warehouse: Path) -> dict[str, list[tuple]]:
    """Every row of every table, volatile timestamps left out, in a stable order."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        out = {}
        for table in TABLES:
            cols = [c[0] for c in con.execute(f"DESCRIBE {table}").fetchall() if c[0] not in VOLATILE]
            rows = con.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall()
            out[table] = sorted(rows, key=repr)
        return out
    finally:
        con.close()


def _spool_leftovers(state: Path) -> list[str]:
    spool = state / "spool"
    return sorted(str(p.relative_to(spool)) for p in spool.rglob("*")) if spool.exists() else []


def _raw_kernels(root: Path) -> tuple[int, int]:
    count = total = 0
    for path in root.glob("*.json.gz"):
        for e in load_json_exact(path)["traceEvents"]:
            if e.get("cat") == "kernel":
                count, total = count + 1, total + us_to_ns(e["dur"])
    return count, total


def test_four_ingests_of_the_same_roots_at_once_leave_the_sequential_rows(tmp_path: Path) -> None:
    state = tmp_path / "state"
    args = [str(r) for r in ROOTS] + ["--data-root", str(TRACES), "--strict", "-q"]
    [(rc, _, err)] = _finish([_cli(["ingest", *args, "--warehouse", str(tmp_path / "seq.duckdb")], state)])
    assert rc == 0, err.decode()
    expected = _rows(tmp_path / "seq.duckdb")
    with duckdb.connect(str(tmp_path / "seq.duckdb"), read_only=True) as con:
        for root in ROOTS:
            got = con.execute("SELECT count(*), sum(k.dur_ns) FROM kernels k JOIN trace_files f USING (file_id) "
                              "WHERE f.root = ?", [root.relative_to(TRACES).as_posix()]).fetchone()
            assert got == _raw_kernels(root), root.name  # the sequential run is complete

    shared = tmp_path / "shared.duckdb"
    results = _finish([_cli(["ingest", *args, "--warehouse", str(shared)], state) for _ in range(4)])
    for rc, out, err in results:
        assert rc == 0, err.decode()
        assert out.decode().count("1/1 files loaded") == len(ROOTS), out.decode()
    assert _rows(shared) == expected
    assert _spool_leftovers(state) == []


def test_three_in_memory_triages_of_one_root_at_once_agree_with_a_lone_one(tmp_path: Path) -> None:
    state = tmp_path / "state"
    args = ["triage", "--input", str(ROOTS[0]), "--format", "json", "-q"]
    [(rc, alone, err)] = _finish([_cli(args, state)])
    assert rc == 0, err.decode()
    results = _finish([_cli(args, state) for _ in range(3)])
    for rc, out, err in results:
        assert rc == 0, err.decode()
        assert orjson.loads(out) == orjson.loads(alone)
    assert orjson.loads(alone)["files"][0]["kernels"] == _raw_kernels(ROOTS[0])[0]
    assert _spool_leftovers(state) == []
