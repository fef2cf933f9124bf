"""Shared helpers for the benchmarks: child-process measurement, tables, work folder.

Every measured thing runs in a fresh child process (``python -c CODE``) that ends by printing
one JSON line prefixed with ``@@RESULT``::

    {"work_s": …, "self_rss_kb": …, "children_rss_kb": …, …extra}

* ``work_s`` — seconds the child spent on the measured call (imports excluded);
* ``self_rss_kb`` — ``getrusage(RUSAGE_SELF).ru_maxrss`` of the child at the end;
* ``children_rss_kb`` — ``getrusage(RUSAGE_CHILDREN).ru_maxrss``: the peak of the *largest*
  waited-for descendant (the ingest process pool's workers), not their sum.

The parent adds ``wall_s`` (process start → exit, so interpreter start and imports are
counted) and ``tree_rss_kb``: the largest *sum* of VmRSS over the child and all its
descendants, sampled from ``/proc`` every 20 ms (catches a pool whose workers peak
together; it can miss spikes shorter than the sampling period). The peak memory we report is
``peak_kb = max(self_rss_kb, children_rss_kb, tree_rss_kb)``.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / ".work"
TRACES = ROOT / "tests" / "data" / "traces"
RESULT_TAG = "@@RESULT"

# Appended to every child's code: report the measured figures on one line.
CHILD_FOOTER = """
import json as _json, resource as _res
_out = dict(globals().get("RESULT", {}))
_out["self_rss_kb"] = _res.getrusage(_res.RUSAGE_SELF).ru_maxrss
_out["children_rss_kb"] = _res.getrusage(_res.RUSAGE_CHILDREN).ru_maxrss
print("@@RESULT" + _json.dumps(_out), flush=True)
"""


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kb(pid: int) -> int:
    """Summed resident memory of `pid` and every descendant (0 once it is gone)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += _rss_kb(p)
        stack.extend(_children(p))
    return total


class _Sampler(threading.Thread):
    def __init__(self, pid: int, period: float = 0.02):
        super().__init__(daemon=True)
        self.pid, self.period, self.peak = pid, period, 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, tree_rss_kb(self.pid))
            self.stop.wait(self.period)


def run_child(code: str, python: str | None = None, env: dict | None = None, timeout: float | None = None) -> dict:
    """Run `code` (+ the reporting footer) in a fresh interpreter; return its measured figures."""
    child_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    started = time.perf_counter()
    proc = subprocess.Popen([python or sys.executable, "-c", code + CHILD_FOOTER], cwd=ROOT, env=child_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = _Sampler(proc.pid)
    sampler.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise RuntimeError(f"child timed out after {timeout} s:\n{err[-2000:]}")
    finally:
        sampler.stop.set()
        sampler.join()
    wall = time.perf_counter() - started
    lines = [ln for ln in out.splitlines() if ln.startswith(RESULT_TAG)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"child failed (rc={proc.returncode}):\n{out[-2000:]}\n{err[-4000:]}")
    result = json.loads(lines[-1][len(RESULT_TAG):])
    result["wall_s"] = wall
    result["tree_rss_kb"] = sampler.peak
    result["peak_kb"] = max(result["self_rss_kb"], result["children_rss_kb"], sampler.peak)
    return result


def median(values: list[float]) -> float:
    return statistics.median(values)


def gb(kb: float) -> float:
    return kb / (1 << 20)


def mb(kb: float) -> float:
    return kb / 1024


def print_table(headers: list[str], rows: list[list], title: str | None = None) -> None:
    """A plain fixed-width table (first column left-aligned, others right-aligned)."""
    cells = [[str(h) for h in headers]] + [[c if isinstance(c, str) else f"{c}" for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    if title:
        print(f"\n{title}")
    for n, r in enumerate(cells):
        print("  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def machine_line() -> str:
    """CPU model, core count, memory and Python version, for the record."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / (1 << 20):.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}, Python {sys.version.split()[0]}"


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


ORJSON_CHILD = """
import time, orjson
t0 = time.perf_counter()
with open({path!r}, "rb") as f:
    data = f.read()
obj = orjson.loads(data)
RESULT = {{"work_s": time.perf_counter() - t0, "events": len(obj.get("traceEvents", []))}}
"""


def orjson_child(path: Path) -> dict:
    """Baseline: read the whole file and ``orjson.loads`` it, in a fresh process."""
    return run_child(ORJSON_CHILD.format(path=str(path)))


class Served:
    """A `proftriage serve` of its own state dir under WORK, for timing served commands (docs/serve.md)."""

    def __init__(self, name: str = "bench-serve") -> None:
        from pipeline.serve.server import alive
        from pipeline.serve.protocol import socket_path

        self.state = WORK / name
        self.env = dict(os.environ, PROFTRIAGE_STATE_DIR=str(self.state))
        self.proc = subprocess.Popen([sys.executable, "-m", "pipeline.launch", "serve", "--idle-timeout", "3600"],
                                     cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while not alive(socket_path(self.state)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("proftriage serve did not start")
            time.sleep(0.05)

    def __enter__(self) -> "Served":
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def command_wall(args: list[str], env: dict | None = None) -> float:
    """Wall seconds of the `proftriage` executable (`python -m pipeline.launch`) running `args`, output
    discarded; served when `env` names the state dir of a running `Served`, else in its own process."""
    env = dict(env or os.environ)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pipeline.launch", *args], cwd=ROOT, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"proftriage {' '.join(args)} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    return wall


@contextlib.contextmanager
def base_checkout(base: str):
    """(label, source tree) of `base`: a folder as is, or a commit checked out into a temporary git worktree."""
    if Path(base).is_dir():
        yield base, Path(base).resolve()
        return
    rev = subprocess.run(["git", "rev-parse", "--short", base], cwd=ROOT, check=True, capture_output=True,
                         text=True).stdout.strip()
    WORK.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="base-", dir=WORK) as tmp:
        tree = Path(tmp) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(tree), rev], cwd=ROOT, check=True)
        try:
            yield rev, tree
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
