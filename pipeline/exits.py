"""How a `proftriage` command ends when it is interrupted: one line, a conventional status.

* Ctrl-C (SIGINT) → ``proftriage: interrupted …`` on stderr, exit 130;
* SIGTERM → ``proftriage: terminated …``, exit 143 (raised as an exception in the main thread,
  so every ``finally`` runs: the load transaction rolls back, the run's spool is removed);
* stdout closed early (``proftriage … | head``) → no message, exit 141, as a program killed
  by SIGPIPE reports in a shell; the rest of the output is dropped.

The statuses and messages are listed in docs/guarantees.md.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import threading
from typing import Callable

import duckdb

INTERRUPTED, BROKEN_PIPE, TERMINATED = 130, 141, 143
_AFTER = "any load in progress was rolled back and its spool removed; roots reported as loaded are stored"


def write_failure(exc: BaseException, where: object) -> str:
    """What a failed write of `where` means, in words: a full disk says so (never "cannot read")."""
    if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or "No space left" in str(exc):
        return f"no space left on device while writing {where}"
    text = str(exc)
    detail = getattr(exc, "strerror", None) or (text.splitlines()[0] if text else type(exc).__name__)
    return f"cannot write {where} ({detail})"


class Terminated(BaseException):
    """SIGTERM arrived (raised in the main thread by the handler `run` installs)."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


def run(command: Callable[[argparse.Namespace], int | None], args: argparse.Namespace) -> int:
    """Run one command; interrupts, SIGTERM and a closed stdout become a status and one line."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        status = int(command(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not as a traceback at interpreter exit
        return status
    except (KeyboardInterrupt, duckdb.InterruptException):
        print(f"proftriage: interrupted; {_AFTER}", file=sys.stderr)
        return INTERRUPTED
    except Terminated:
        print(f"proftriage: terminated; {_AFTER}", file=sys.stderr)
        return TERMINATED
    except BrokenPipeError:
        _drop_stdout()
        return BROKEN_PIPE
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _drop_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
