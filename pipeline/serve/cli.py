"""`proftriage serve`: start, detach or stop the warm server of this state directory."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from pipeline.config import settings
from pipeline.serve import protocol

DEFAULT_IDLE_S = 1800.0
DETACH_WAIT_S = 60.0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="keep a warm process that runs later commands of this state dir (docs/serve.md)")
    p.add_argument("--idle-timeout", type=float, default=DEFAULT_IDLE_S, metavar="SECONDS",
                   help=f"stop after this long without a command (default {DEFAULT_IDLE_S:.0f})")
    p.add_argument("--detach", action="store_true",
                   help="run in the background (output in $PROFTRIAGE_STATE_DIR/serve.log); return once it answers")
    p.add_argument("--stop", action="store_true", help="stop the server of this state dir")
    p.set_defaults(func=cmd_serve)


def _run_server(state: Path, idle_s: float) -> int:
    """Serve until stopped; a server already answering, or a thread a fork would strand, is one line, exit 1."""
    from pipeline.serve.server import ServerRunning, serve
    from pipeline.serve.warm import UnsafeToFork

    try:
        return serve(state, idle_s)
    except (ServerRunning, UnsafeToFork) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1


def cmd_serve(args: argparse.Namespace) -> int:
    from pipeline.serve.server import stop

    state = settings().state_dir
    if args.stop:
        pid = stop(state)
        if pid is None:
            print(f"no proftriage server answers on {protocol.socket_path(state)}", file=sys.stderr)
            return 1
        print(f"stopped proftriage server {pid}")
        return 0
    if args.idle_timeout <= 0:
        print("error: --idle-timeout must be > 0", file=sys.stderr)
        return 2
    if args.detach:
        return _detach(state, args.idle_timeout)
    return _run_server(state, args.idle_timeout)


def _detach(state: Path, idle_s: float) -> int:
    """Start the server in its own session, output to `<state>/serve.log`; wait until it answers."""
    from pipeline.serve.server import alive

    path = protocol.socket_path(state)
    if alive(path):
        print(f"error: a proftriage server already answers on {path}", file=sys.stderr)
        return 1
    log = state / "serve.log"
    state.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    if os.fork() == 0:
        os.setsid()
        if os.fork() != 0:
            os._exit(0)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        try:
            status = _run_server(state, idle_s)
        except BaseException:  # noqa: BLE001 - the log says why; the daemon must not return into the CLI
            import traceback

            traceback.print_exc()
            status = 1
        sys.stdout.flush()
        os._exit(status)
    deadline = time.monotonic() + DETACH_WAIT_S
    while time.monotonic() < deadline:
        if alive(path):
            print(f"proftriage server on {path} (output in {log}); `proftriage serve --stop` ends it")
            return 0
        time.sleep(0.05)
    print(f"error: the server did not answer on {path} within {DETACH_WAIT_S:.0f} s (see {log})", file=sys.stderr)
    return 1
