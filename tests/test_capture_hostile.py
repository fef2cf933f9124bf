"""Capture's HTTP client against hostile servers (tests/fakeservers.py `HostileServer`).

Every request ends by its total deadline or its size cap, whatever the server does; `capture`
and `probe` end by their `--timeout` and exit 2 with one clean line that never quotes the
server's bytes. The CLI cases run in real processes; the subprocess timeout is only a safety
net (a hang fails the test), not a measurement.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.capture import http
from pipeline.capture.http import BadReply, OutOfTime, Unreachable, call, command_deadline, short
from tests.fakeservers import GARBAGE, HostileServer

REPO = Path(__file__).resolve().parents[1]
RAW = ("SSH-2.0", "EVIL", "\x1b", "\x00", "not http at all")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=REPO, capture_output=True,
                          text=True, errors="replace", timeout=120, env=dict(os.environ))


@pytest.mark.parametrize("mode", ["drip", "drip_headers"])
def test_a_server_that_drips_bytes_is_cut_at_the_request_deadline(mode: str) -> None:
    with HostileServer(mode, every=0.05) as srv:
        with pytest.raises(Unreachable, match=r"no complete answer within 0\.5 s \(request deadline\)"):
            call("GET", srv.url, "/server_info", timeout=0.5)
    assert srv.sent >= 3, "bytes kept arriving more often than any per-read timeout would notice"


def test_an_endless_body_stops_at_the_size_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "MAX_BODY_BYTES", 1 << 20)
    with HostileServer("huge") as srv:
        with pytest.raises(BadReply, match=r"the answer is over the 1 MiB limit"):
            call("GET", srv.url, "/server_info", timeout=60)


def test_an_announced_multi_gb_body_is_refused_before_reading() -> None:
    with HostileServer("huge_declared") as srv:
        with pytest.raises(BadReply, match=r"announces 20,000,000,000 bytes, over the 16 MiB limit"):
            call("GET", srv.url, "/server_info", timeout=60)


def test_a_reply_that_is_not_http_is_named_without_its_bytes() -> None:
    with HostileServer("garbage") as srv:
        with pytest.raises(BadReply) as err:
            call("POST", srv.url, "/generate", {"text": "hi"}, timeout=5)
    message = str(err.value)
    assert message.startswith(f"POST {srv.url}/generate failed: the answer is not valid HTTP")
    assert not any(raw in message for raw in RAW)


def test_the_command_deadline_shortens_every_request() -> None:
    with HostileServer("silent") as srv, command_deadline(0.5, "capture"):
        with pytest.raises(OutOfTime, match=r"^capture ran out of time \(its --timeout\) during GET"):
            call("GET", srv.url, "/server_info", timeout=300)
        with pytest.raises(OutOfTime, match="before GET"):
            call("GET", srv.url, "/server_info", timeout=300)  # nothing left: not even tried


def test_short_never_passes_control_characters() -> None:
    shown = short(GARBAGE.decode("utf-8", "replace"))
    assert "\x1b" not in shown and "\x00" not in shown


@pytest.mark.parametrize("mode,needle", [
    ("silent", "capture ran out of time (its --timeout) during POST"),
    ("drip", "capture ran out of time (its --timeout) during POST"),
    ("drip_headers", "capture ran out of time (its --timeout) during POST"),
    ("huge", "the answer is over the 16 MiB limit"),
    ("garbage", "the answer is not valid HTTP (BadStatusLine)"),
])
def test_capture_ends_with_exit_2_and_one_clean_line(tmp_path: Path, mode: str, needle: str) -> None:
    with HostileServer(mode) as srv:  # default --request-timeout (300 s): --timeout bounds it all
        res = _cli("capture", "--framework", "sglang", "--url", srv.url, "--output-dir", str(tmp_path / "out"),
                   "--timeout", "2")
    errors = [line for line in res.stderr.splitlines() if not line.startswith("[")]  # progress lines start "["
    assert res.returncode == 2, res.stderr
    assert len(errors) == 1 and errors[0].startswith("error: ") and needle in errors[0], res.stderr
    assert not any(raw in res.stdout + res.stderr for raw in RAW)


@pytest.mark.parametrize("mode", ["silent", "drip", "garbage", "huge"])
def test_probe_ends_with_exit_2(mode: str) -> None:
    with HostileServer(mode) as srv:
        res = _cli("probe", "--framework", "sglang", "--url", srv.url, "--requests", "2", "--timeout", "2")
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("error: "), res.stderr
    assert "Traceback" not in res.stderr
    assert not any(raw in res.stdout + res.stderr for raw in RAW)
