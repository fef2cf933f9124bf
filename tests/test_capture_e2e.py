"""capture → ingest → triage through the real CLI (`python -m pipeline.cli`), on a fake server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.capture import CaptureConfig, run_capture
from tests.fakeservers import SGLangServer
from tests.test_capture_servers import FAST

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def cli_present() -> None:
    if not (REPO / "pipeline" / "cli.py").is_file():
        pytest.skip("pipeline/cli.py not there yet")


def test_cli_wires_capture_commands(cli_present: None) -> None:
    for cmd in ("capture", "probe", "trtllm-with-stack"):
        res = _cli(cmd, "--help", timeout=60)
        assert res.returncode == 0, res.stderr
        assert "--" in res.stdout


def test_capture_ingest_triage(cli_present: None, tmp_path: Path) -> None:
    data = tmp_path / "data"
    with SGLangServer() as srv:
        res = _cli("capture", "--framework", "sglang", "--url", srv.url, "--output-dir",
                   str(data / "run"), "--stages", "decode", "--warmup", "1", "--num-steps", "2",
                   "--decode-output-len", "8", "--wait-timeout", "3")
    assert res.returncode == 0, res.stderr
    root = Path(res.stdout.strip().splitlines()[-1])
    assert root == data / "run" / "decode" and (root / "capture.json").is_file()

    res = _cli("ingest", str(data), "--warehouse", str(tmp_path / "w.duckdb"))
    assert res.returncode == 0, res.stderr
    assert "1/1 files loaded" in res.stdout and "kernels" in res.stdout

    res = _cli("triage", "--input", str(root), "--format", "json")
    if res.returncode and ("ImportError" in res.stderr or "ModuleNotFoundError" in res.stderr):
        pytest.skip("triage engine incomplete: " + res.stderr.strip().splitlines()[-1])
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report and "decode" in res.stdout


def test_capture_api_then_ingest(cli_present: None, tmp_path: Path) -> None:
    with SGLangServer(ranks=2) as srv:
        roots = run_capture(CaptureConfig(framework="sglang", output_dir=tmp_path / "d",
                                          url=srv.url, stages=("prefill",), **FAST))
    res = _cli("ingest", str(roots[0]), "--warehouse", str(tmp_path / "w.duckdb"))
    assert res.returncode == 0, res.stderr
    assert "2/2 files loaded" in res.stdout
