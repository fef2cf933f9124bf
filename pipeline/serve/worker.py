"""One served command, in a forked child of the server: it becomes the client's process in all but pid.

It takes the client's stdin/stdout/stderr, working directory, umask, environment (TZ and TMPDIR
included) and argv; a signal the
client receives (Ctrl-C, SIGTERM) is forwarded here and ends the command as it would end a fresh
process (`exits.py`: 130, 143, every `finally` run); a client that goes away ends it with SIGTERM.
The status goes back to the client, which exits with it.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback

from pipeline.serve import protocol


def _stdio(encoding: str | None) -> None:
    """Fresh sys.stdin/stdout/stderr over descriptors 0-2 (the client's), buffered as a new process's."""
    enc = encoding or "utf-8"
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding=enc)
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding=enc,
                                  line_buffering=os.isatty(1))
    sys.stderr = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "w", closefd=False)), encoding=enc,
                                  errors="backslashreplace", line_buffering=True)
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr


def _become_client(request: dict, fds: list[int]) -> None:
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request.get("cwd") or "/")
    if isinstance(request.get("umask"), int):
        os.umask(request["umask"])
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in (request.get("env") or {}).items()})
    time.tzset()  # TZ of the client
    tempfile.tempdir = None  # TMPDIR of the client, not the server's cached choice
    sys.argv = ["proftriage", *map(str, request["argv"])]
    _stdio(request.get("encoding"))


def _forward_signals(conn: socket.socket) -> None:
    """Deliver each signal the client forwards to this process; the client gone → SIGTERM."""
    conn.settimeout(None)
    while True:
        try:
            message, _ = protocol.recv(conn)
        except (OSError, protocol.ProtocolError):
            message = None
        if message is None:
            os.kill(os.getpid(), signal.SIGTERM)
            return
        signum = message.get("signal")
        if signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            os.kill(os.getpid(), signal.SIGTERM if signum == signal.SIGHUP else signum)


def _command(argv: list[str]) -> int:
    from pipeline.cli import main
    from pipeline.serve.warm import PARSER

    try:
        return main(argv, PARSER)
    except SystemExit as exc:  # argparse: usage errors (2), --help and --version (0)
        code = exc.code
        if code is None or isinstance(code, int):
            return code or 0
        print(code, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("proftriage: interrupted", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 - a fresh process would print the traceback and exit 1
        traceback.print_exc()
        return 1


def run_worker(conn: socket.socket, request: dict, fds: list[int]) -> None:
    """Run the request's command as the client's process, send its status, and exit (never returns)."""
    status = 1
    try:
        os.setpgid(0, 0)  # Ctrl-C on a foreground server's terminal does not reach running commands
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        _become_client(request, fds)
        threading.Thread(target=_forward_signals, args=(conn,), name="proftriage-signals", daemon=True).start()
        status = _command(list(request["argv"]))
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        try:
            protocol.send(conn, {"status": status})
        except OSError:
            pass  # the client is gone (its end of the socket closed): nobody to tell
    except BaseException:  # noqa: BLE001 - whatever happens, the child must not return into the server
        try:
            traceback.print_exc()
        except BaseException:  # noqa: BLE001
            pass
    finally:
        os._exit(status)
