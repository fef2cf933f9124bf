"""Private spool folders: each ingest run parses into a folder of its own, removed when it ends.

Several processes share one state folder (a Dagster run and a CLI run, four `ingest`s of the
same root, three in-memory `triage`s): each takes ``<spool>/run-<pid>-<random>/`` for the
length of its run, so no parse ever deletes or rewrites another's files. The folder is owned
through an exclusive ``flock`` on its sibling ``run-…lock`` file, held until the run ends; it
is removed when the run ends, normally or by an exception (Ctrl-C, SIGTERM turned into
SystemExit by the CLI). A run killed outright (``kill -9``, a power cut) leaves its folder,
and the next run removes it: a lock file nobody holds any more marks an orphan.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

PREFIX = "run-"
LOCK_SUFFIX = ".lock"


@contextmanager
def private_spool(base: Path) -> Iterator[Path]:
    """A fresh folder under `base` that only this run uses; removed on the way out."""
    base.mkdir(parents=True, exist_ok=True)
    sweep_orphans(base)
    fd, folder = _claim(base)
    try:
        folder.mkdir()
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        Path(f"{folder}{LOCK_SUFFIX}").unlink(missing_ok=True)
        os.close(fd)  # the lock goes last, once the folder and its lock file are gone


def _claim(base: Path) -> tuple[int, Path]:
    """Create and lock ``run-<pid>-<random>.lock``; returns its descriptor and the folder name."""
    while True:
        folder = base / f"{PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        lock = Path(f"{folder}{LOCK_SUFFIX}")
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
        except FileExistsError:
            continue
        fcntl.flock(fd, fcntl.LOCK_EX)
        if _same_file(fd, lock):
            return fd, folder
        os.close(fd)  # a sweeper took it between create and lock: try another name


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def sweep_orphans(base: Path) -> list[Path]:
    """Remove the folders of runs that ended without cleaning up; returns what was removed."""
    removed = []
    for lock in sorted(base.glob(f"{PREFIX}*{LOCK_SUFFIX}")):
        try:
            fd = os.open(lock, os.O_RDWR)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # its run is alive
        try:
            if _same_file(fd, lock):
                folder = Path(str(lock)[: -len(LOCK_SUFFIX)])
                shutil.rmtree(folder, ignore_errors=True)
                lock.unlink(missing_ok=True)
                removed.append(folder)
        finally:
            os.close(fd)
    return removed
