"""Costs that stay linear, absurd sizes refused with a message, paths that stay in their folder,
spools that never outlive their run, a full disk reported as such (docs/guarantees.md).

Linearity is shown by counts (statements, bytes searched), never by time: the timings are in
benchmarks/robustness.py."""

from __future__ import annotations

import errno
import gzip
import shutil
from pathlib import Path

import duckdb
import orjson
import pyarrow.parquet as pq
import pytest

import pipeline.ingest as ingest_mod
from pipeline.cli import main
from pipeline.discover import resolve_inputs, sanitize_key
from pipeline.discover.sniffing import _object_keys
from pipeline.ingest import parse_root
from pipeline.ingest import reader
from pipeline.ingest.load import load_root
from pipeline.ingest.parse import parse_file
from pipeline.ingest.spool import private_spool
from pipeline.paths import UnsafePath, safe_join
from pipeline.store import Warehouse
from tracegen.minimal import KERNEL, write_tiny_root
from tests.conftest import TRACES

SMALL = TRACES / "sglang/qwen3-8b-mi300x-decode-graph-bs32/sglang_Qwen3-8B_decode.json.gz"


class _Counting:
    """A DuckDB connection that counts the statements run through it."""

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self.conn, self.statements = conn, 0

    def execute(self, *args, **kwargs):
        self.statements += 1
        return self.conn.execute(*args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self.conn, name)


def _tiny_root(tmp_path: Path, files: int) -> Path:
    return write_tiny_root(tmp_path / f"data{files}" / "many", files)


def test_loading_a_root_costs_the_same_statements_for_10_or_400_files(tmp_path: Path) -> None:
    counts = {}
    for files in (10, 400):
        [root] = resolve_inputs([_tiny_root(tmp_path, files)])
        parsed = parse_root(root, tmp_path / f"spool{files}")
        with Warehouse(None).connect() as conn:
            counting = _Counting(conn)
            summary = load_root(counting, root, parsed)
            assert conn.execute("SELECT count(*) FROM kernels").fetchone()[0] == 3 * files
        assert summary.ok == files
        counts[files] = counting.statements
    assert counts[400] == counts[10], counts  # one INSERT per table, whatever the file count


def test_the_header_scan_searches_each_byte_once(tmp_path: Path, monkeypatch) -> None:
    size = 4 << 20
    path = tmp_path / "h.json"
    path.write_bytes(b'{"big": "' + b"x" * size + b'", "traceEvents": ' + orjson.dumps([KERNEL]) + b"}")
    monkeypatch.setattr(reader, "READ_BYTES", 16 << 10)  # 256 reads of the header
    searched, real = [], reader._find_key
    monkeypatch.setattr(reader, "_find_key",
                        lambda buf, start: searched.append(len(buf) - max(0, start - len(reader._KEY))) or real(buf, start))
    parsed = parse_file(path, 1, tmp_path / "spool", in_memory=True)
    assert parsed.status == "ok" and parsed.header["big"] == "x" * size
    assert len(searched) > 200
    assert sum(searched) < size + 20 * len(searched)  # each byte once (+ the key's length per read)


