"""The warm server (`proftriage serve`, docs/serve.md), in real processes: a served command prints,
exits and is interrupted exactly as one run in its own process; a stale, dead or absent server never
loses a command; the server stops when told, when idle, and when its code changes."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipeline.paths import REPO_ROOT
from pipeline.serve import protocol
from pipeline.serve.client import run_served
from pipeline.serve.server import alive
from tests.conftest import TRACES, big_ingest_root

SMALL = TRACES / "sglang/qwen3-8b-mi300x-decode-graph-bs32/sglang_Qwen3-8B_decode.json.gz"
PIECEWISE = TRACES / "vllm/gpt-oss-20b-mi300x-mixed-piecewisegraph/graph_execution.json.gz"


def _env(state: Path, **extra: str) -> dict[str, str]:
    return dict(os.environ, PROFTRIAGE_STATE_DIR=str(state), **extra)


def _start(args: list[str], state: Path, **extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline.launch", *args], cwd=REPO_ROOT, env=_env(state, **extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _run(args: list[str], state: Path, **extra: str) -> tuple[int, str, str]:
    proc = _start(args, state, **extra)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out.decode(), err.decode()


class Served:
    """A `proftriage serve` process of a state dir, its output in `<tmp>/serve.out` (`code`: the checkout
    whose `pipeline` it imports)."""

    def __init__(self, tmp: Path, idle_s: float = 300, code: Path = REPO_ROOT) -> None:
        self.state = tmp / "state"
        self.log = tmp / "serve.out"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "pipeline.launch", "serve", "--idle-timeout",
                                          str(idle_s)], cwd=code, env=_env(self.state),
                                         stdout=out, stderr=subprocess.STDOUT)
        self.socket = protocol.socket_path(self.state)
        deadline = time.monotonic() + 120
        while not alive(self.socket):
            assert self.proc.poll() is None and time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.05)

    def workers(self) -> int:
        return self.log.read_text().count(" worker ")

    def served_since(self, before: int) -> int:
        """Commands started since `before`: the server logs each right after its fork, which a fast command
        can outrun, so this waits a little for the line."""
        deadline = time.monotonic() + 10
        while self.workers() == before and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.workers() - before

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)


@pytest.fixture
def served(tmp_path: Path):
    server = Served(tmp_path)
    yield server
    server.close()


def test_a_served_command_prints_and_exits_as_a_local_one(served: Served) -> None:
    cases = (["triage", "--input", str(PIECEWISE), "--format", "json", "-q"],
             ["triage", "--input", str(SMALL), "-q"],
             ["triage", "--input", str(SMALL.parent / "missing.json.gz")],  # exit 2, one error line
             ["triage", "--no-such-option"])  # argparse: usage on stderr, exit 2
    for args in cases:
        before = served.workers()
        here = _run(args, served.state, PROFTRIAGE_SERVER="off")
        there = _run(args, served.state)
        assert served.served_since(before) == 1, (args, served.log.read_text())
        assert there == here, args
    assert here[0] == 2 and "unrecognized arguments" in here[2]


def test_the_off_switch_runs_here(served: Served) -> None:
    status, out, _ = _run(["triage", "--input", str(SMALL), "--format", "json", "-q"], served.state,
                          PROFTRIAGE_SERVER="off")
    assert status == 0 and out.startswith("{") and served.workers() == 0


def test_ctrl_c_and_sigterm_reach_the_served_command(served: Served, tmp_path: Path) -> None:
    root = big_ingest_root(tmp_path)
    for sig, status, word in ((signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")):
        proc = _start(["ingest", str(root), "--warehouse", str(tmp_path / "w.duckdb")], served.state)
        spool = served.state / "spool"
        while proc.poll() is None and not list(spool.glob("run-*/*")):  # the worker's own spool holds a batch
            time.sleep(0.01)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == status, err
        assert f"proftriage: {word}; " in err.decode()
        assert list(spool.iterdir()) == []  # the worker removed its spool, as a local run does
    assert alive(served.socket)  # the server itself goes on


def test_closed_output_ends_a_served_command_with_141(served: Served) -> None:
    proc = _start(["triage", "--input", str(SMALL), "-q"], served.state)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 141 and err == "", err
    proc.stderr.close()


def test_a_worker_killed_without_a_status_is_an_error_not_a_rerun(served: Served, tmp_path: Path) -> None:
    root = big_ingest_root(tmp_path)
    proc = _start(["ingest", str(root), "--warehouse", str(tmp_path / "w.duckdb")], served.state)
    while proc.poll() is None and " worker " not in served.log.read_text():
        time.sleep(0.01)
    pid = int(served.log.read_text().split(" worker ")[1].split(":")[0])
    os.kill(pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "ended without a status" in err.decode()
    assert served.workers() == 1  # not started a second time


def test_a_file_where_the_socket_goes_is_not_replaced(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    protocol.socket_path(state).write_text("not mine to delete")
    status, _, err = _run(["serve", "--idle-timeout", "5"], state)
    assert status == 1 and "exists and is not a socket" in err
    assert protocol.socket_path(state).read_text() == "not mine to delete"


def test_a_second_server_and_stop(served: Served) -> None:
    status, _, err = _run(["serve"], served.state)
    assert status == 1 and "already answers" in err
    status, out, _ = _run(["serve", "--stop"], served.state)
    assert status == 0 and str(served.proc.pid) in out
    assert served.proc.wait(timeout=60) == 0 and not served.socket.exists()
    status, _, err = _run(["serve", "--stop"], served.state)
    assert status == 1 and "no proftriage server answers" in err


def test_a_client_of_other_code_is_refused_and_the_server_goes_on(served: Served) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(served.socket))
        protocol.send(sock, {"argv": ["--version"], "stamp": "another checkout"}, fds=[0, 1, 2])
        reply, _ = protocol.recv(sock)
    assert "another checkout or environment" in reply["refused"]
    assert served.workers() == 0 and alive(served.socket)


def test_a_server_whose_code_changed_steps_aside(tmp_path: Path) -> None:
    """A server of a copy of the code; the copy is edited; its next client runs the command itself."""
    copy = tmp_path / "copy"
    for top in ("pipeline", "sql", "templates"):
        shutil.copytree(REPO_ROOT / top, copy / top, ignore=shutil.ignore_patterns("__pycache__"))
    server = Served(tmp_path, code=copy)
    try:
        version = [sys.executable, "-m", "pipeline.launch", "--version"]
        first = subprocess.run(version, cwd=copy, env=_env(server.state), capture_output=True, text=True,
                               timeout=120)
        assert first.returncode == 0 and first.stderr == "", first.stderr
        (copy / "sql" / "edited.sql").write_text("-- an edit\n")
        second = subprocess.run(version, cwd=copy, env=_env(server.state), capture_output=True, text=True,
                                timeout=120)
        assert second.returncode == 0 and second.stdout == first.stdout
        assert "note: the server runs older code than the client; running here" in second.stderr
        assert server.proc.wait(timeout=60) == 0 and server.workers() == 1
    finally:
        server.close()


def _ask_fake_server(state: Path, answer) -> int | None:
    """`run_served(["--version"])` against a one-shot server in this process that handles the connection
    with `answer(conn)`."""
    state.mkdir()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(protocol.socket_path(state)))
    listener.listen(1)

    def serve_once() -> None:
        conn, _ = listener.accept()
        with conn:
            answer(conn)

    thread = threading.Thread(target=serve_once, daemon=True)
    thread.start()
    try:
        return run_served(["--version"], state, REPO_ROOT)
    finally:
        thread.join(timeout=10)
        listener.close()


def test_the_client_runs_here_when_the_server_is_stale(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    def answer_stale(conn: socket.socket) -> None:
        request, fds = protocol.recv(conn, max_fds=3)
        for fd in fds:
            os.close(fd)
        protocol.send(conn, {"stale": f"fake server, asked for {request['argv']}"})

    assert _ask_fake_server(tmp_path / "state-stale", answer_stale) is None  # the caller runs the command itself
    assert "note: fake server, asked for ['--version']; running here" in capsys.readouterr().err


def test_a_server_that_hangs_up_before_starting_lets_the_client_run_it(tmp_path: Path) -> None:
    assert _ask_fake_server(tmp_path / "state-hang-up", lambda conn: None) is None


def test_no_server_or_a_dead_socket_runs_here(tmp_path: Path) -> None:
    state = tmp_path / "state"
    args = ["triage", "--input", str(SMALL), "--format", "json", "-q"]
    status, out, err = _run(args, state)
    assert status == 0 and out.startswith("{"), err
    state.mkdir(exist_ok=True)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(protocol.socket_path(state)))  # a socket file nobody listens on (a server killed -9)
    dead.close()
    assert _run(args, state) == (status, out, err)


def test_an_idle_server_stops_and_removes_its_socket(tmp_path: Path) -> None:
    server = Served(tmp_path, idle_s=1)
    try:
        assert server.proc.wait(timeout=60) == 0
        assert not server.socket.exists() and "idle for 1 s: stopping" in server.log.read_text()
    finally:
        server.close()


def test_detach_starts_a_background_server(tmp_path: Path) -> None:
    state = tmp_path / "state"
    status, out, err = _run(["serve", "--detach", "--idle-timeout", "120"], state)
    try:
        assert status == 0 and "serve --stop" in out, err
        assert _run(["--version"], state)[0] == 0
        deadline = time.monotonic() + 10
        while " worker " not in (state / "serve.log").read_text() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert " worker " in (state / "serve.log").read_text()
    finally:
        assert _run(["serve", "--stop"], state)[0] == 0


def test_a_long_state_path_gets_a_short_socket(tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 120)
    path = protocol.socket_path(deep)
    assert len(os.fsencode(path)) <= 100 and path == protocol.socket_path(deep)
    assert protocol.socket_path(tmp_path) == tmp_path / "serve.sock"


def test_a_served_command_writes_where_and_as_the_client_would(served: Served, tmp_path: Path) -> None:
    """Relative paths resolve in the client's directory; files get the client's umask."""
    modes = {}
    for how, extra in (("here", {"PROFTRIAGE_SERVER": "off"}), ("served", {})):
        work = tmp_path / how
        work.mkdir()
        before = served.workers()
        proc = subprocess.run([sys.executable, "-m", "pipeline.launch", "triage", "--input", str(SMALL),
                               "--output-dir", "out", "-q"], cwd=work, env=_env(served.state, PYTHONPATH=str(REPO_ROOT),
                                                                                **extra),
                              capture_output=True, text=True, umask=0o027, timeout=300)
        assert proc.returncode == 0 and proc.stdout == f"wrote {Path('out') / 'triage.md'}\n", proc.stderr
        assert (served.served_since(before) if how == "served" else served.workers() - before) == (how == "served")
        modes[how] = (work / "out" / "triage.md").stat().st_mode & 0o777
    assert modes == {"here": 0o640, "served": 0o640}



def test_a_thread_running_after_warm_up_stops_the_server_before_it_forks() -> None:
    code = ("import threading, time\n"
            "threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
            "from pipeline.serve.warm import UnsafeToFork, warm\n"
            "try:\n    warm()\nexcept UnsafeToFork as exc:\n    print(exc)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.stdout.startswith("threads running after warm-up would not survive a fork: python"), proc.stderr


def test_a_broken_request_is_dropped_and_its_descriptors_closed(served: Served) -> None:
    pid = served.proc.pid
    before = len(os.listdir(f"/proc/{pid}/fd"))
    for body in (b"not json", b"[1, 2]"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(str(served.socket))
            socket.send_fds(sock, [len(body).to_bytes(4, "big") + body], [0, 1, 2])
            assert sock.recv(1) == b""  # dropped without an answer
    deadline = time.monotonic() + 10
    while "dropped a request" not in served.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert served.log.read_text().count("dropped a request") == 2
    assert len(os.listdir(f"/proc/{pid}/fd")) == before and alive(served.socket)
