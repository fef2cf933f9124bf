"""A new user's bad input (issue 22 item 2): each gets a message naming the path and the problem and a
non-zero exit; the CLI's own rough edges (--version, --cutoff range, progress on stderr)."""

from __future__ import annotations

import gzip
import io
import time
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.progress import Heartbeat
from tests.conftest import TRACES

GRAPH = TRACES / "sglang/qwen3-8b-mi300x-decode-graph-bs32"


def _run(capsys, argv: list[str]) -> tuple[int, str, str]:
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize("name, content, problem", [
    ("plain.txt", b"hello, not a trace\n", "not a trace"),
    ("bad.json", b'{"traceEvents": [{"ph": "X", ', "JSON ends early"),
    ("garbage.json.gz", gzip.compress(b"\x00\x01 not json at all"), "not a trace"),
])
def test_triage_of_a_file_that_is_not_a_trace_fails_naming_it(tmp_path: Path, capsys, name: str, content: bytes,
                                                                problem: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    rc, out, err = _run(capsys, ["triage", "--input", str(path), "-q"])
    assert rc == 1 and out == ""
    assert str(path) in err and problem in err


def test_triage_and_ingest_of_an_empty_folder_fail_naming_it(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for argv in (["triage", "--input", str(empty), "-q"], ["ingest", str(empty), "--warehouse", str(tmp_path / "w"), "-q"]):
        rc, _, err = _run(capsys, argv)
        assert rc == 2 and str(empty) in err


def test_inspect_of_a_directory_says_it_is_one(tmp_path: Path, capsys) -> None:
    rc, out, err = _run(capsys, ["inspect", str(GRAPH)])
    assert rc == 2 and out == "" and f"{GRAPH}: is a directory" in err


@pytest.mark.parametrize("value", ["-1", "100.5", "1e3"])
def test_cutoff_outside_0_to_100_is_an_error(capsys, value: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["triage", "--input", str(GRAPH), "--cutoff", value])
    assert exit_.value.code == 2 and "not a percentage from 0 to 100" in capsys.readouterr().err


def test_negative_table_limit_is_an_error(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["triage", "--input", str(GRAPH), "--kernel-table-limit", "-1"])
    assert exit_.value.code == 2 and "is negative" in capsys.readouterr().err


def test_version(capsys) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"proftriage {version('proftriage')}"


def test_heartbeat_is_silent_for_short_work_and_names_the_phase_of_long_work() -> None:
    quick, slow = io.StringIO(), io.StringIO()
    with Heartbeat(stream=quick, after=0.5) as beat:
        beat.phase("reading x")
    with Heartbeat(stream=slow, after=0.05, every=0.05) as beat:
        beat.phase("analysing x")
        time.sleep(0.3)
    assert quick.getvalue() == ""
    assert slow.getvalue().startswith("proftriage: analysing x (") and slow.getvalue().count("\n") >= 2