def test_a_header_over_the_cap_is_refused_with_a_message(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(reader, "MAX_HEADER_BYTES", 1 << 20)
    path = tmp_path / "h.json.gz"
    path.write_bytes(gzip.compress(b'{"big": "' + b"x" * (2 << 20) + b'", "traceEvents": []}'))
    parsed = parse_file(path, 1, tmp_path / "spool")
    assert parsed.status == "error"
    assert parsed.error == (f"{path}: no traceEvents array in the first 1 MiB "
                            "(a header that large is not a Kineto trace's)")


def test_an_event_over_the_cap_is_refused_naming_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(reader, "CHUNK_BYTES", 256 << 10)
    monkeypatch.setattr(reader, "MAX_EVENT_BYTES", 1 << 20)
    events = [dict(KERNEL, ts=float(i)) for i in range(2000)]
    events.insert(1000, dict(KERNEL, name="void gemm_" + "a" * (2 << 20)))
    path = tmp_path / "e.json"
    path.write_bytes(orjson.dumps({"traceEvents": events}))
    parsed = parse_file(path, 1, tmp_path / "spool", workers=1)
    assert parsed.status == "error"
    assert f"{path}: event 'void gemm_aaaa" in parsed.error and "is larger than 1 MiB" in parsed.error


def test_discovery_stops_at_a_string_cut_by_the_sniffed_text() -> None:
    text = '{"schemaVersion": 1, "deviceProperties": [], "big": "' + '\\"' * 30000
    keys, _ = _object_keys(text)
    assert keys == {"schemaVersion", "deviceProperties", "big"}


def test_a_full_disk_is_reported_as_such(tmp_path: Path, monkeypatch) -> None:
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq, "write_table", full)  # the spool imports pyarrow.parquet when it first writes
    parsed = parse_file(SMALL, 1, tmp_path / "spool")  # not in memory: written to the spool
    assert parsed.status == "error"
    assert parsed.error == f"{SMALL}: no space left on device while writing {tmp_path / 'spool' / '1'}"


def test_a_full_disk_under_the_warehouse_ends_ingest_with_exit_2(tmp_path: Path, monkeypatch, capsys) -> None:
    def full(*args, **kwargs):
        raise duckdb.IOException('IO Error: Could not write all bytes to file "w.duckdb.wal": No space left on device')

    monkeypatch.setattr(ingest_mod, "load_root", full)
    assert main(["ingest", str(SMALL.parent), "--warehouse", str(tmp_path / "w.duckdb"), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: no space left on device while writing {tmp_path / 'w.duckdb'}; ")
    assert "qwen3-8b-mi300x-decode-graph-bs32 was not stored" in err


def test_keys_never_climb_out_of_their_folder(tmp_path: Path) -> None:
    assert sanitize_key("../../etc/x") == "_/_/etc/x"
    assert sanitize_key("/abs//a/./b") == "abs/a/b"
    assert sanitize_key("..") == "_" and sanitize_key("") == "_"
    root = tmp_path / "root"
    (root / "x").mkdir(parents=True)
    shutil.copy(SMALL, root / "f.json.gz")
    [via_dots] = resolve_inputs([root / "x" / ".." / "f.json.gz"])
    [direct] = resolve_inputs([root / "f.json.gz"])
    assert via_dots.key == direct.key == "root/f.json.gz"


@pytest.mark.parametrize("part", ["../x.json", "/etc/x.json", "a/../../x.json", ".", "a/.."])
def test_safe_join_refuses_paths_that_leave_the_folder(tmp_path: Path, part: str) -> None:
    with pytest.raises(UnsafePath, match="does not stay inside"):
        safe_join(tmp_path / "reports", part)
    assert safe_join(tmp_path / "reports", "a/b.json") == tmp_path / "reports" / "a" / "b.json"


def test_the_dagster_report_path_refuses_a_climbing_key(tmp_path: Path) -> None:
    from assets.reports import report_path

    assert report_path(tmp_path, "sglang/run1") == tmp_path / "sglang" / "run1.json"
    with pytest.raises(UnsafePath):
        report_path(tmp_path, "../../outside")


def test_a_spool_is_private_and_orphans_are_swept(tmp_path: Path) -> None:
    base = tmp_path / "spool"
    base.mkdir()
    (base / "run-1-dead").mkdir()  # left by a killed run: its lock file is held by nobody
    (base / "run-1-dead" / "x.parquet").write_bytes(b"x")
    (base / "run-1-dead.lock").write_bytes(b"")
    with private_spool(base) as live:
        assert sorted(p.name for p in base.iterdir()) == sorted([live.name, f"{live.name}.lock"])
        (live / "part").write_bytes(b"y")
        with private_spool(base) as other:  # a second run beside it: its own folder, the live one kept
            assert other != live and (live / "part").exists()
    assert list(base.iterdir()) == []
