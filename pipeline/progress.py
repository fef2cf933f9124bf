"""What a long command is doing, on stderr: the parse's bytes and events (`ProgressLine`), and the
phase of work that has taken longer than a couple of seconds (`Heartbeat`)."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path


class ProgressLine:
    """Progress display for long parses: file, bytes and events/s, at most twice a second."""

    def __init__(self, stream=sys.stderr, enabled: bool = True):
        self.stream, self.enabled, self._last = stream, enabled, 0.0

    def __call__(self, path: Path, bytes_in: int, events: int, seconds: float) -> None:
        now = time.monotonic()
        if not self.enabled or now - self._last < 0.5 or seconds < 1.0:
            return
        self._last = now
        rate = events / seconds if seconds else 0.0
        end = "\r" if self.stream.isatty() else "\n"
        self.stream.write(f"  {path.name}: {bytes_in / 1e6:,.0f} MB read, {events:,} events, {rate:,.0f} events/s{end}")
        self.stream.flush()


class Heartbeat:
    """Says the current phase on stderr once work has run `after` seconds, then every `every` seconds
    while it goes on; silent for anything shorter (and when disabled)."""

    def __init__(self, stream=sys.stderr, enabled: bool = True, after: float = 2.0, every: float = 5.0):
        self.stream, self.enabled, self.after, self.every = stream, enabled, after, every
        self._phase, self._since = "", time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def phase(self, text: str) -> None:
        """Name what is being done now."""
        self._phase, self._since = text, time.monotonic()

    def _run(self) -> None:
        if self._stop.wait(self.after):
            return
        while True:
            self.stream.write(f"proftriage: {self._phase} ({time.monotonic() - self._since:.0f} s)\n")
            self.stream.flush()
            if self._stop.wait(self.every):
                return

    def __enter__(self) -> "Heartbeat":
        if self.enabled:
            self._thread = threading.Thread(target=self._run, name="proftriage-heartbeat", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
