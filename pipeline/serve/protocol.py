"""What the `proftriage` client and server say to each other over a Unix socket.

A message is a 4-byte big-endian length, then that many bytes of JSON; the request also carries
the client's stdin, stdout and stderr as file descriptors (SCM_RIGHTS), so the command writes to
the client's terminal or pipes directly. Only standard-library imports: the client must start fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import struct
import sys
import sysconfig
import tempfile
from pathlib import Path

MAX_MESSAGE = 16 << 20
SOCKET_NAME = "serve.sock"
_UNIX_PATH_MAX = 100  # sun_path is 104-108 bytes depending on the OS
_CODE_DIRS = ("pipeline", "sql", "templates")
_CODE_SUFFIXES = (".py", ".toml", ".sql", ".j2", ".md", ".txt")


class ProtocolError(Exception):
    """The other side sent something that is not a message of this protocol."""


def socket_path(state_dir: Path) -> Path:
    """`<state>/serve.sock`, or a per-user name in the temp directory when that path is too long."""
    path = state_dir / SOCKET_NAME
    if len(os.fsencode(path)) <= _UNIX_PATH_MAX:
        return path
    digest = hashlib.sha1(os.fsencode(state_dir.resolve())).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"proftriage-{os.getuid()}-{digest}.sock"


def code_stamp(repo_root: Path) -> str:
    """A fingerprint of the code a server runs: engine files, SQL, templates, interpreter and installed
    packages. A client whose stamp differs runs its command itself (the server is stale)."""
    h = hashlib.sha1(f"{sys.executable}\0{sys.version}\0".encode())
    purelib = sysconfig.get_paths().get("purelib")
    if purelib and os.path.isdir(purelib):
        h.update(str(os.stat(purelib).st_mtime_ns).encode())  # pip install/uninstall touches it
    for top in _CODE_DIRS:
        for dirpath, dirnames, filenames in os.walk(repo_root / top):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                if name.endswith(_CODE_SUFFIXES):
                    st = os.stat(os.path.join(dirpath, name))
                    h.update(f"{dirpath}/{name}\0{st.st_mtime_ns}\0{st.st_size}\0".encode())
    return h.hexdigest()


def send(sock: socket.socket, message: dict, fds: list[int] | None = None) -> None:
    """Send one message (and, with `fds`, those descriptors alongside its first byte)."""
    body = json.dumps(message).encode()
    data = struct.pack(">I", len(body)) + body
    if fds:
        sent = socket.send_fds(sock, [data], fds)
        data = data[sent:]
    if data:
        sock.sendall(data)


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(n - got)
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv(sock: socket.socket, max_fds: int = 0) -> tuple[dict | None, list[int]]:
    """One message (None at end of stream) and the descriptors that came with it (closed here when the
    message is broken, so a bad request costs the receiver nothing)."""
    fds: list[int] = []
    try:
        message = _recv_message(sock, max_fds, fds)
    except (OSError, ProtocolError):
        for fd in fds:
            os.close(fd)
        raise
    return message, fds


def _recv_message(sock: socket.socket, max_fds: int, fds: list[int]) -> dict | None:
    if max_fds:
        head, got, _flags, _addr = socket.recv_fds(sock, 4, max_fds)
        fds.extend(got)
        if head and len(head) < 4:
            rest = _recv_exact(sock, 4 - len(head))
            head = head + rest if rest is not None else b""
    else:
        head = _recv_exact(sock, 4)
    if not head:
        return None
    (size,) = struct.unpack(">I", head)
    if size > MAX_MESSAGE:
        raise ProtocolError(f"message of {size} bytes (limit {MAX_MESSAGE})")
    body = _recv_exact(sock, size)
    if body is None:
        return None
    try:
        message = json.loads(body)
    except ValueError as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError("a message must be a JSON object")
    return message


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end (Linux); None where the platform cannot say."""
    opt = getattr(socket, "SO_PEERCRED", None)
    if opt is None:
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, opt, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


__all__ = ["ProtocolError", "code_stamp", "peer_uid", "recv", "send", "socket_path"]
