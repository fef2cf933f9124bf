"""`proftriage serve`: accept commands on a Unix socket and run each in a fork of this warm process.

The parent only accepts, checks and forks: it never opens a DuckDB database or runs Arrow compute
(`warm.py`). Each worker (`worker.py`) is a child that takes the client's stdin/stdout/stderr,
working directory and environment, runs the command as a fresh process would, and reports its status.
"""

from __future__ import annotations

import errno
import gc
import os
import signal
import socket
import stat
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.paths import REPO_ROOT
from pipeline.serve import protocol
from pipeline.serve.warm import warm

ACCEPT_POLL_S = 0.5
REQUEST_TIMEOUT_S = 5.0  # a client that connects and says nothing does not hold the server


class ServerRunning(Exception):
    """Another server already answers on the socket (or something else holds its path)."""


@dataclass
class Server:
    """The listening socket, the code stamp it serves, and its running workers."""

    path: Path
    idle_s: float
    listener: socket.socket
    stamp: str = ""
    workers: set[int] = field(default_factory=set)
    stopping: bool = False
    last_activity: float = field(default_factory=time.monotonic)

    def log(self, text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)


def alive(path: Path) -> bool:
    """Whether a process answers on the socket `path`."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def bind(path: Path) -> socket.socket:
    """Listen on `path` (mode 0600); a socket file nobody answers on is replaced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        if alive(path):
            raise ServerRunning(f"a proftriage server already answers on {path}")
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise ServerRunning(f"{path} exists and is not a socket: move it away to serve")
        path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o077)
    try:
        listener.bind(str(path))
    finally:
        os.umask(old)
    listener.listen(16)
    listener.settimeout(ACCEPT_POLL_S)
    return listener


def _reap(server: Server) -> None:
    for pid in list(server.workers):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            server.workers.discard(pid)
            server.last_activity = time.monotonic()


def _refuse(conn: socket.socket, fds: list[int], reply: dict) -> None:
    for fd in fds:
        os.close(fd)
    try:
        protocol.send(conn, reply)
    except OSError:
        pass


def _handle(server: Server, conn: socket.socket) -> None:
    """Read one request; answer stop/stale requests here, fork a worker for a command."""
    conn.settimeout(REQUEST_TIMEOUT_S)
    uid = protocol.peer_uid(conn)
    if uid is not None and uid != os.getuid():
        server.log(f"refused a client of uid {uid}")
        return
    try:
        request, fds = protocol.recv(conn, max_fds=3)
    except (OSError, protocol.ProtocolError) as exc:
        server.log(f"dropped a request: {exc}")
        return
    if request is None:
        return
    if request.get("stop"):
        server.stopping = True
        _refuse(conn, fds, {"stopped": os.getpid()})
        return
    if request.get("stamp") != server.stamp:
        if protocol.code_stamp(REPO_ROOT) != server.stamp:
            server.stopping = True  # its own code changed since it started: it is of no more use
            server.log("code changed since start: stopping (the client runs its command itself)")
            _refuse(conn, fds, {"stale": "the server runs older code than the client"})
        else:  # a client of another checkout or environment sharing this state dir
            _refuse(conn, fds, {"refused": "the server runs other code than the client (another checkout or "
                                           "environment)"})
        return
    if len(fds) != 3 or not isinstance(request.get("argv"), list):
        _refuse(conn, fds, {"refused": "a command needs argv and the client's stdin, stdout and stderr"})
        return
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        protocol.send(conn, {"started": True})
        pid = os.fork()
    except OSError as exc:
        _refuse(conn, fds, {"refused": f"the server could not start the command ({exc})"})
        return
    if pid == 0:
        from pipeline.serve.worker import run_worker

        server.listener.close()
        run_worker(conn, request, fds)  # never returns
    for fd in fds:
        os.close(fd)
    server.workers.add(pid)
    server.log(f"worker {pid}: proftriage {' '.join(map(str, request['argv']))[:200]}")


def _on_signal(server: Server):
    def handler(signum: int, frame: object) -> None:
        server.stopping = True
    return handler


def serve(state_dir: Path, idle_s: float) -> int:
    """Serve until stopped (`--stop`, SIGTERM, Ctrl-C), idle for `idle_s` seconds, or the code changes."""
    path = protocol.socket_path(state_dir)
    listener = bind(path)
    inode = os.stat(path).st_ino
    server = Server(path, idle_s, listener)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _on_signal(server))
    try:
        seconds = warm()
        server.stamp = protocol.code_stamp(REPO_ROOT)
        server.log(f"proftriage server {os.getpid()} on {path} (warmed in {seconds:.2f} s; "
                   f"stops after {idle_s:.0f} s idle or `proftriage serve --stop`)")
        while not server.stopping:
            _reap(server)
            if not server.workers and time.monotonic() - server.last_activity > idle_s:
                server.log(f"idle for {idle_s:.0f} s: stopping")
                break
            try:
                conn, _ = listener.accept()
            except (socket.timeout, InterruptedError):
                continue
            except OSError as exc:
                if exc.errno in (errno.EINTR, errno.ECONNABORTED):
                    continue
                raise
            server.last_activity = time.monotonic()
            with conn:
                _handle(server, conn)
    finally:
        listener.close()
        try:
            if os.stat(path).st_ino == inode:
                path.unlink()  # only our own socket: a successor may have bound the path already
        except FileNotFoundError:
            pass
        gc.unfreeze()
    server.log(f"stopped ({len(server.workers)} command(s) still finishing on their own)")
    return 0


def stop(state_dir: Path, timeout_s: float = 10.0) -> str | None:
    """Ask the server of `state_dir` to stop; its pid, or None when none answers."""
    path = protocol.socket_path(state_dir)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout_s)
            sock.connect(str(path))
            protocol.send(sock, {"stop": True})
            reply, _ = protocol.recv(sock)
    except (OSError, protocol.ProtocolError):
        return None
    if reply is None or "stopped" not in reply:
        return None
    deadline = time.monotonic() + timeout_s
    while (path.exists() or path.is_symlink()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return str(reply["stopped"])
