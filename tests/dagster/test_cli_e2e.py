"""The real entry points in subprocesses: `proftriage register` + `dagster asset materialize`,
two materialisations at once on one warehouse, and a launch through the webserver's GraphQL API.
Each test is bounded and kills every process it starts."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

from pipeline.paths import EXAMPLES_DIR, REPO_ROOT
from tests.dagster.conftest import (
    PER_ROOT, SGLANG_BUNDLE, SGLANG_ROOTS, SMALL_ROOT, bin_path, materialize_cmd, run_cli, subprocess_env,
)

pytestmark = pytest.mark.slow


def _ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, f"{' '.join(proc.args)} → {proc.returncode}\n{proc.stdout[-4000:]}"
    assert "RUN_FAILURE" not in proc.stdout
    return proc.stdout


def _register() -> str:
    return _ok(run_cli([sys.executable, "-m", "assets.cli", "register", "--data-root", str(EXAMPLES_DIR)], timeout=60))


def _kernel_counts(warehouse: Path) -> dict[str, tuple[int, int, int]]:
    """root → (kernels rows, parser's count, kernel_facts kernel rows)."""
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        rows = conn.execute(
            "SELECT tf.root, (SELECT count(*) FROM kernels k WHERE k.file_id = tf.file_id), tf.kernels, "
            "(SELECT count(*) FROM kernel_facts f WHERE f.file_id = tf.file_id AND f.kind = 'kernel') "
            "FROM trace_files tf").fetchall()
    return {root: (a, b, c) for root, a, b, c in rows}


def test_register_then_materialize_roots_and_bundles(dagster_env) -> None:
    out = _register()
    assert f"trace_roots: added {SMALL_ROOT}" in out and f"bundles: added {SGLANG_BUNDLE}" in out
    assert "0 root and 0 bundle partitions added" in _register()
    for key in SGLANG_ROOTS:  # one command per partition of the trace_roots definition
        _ok(run_cli(materialize_cmd(PER_ROOT, key)))
    _ok(run_cli(materialize_cmd("bundle", SGLANG_BUNDLE)))  # the bundles definition: a separate command
    _ok(run_cli(materialize_cmd("bundle_index")))
    assert (dagster_env["bundles"] / "Qwen3-8B" / "sglang.md").stat().st_size > 0
    assert "Qwen3-8B" in (dagster_env["bundles"] / "index.md").read_text()
    for key in SGLANG_ROOTS:
        assert (dagster_env["state"] / "reports" / f"{key}.json").is_file()


def test_two_materialisations_at_once_lose_and_double_nothing(dagster_env) -> None:
    _register()
    keys = [SGLANG_ROOTS[0], SGLANG_ROOTS[1], SGLANG_ROOTS[0]]  # the same root twice, plus another
    procs = [subprocess.Popen(materialize_cmd(PER_ROOT, k), cwd=REPO_ROOT, env=subprocess_env(), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True) for k in keys]
    try:
        outs = [p.communicate(timeout=150)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    for p, out in zip(procs, outs):
        assert p.returncode == 0 and "RUN_SUCCESS" in out, out[-3000:]
    counts = _kernel_counts(dagster_env["warehouse"])
    assert set(counts) == set(SGLANG_ROOTS)
    for root, (rows, parsed, facts) in counts.items():
        assert rows == parsed == facts > 0, (root, rows, parsed, facts)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str, variables: dict) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", method="POST",
                                 data=json.dumps({"query": query, "variables": variables}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        body = json.loads(resp.read())
    assert "errors" not in body, body
    return body["data"]


LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message stack }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""
STATUS = "query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status } } }"


def _wait_ready(port: int, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "dagster-webserver exited early"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("dagster-webserver not ready in time")


def test_webserver_launches_a_partitioned_run(dagster_env) -> None:
    """The webserver alone runs no daemon, so queued runs never start: this instance uses the
    DefaultRunCoordinator, and the DefaultRunLauncher starts the run in a subprocess at once."""
    (dagster_env["home"] / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\nconcurrency:\n  pools:\n    default_limit: 1\n"
        "run_coordinator:\n  module: dagster._core.run_coordinator\n  class: DefaultRunCoordinator\n")
    _register()
    port = _free_port()
    cmd = [bin_path("dagster-webserver"), "-m", "assets.definitions", "-h", "127.0.0.1", "-p", str(port)]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=subprocess_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_ready(port, proc)
        params = {
            "selector": {"repositoryLocationName": "assets.definitions", "repositoryName": "__repository__",
                         "pipelineName": "__ASSET_JOB",
                         "assetSelection": [{"path": [k]} for k in PER_ROOT.split(",")]},
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": SMALL_ROOT}]},
        }
        launched = _graphql(port, LAUNCH, {"params": params})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]
        deadline, status = time.monotonic() + 120, None
        while time.monotonic() < deadline:
            status = _graphql(port, STATUS, {"id": run_id})["runOrError"]["status"]
            if status in ("SUCCESS", "FAILURE", "CANCELED"):
                break
            time.sleep(1)
        assert status == "SUCCESS"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    assert _kernel_counts(dagster_env["warehouse"])[SMALL_ROOT][0] == 555
