"""Fixtures for the Dagster layer: every test gets its own DAGSTER_HOME (telemetry off), state
directory and warehouse; the data root is the demo corpus."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.paths import EXAMPLES_DIR, REPO_ROOT

SMALL_ROOT = "sglang/qwen3-8b-mi300x-decode-graph-bs32"  # 44 KiB, graph replays
SGLANG_ROOTS = ["sglang/qwen3-8b-mi300x-decode-graph-bs32", "sglang/qwen3-8b-mi300x-extend-eager-bs15"]
SGLANG_BUNDLE = "sglang/Qwen3-8B"


@pytest.fixture(autouse=True)
def _no_defs_state_storage(monkeypatch: pytest.MonkeyPatch) -> None:
    """proftriage's definitions keep no state in Dagster's defs-state storage. Dagster 1.13 still
    looks it up when it loads definitions (`DefinitionsLoadContext`), through a context variable that,
    after other tests' instances were collected, can point at a storage whose instance is gone: the
    load then fails ("undefined DagsterInstance weakref"), depending on garbage-collection timing.
    The tests load without one, as our code location does."""
    from dagster._core.storage.defs_state.base import DefsStateStorage

    monkeypatch.setattr(DefsStateStorage, "get", classmethod(lambda cls: None))


@pytest.fixture(autouse=True)
def dagster_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Isolated DAGSTER_HOME (the repo's dagster.instance.yaml template: telemetry off) and state dir."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO_ROOT / "dagster.instance.yaml", home / "dagster.yaml")
    state = tmp_path / "state"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_DISABLE_TELEMETRY", "yes")
    monkeypatch.setenv("PROFTRIAGE_STATE_DIR", str(state))
    monkeypatch.setenv("PROFTRIAGE_DATA_ROOT", str(EXAMPLES_DIR))
    for var in ("PROFTRIAGE_WAREHOUSE", "PROFTRIAGE_BUNDLES_DIR", "PROFTRIAGE_MATRIX",
                "PROFTRIAGE_ATTRIBUTION_FLOOR", "PROFTRIAGE_ALIGNMENT_FLOOR"):
        monkeypatch.delenv(var, raising=False)
    return {"home": home, "state": state, "warehouse": state / "warehouse.duckdb", "bundles": state / "bundles"}


def subprocess_env() -> dict[str, str]:
    """The current environment with the repo importable (no editable install needed)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def bin_path(name: str) -> str:
    """A console script of the running venv (`dagster`, `dagster-webserver`)."""
    return str(Path(sys.executable).with_name(name))


def run_cli(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a command from the repo root, bounded; kill its whole process group on timeout."""
    proc = subprocess.Popen(args, cwd=REPO_ROOT, env=subprocess_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise AssertionError(f"timed out after {timeout} s: {' '.join(args)}\n{out[-4000:]}")
    return subprocess.CompletedProcess(args, proc.returncode, out, None)


def materialize_cmd(select: str, partition: str | None = None) -> list[str]:
    cmd = [bin_path("dagster"), "asset", "materialize", "-m", "assets.definitions", "--select", select]
    return cmd + (["--partition", partition] if partition else [])


PER_ROOT = "raw_trace_files,kernel_facts,triage_report"
