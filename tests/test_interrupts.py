"""How commands end, in real processes: a fast failure, Ctrl-C, SIGTERM, a closed pipe; and a good
file overwritten by garbage keeping every stored row (docs/guarantees.md)."""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import orjson

from tests.conftest import EAGER_EXTEND, TRACES, big_ingest_root

REPO = Path(__file__).resolve().parents[1]
BIG = EAGER_EXTEND
SMALL = TRACES / "sglang/qwen3-8b-mi300x-decode-graph-bs32/sglang_Qwen3-8B_decode.json.gz"
TABLES = ("trace_files", "kernels", "gpu_memops", "launches", "cpu_ops", "python_frames", "annotations", "trace_meta")


def _start(args: list[str], state: Path, **kw) -> subprocess.Popen:
    env = dict(os.environ, PROFTRIAGE_STATE_DIR=str(state))
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def _run(args: list[str], state: Path) -> tuple[int, str, str]:
    proc = _start(args, state)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out.decode(), err.decode()


def test_inspect_of_a_large_file_that_fails_at_once_exits_1_not_134(tmp_path: Path) -> None:
    bad = tmp_path / "bad.trace.json"  # ≥ 2 MB: the parsing database starts on a thread, then byte 40 fails
    bad.write_bytes(b'{"traceEvents": [{"ph": "X", oops' + b" " * (4 << 20) + b"}]}")
    for _ in range(2):
        status, out, err = _run(["inspect", str(bad)], tmp_path / "state")
        assert status == 1, err
        assert orjson.loads(out)["ingest"]["status"] == "error" and "terminate" not in err


def _interrupt(tmp_path: Path, root: Path, sig: int) -> tuple[int, str, Path]:
    state = tmp_path / f"state-{sig}"
    proc = _start(["ingest", str(root), "--warehouse", str(tmp_path / "w.duckdb")], state)
    spool = state / "spool"
    while proc.poll() is None and not list(spool.glob("run-*/*")):  # its own folder holds a batch now
        time.sleep(0.01)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err.decode(), spool


def test_ctrl_c_and_sigterm_end_with_one_line_and_leave_no_spool(tmp_path: Path) -> None:
    root = big_ingest_root(tmp_path)
    assert _run(["ingest", str(SMALL.parent), "--warehouse", str(tmp_path / "w.duckdb"), "-q"], tmp_path / "s")[0] == 0
    before = _rows(tmp_path / "w.duckdb")
    for sig, status, word in ((signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")):
        got, err, spool = _interrupt(tmp_path, root, sig)
        assert got == status, err
        assert err.count("\n") == 1 and err.startswith(f"proftriage: {word}; "), err
        assert list(spool.iterdir()) == []
        assert _rows(tmp_path / "w.duckdb") == before  # nothing of the interrupted root, nothing lost


def test_output_closed_early_ends_quietly_with_141(tmp_path: Path) -> None:
    for args in (["triage", "--input", str(SMALL.parent), "-q"],
                 ["ingest", str(SMALL.parent), "--warehouse", str(tmp_path / "w.duckdb"), "-q"]):
        proc = _start(args, tmp_path / "state")
        proc.stdout.close()  # like `| head` exiting before the first line
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=300) == 141 and err == "", err
        proc.stderr.close()


def _rows(warehouse: Path) -> dict[str, list]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        out = {}
        for table in TABLES:
            cols = [c[0] for c in con.execute(f"DESCRIBE {table}").fetchall()
                    if c[0] not in ("ingested_at", "status", "error")]
            out[table] = sorted(con.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall(), key=repr)
        return out


GARBAGE = {
    "gzip of garbage": gzip.compress(os.urandom(4096)),
    "non-trace JSON": gzip.compress(b'{"hello": "world", "items": [1, 2, 3]}'),
    "plain garbage": b"\x00\x01not json at all" * 100,
}


def test_a_good_file_overwritten_by_garbage_keeps_its_rows(tmp_path: Path) -> None:
    root = tmp_path / "data" / "sglang" / "run1"
    root.mkdir(parents=True)
    target = root / "x-TP-0-DECODE.trace.json.gz"
    shutil.copy(SMALL, target)
    shutil.copy(BIG, root / "y-TP-1-DECODE.trace.json.gz")
    wh, state = tmp_path / "w.duckdb", tmp_path / "state"
    args = ["ingest", str(root), "--data-root", str(tmp_path / "data"), "--warehouse", str(wh), "--strict", "-q"]
    assert _run(args, state)[0] == 0
    before = _rows(wh)
    assert len(before["kernels"]) > 0
    for case, data in GARBAGE.items():
        target.write_bytes(data)
        status, out, err = _run(args, state)
        assert status == 1, (case, out, err)  # --strict: the failure is an error of this load
        assert f"kept previous rows of {target.name}" in out and f"error: {target}" in out, (case, out)
        assert _rows(wh) == before, case  # every row of both files, as the good load left them
        with duckdb.connect(str(wh), read_only=True) as con:
            status_of = dict(con.execute("SELECT path, status FROM trace_files").fetchall())
        assert status_of == {target.name: "stale", "y-TP-1-DECODE.trace.json.gz": "ok"}, case
    assert _run(args[:-2] + ["-q"], state)[0] == 0  # without --strict a failed file is reported, exit 0


def test_a_root_whose_only_file_turned_to_garbage_is_named_and_keeps_its_rows(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for run in ("run1", "run2"):
        (data / "sglang" / run).mkdir(parents=True)
        shutil.copy(SMALL, data / "sglang" / run / "x-TP-0-DECODE.trace.json.gz")
    wh, state = tmp_path / "w.duckdb", tmp_path / "state"
    assert _run(["ingest", str(data), "--warehouse", str(wh), "-q"], state)[0] == 0
    before = _rows(wh)
    (data / "sglang" / "run1" / "x-TP-0-DECODE.trace.json.gz").write_bytes(GARBAGE["gzip of garbage"])
    status, out, err = _run(["ingest", str(data / "sglang" / "run1"), "--warehouse", str(wh)], state)
    assert status == 2 and err.startswith(f"error: {data / 'sglang' / 'run1'}: no trace root here (every trace "
                                          "file is rejected: x-TP-0-DECODE.trace.json.gz: not a trace: "), err
    status, out, err = _run(["ingest", str(data), "--warehouse", str(wh), "-q"], state)
    assert status == 0 and (f"note: sglang/run1 ({data / 'sglang' / 'run1'}) was not found this time "
                            "(moved, deleted or every file rejected); its stored rows are kept") in out, out
    assert _rows(wh) == before
