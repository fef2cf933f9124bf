"""The client side: hand a command to the warm server of this state directory, if one answers.

Standard-library imports only. Returns None whenever the command should run in this process
instead: no server, a socket nobody answers on, a server running older code, a refused request.
Once the server has started the command, its status is the client's; it is never run twice.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from pathlib import Path

from pipeline.serve import protocol

LOST = "error: the proftriage server's worker ended without a status (see the server's output)"


def _stdio_ok() -> bool:
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            return False
    return True


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _connect(path: Path) -> socket.socket | None:
    if not path.exists():
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        return None
    return sock


def _forwarding(sock: socket.socket, received: list[int]):
    def handler(signum: int, frame: object) -> None:
        received.append(signum)
        try:
            protocol.send(sock, {"signal": signum})
        except OSError:
            pass
    return handler


def run_served(argv: list[str], state_dir: Path, repo_root: Path) -> int | None:
    """The command's exit status from the server, or None to run it here."""
    if not _stdio_ok():
        return None
    sock = _connect(protocol.socket_path(state_dir))
    if sock is None:
        return None
    with sock:
        request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "umask": _umask(),
                   "stamp": protocol.code_stamp(repo_root), "encoding": getattr(sys.stdout, "encoding", None)}
        received: list[int] = []
        previous = {sig: signal.signal(sig, _forwarding(sock, received))
                    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            protocol.send(sock, request, fds=[0, 1, 2])
            started, reply = _replies(sock)
        except OSError:  # the server went away while it was being asked
            started, reply = False, None
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    if reply is not None and "status" in reply:
        return int(reply["status"])
    if reply is not None and ("stale" in reply or "refused" in reply):
        print(f"note: {reply.get('stale') or reply.get('refused')}; running here", file=sys.stderr)
        return None
    if not started:  # the server went away before it started the command
        return None
    if received:  # the worker died of the signal forwarded to it
        return 128 + received[-1]
    print(LOST, file=sys.stderr)
    return 1


def _replies(sock: socket.socket) -> tuple[bool, dict | None]:
    """(whether the server started the command, its last word: status, stale, refused or None)."""
    started = False
    while True:
        try:
            reply, _ = protocol.recv(sock)
        except (OSError, protocol.ProtocolError):
            return started, None
        if reply is None or "started" not in reply:
            return started, reply
        started = True
