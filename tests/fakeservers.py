"""Loopback fake LLM servers for capture tests: one class per framework.

Each implements that framework's documented profiler routes (see
`pipeline/catalog/capture.toml` for the upstream files) closely enough to exercise the
client: start/stop semantics, generate/completions, server info, and on stop (or after
`num_steps` forwards where the framework auto-stops) writes a copy of a real trace from
`tests/data/traces/` after a delay, one file per rank. Failure modes are switches:
`missing` routes (404), `fail` routes (HTTP status), `never_flush`, `partial_forever`,
`slow_flush`, `empty_answers`, and for vLLM its own trace dir.

Only 127.0.0.1, port 0, daemon threads; `stop()` is bounded and joins what it started.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data" / "traces"
SGLANG_TRACE = DATA / "sglang" / "qwen3-8b-mi300x-decode-graph-bs32" / "sglang_Qwen3-8B_decode.json.gz"
VLLM_TRACE = DATA / "vllm" / "gpt-oss-20b-mi300x-decode-fullgraph-bs32" / "graph_execution.json.gz"


class FakeServer:
    """Base: HTTP plumbing, generation, trace writing and failure switches."""

    framework = "base"
    source = SGLANG_TRACE
    model = "Qwen/Qwen3-8B"

    def __init__(self, *, ranks: int = 1, flush_delay: float = 0.05, slow_flush: bool = False,
                 never_flush: bool = False, partial_forever: bool = False,
                 missing: tuple[str, ...] = (), fail: dict[str, int] | None = None,
                 empty_answers: bool = False, answer_field: str = "text",
                 default_dir: Path | None = None) -> None:
        self.ranks, self.flush_delay, self.slow_flush = ranks, flush_delay, slow_flush
        self.never_flush, self.partial_forever = never_flush, partial_forever
        self.missing, self.fail = set(missing), dict(fail or {})
        self.empty_answers, self.answer_field = empty_answers, answer_field
        self.default_dir = default_dir
        self.requests: list[tuple[str, str, Any]] = []
        self.prompts: list[str] = []
        self.profiling = False
        self.profile: dict[str, Any] = {}
        self.lock = threading.Lock()
        self._writers: list[threading.Thread] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> "FakeServer":
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=2)
        for t in self._writers:
            t.join(timeout=2)

    def __enter__(self) -> "FakeServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- dispatch ------------------------------------------------------------------
    def routes(self) -> dict[tuple[str, str], Any]:
        return {}

    def dispatch(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        self.requests.append((method, path, body))
        if path in self.missing:
            return 404, {"detail": "Not Found"}
        if path in self.fail:
            return self.fail[path], {"error": f"injected failure on {path}"}
        handler = self.routes().get((method, path))
        if handler is None:
            return 404, {"detail": "Not Found"}
        return handler(body)

    # -- generation ------------------------------------------------------------------
    def answer(self, prompt: str) -> str:
        with self.lock:
            self.prompts.append(prompt)
        return "" if self.empty_answers else "The answer is four."

    def forwards(self, max_tokens: int) -> None:
        """Hook: a request ran 1 prefill + (max_tokens - 1) decode forwards."""

    # -- trace writing ---------------------------------------------------------------
    def trace_bytes(self, name: str) -> bytes:
        raw = self.source.read_bytes()
        return raw if name.endswith(".gz") else gzip.decompress(raw)

    def flush(self, directory: Path, names: list[str]) -> None:
        """Write `names` in `directory` after the flush delay (in a thread)."""
        if self.never_flush:
            return
        t = threading.Thread(target=self._write_all, args=(directory, names), daemon=True)
        self._writers.append(t)
        t.start()

    def _write_all(self, directory: Path, names: list[str]) -> None:
        time.sleep(self.flush_delay)
        directory.mkdir(parents=True, exist_ok=True)
        for name in names:
            data = self.trace_bytes(name)
            with open(directory / name, "wb") as fh:
                if self.partial_forever or self.slow_flush:
                    fh.write(data[: len(data) // 2])
                    fh.flush()
                    if self.partial_forever:
                        continue
                    time.sleep(self.flush_delay * 3)
                fh.write(data[len(data) // 2:] if self.slow_flush else data)


def _handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            status, obj = server.dispatch(method, self.path.split("?")[0], body)
            data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

    return Handler


class SGLangServer(FakeServer):
    """SGLang http_server: /start_profile auto-stops after num_steps forwards (older
    counter: checked after increment, hence the client's +1 guard); /stop_profile fails
    with 400 when nothing is in progress; files `[prefix-]<id>-TP-<r>.trace.json.gz`."""

    framework = "sglang"

    def routes(self) -> dict:
        return {("POST", "/start_profile"): self.start_profile,
                ("POST", "/stop_profile"): self.stop_profile,
                ("POST", "/generate"): self.generate,
                ("GET", "/server_info"): self.server_info,
                ("GET", "/get_server_info"): self.server_info}

    def server_info(self, _body: Any) -> tuple[int, Any]:
        return 200, {"model_path": self.model, "tp_size": self.ranks, "pp_size": 1,
                     "dp_size": 1, "version": "fake"}

    def start_profile(self, body: Any) -> tuple[int, Any]:
        body = body or {}
        with self.lock:
            if self.profiling:
                return 400, "Profiling is already in progress. Call /stop_profile first."
            out = body.get("output_dir") or str(self.default_dir or "/nonexistent")
            self.profile = {**body, "output_dir": out, "forwards": 0,
                            "profile_id": body.get("profile_id") or str(time.time())}
            self.profiling = True
        return 200, "Start profiling.\n"

    def file_names(self) -> list[str]:
        p = self.profile
        head = f"{p['profile_prefix']}-" if p.get("profile_prefix") else ""
        return [f"{head}{p['profile_id']}-TP-{r}.trace.json.gz" for r in range(self.ranks)]

    def _finish(self) -> None:
        self.profiling = False
        self.flush(Path(self.profile["output_dir"]), self.file_names())

    def stop_profile(self, _body: Any) -> tuple[int, Any]:
        with self.lock:
            if not self.profiling:
                return 400, "Profiling is not in progress. Call /start_profile first."
            self._finish()
        return 200, "Stop profiling. This will take some time.\n"

    def forwards(self, max_tokens: int) -> None:
        with self.lock:
            if not self.profiling or not self.profile.get("num_steps"):
                return
            self.profile["forwards"] += max(1, max_tokens)
            if self.profile["forwards"] >= int(self.profile["num_steps"]):
                self._finish()

    def generate(self, body: Any) -> tuple[int, Any]:
        params = body.get("sampling_params") or {}
        text = self.answer(body.get("text", ""))
        self.forwards(int(params.get("max_new_tokens", 16)))
        return 200, {"text": text, "meta_info": {"id": uuid.uuid4().hex}}


class TokenSpeedServer(SGLangServer):
    """TokenSpeed sidecar: SGLang-like routes, /get_server_info, `<profile_id>-TP<r>` files."""

    framework = "tokenspeed"

    def routes(self) -> dict:
        r = super().routes()
        r.pop(("GET", "/server_info"))
        return r

    def file_names(self) -> list[str]:
        p = self.profile
        return [f"{p['profile_id']}-TP{r}.trace.json.gz" for r in range(self.ranks)]


class _OpenAIMixin(FakeServer):
    def models(self, _body: Any) -> tuple[int, Any]:
        return 200, {"object": "list", "data": [{"id": self.model, "object": "model"}]}

    def completions(self, body: Any) -> tuple[int, Any]:
        text = self.answer(body.get("prompt", ""))
        self.forwards(int(body.get("max_tokens", 16)))
        choice = {"index": 0, "text": text, "finish_reason": "length"}
        if self.answer_field != "text":
            choice = {"index": 0, "text": "", self.answer_field: text}
        return 200, {"id": "cmpl-1", "model": body.get("model"), "choices": [choice]}


class VLLMServer(_OpenAIMixin):
    """vLLM: traces go to the SERVER's torch_profiler_dir, never to a client-chosen dir.

    `report_dir`: expose /server_info (dev mode) with the profiler config; `strict_body`:
    newest StartProfileRequest forbids extra fields; `accept_body=False`: oldest, no body.
    """

    framework = "vllm"
    source = VLLM_TRACE
    model = "openai/gpt-oss-20b"

    def __init__(self, trace_dir: Path, *, report_dir: bool = True, accept_body: bool = True,
                 **kw: Any) -> None:
        super().__init__(**kw)
        self.trace_dir, self.report_dir, self.accept_body = Path(trace_dir), report_dir, accept_body

    def routes(self) -> dict:
        r = {("POST", "/start_profile"): self.start_profile,
             ("POST", "/stop_profile"): self.stop_profile,
             ("GET", "/v1/models"): self.models,
             ("POST", "/v1/completions"): self.completions}
        if self.report_dir:
            r[("GET", "/server_info")] = self.server_info
        return r

    def server_info(self, _body: Any) -> tuple[int, Any]:
        cfg = (f"model='{self.model}', tensor_parallel_size={self.ranks}, "
               f"pipeline_parallel_size=1, profiler_config=ProfilerConfig(profiler='torch', "
               f"torch_profiler_dir='{self.trace_dir}', torch_profiler_with_stack=True)")
        return 200, {"vllm_config": cfg}

    def start_profile(self, body: Any) -> tuple[int, Any]:
        if body and not self.accept_body:
            return 422, {"detail": "body not accepted"}
        extra = set(body or {}) - {"profile_prefix", "delay_iterations", "max_iterations"}
        if extra:
            return 422, {"detail": f"extra fields not permitted: {sorted(extra)}"}
        with self.lock:
            self.profiling, self.profile = True, dict(body or {})
        return 200, b""

    def stop_profile(self, _body: Any) -> tuple[int, Any]:
        with self.lock:
            if not self.profiling:
                return 500, {"error": "profiler not started"}
            self.profiling = False
        prefix = self.profile.get("profile_prefix")
        head = f"{prefix}_" if prefix else ""
        stamp = time.time_ns()
        names = [f"{head}dp0_pp0_tp{r}_dcp0_ep0_rank{r}.{stamp}.pt.trace.json.gz"
                 for r in range(self.ranks)]
        self.flush(self.trace_dir, names)
        return 200, b""


class TRTLLMServer(_OpenAIMixin):
    """trtllm-serve: /start_profile {output_dir, num_steps>=1, start_step, activities};
    stops by itself after num_steps iterations or on /stop_profile; plain-JSON files
    `trtllm-trace-<time>-<uuid8>-rank-<r>.json`. `missing=("/start_profile",
    "/stop_profile")` models an older build without the routes."""

    framework = "trtllm"

    def routes(self) -> dict:
        return {("POST", "/start_profile"): self.start_profile,
                ("POST", "/stop_profile"): self.stop_profile,
                ("GET", "/v1/models"): self.models,
                ("POST", "/v1/completions"): self.completions}

    def start_profile(self, body: Any) -> tuple[int, Any]:
        body = body or {}
        if body.get("num_steps") is not None and int(body["num_steps"]) <= 0:
            return 400, {"error": "num_steps must be >= 1"}
        with self.lock:
            if self.profiling:
                return 400, {"error": "Profiling is already in progress"}
            out = body.get("output_dir") or str(self.default_dir or "/nonexistent")
            pid = f"{int(time.time())}-{uuid.uuid4().hex[:8]}"
            self.profile = {**body, "output_dir": out, "profile_id": pid, "iters": 0}
            self.profiling = True
        return 200, {"status": "ok"}

    def _finish(self) -> None:
        self.profiling = False
        names = [f"trtllm-trace-{self.profile['profile_id']}-rank-{r}.json" for r in range(self.ranks)]
        self.flush(Path(self.profile["output_dir"]), names)

    def forwards(self, max_tokens: int) -> None:
        with self.lock:
            if self.profiling and self.profile.get("num_steps"):
                self.profile["iters"] += max(1, max_tokens)
                if self.profile["iters"] >= int(self.profile["num_steps"]):
                    self._finish()

    def stop_profile(self, _body: Any) -> tuple[int, Any]:
        with self.lock:
            if self.profiling:
                self._finish()
        return 200, {"status": "ok"}


SERVERS = {"sglang": SGLangServer, "vllm": VLLMServer, "trtllm": TRTLLMServer,
           "tokenspeed": TokenSpeedServer}


# ---------------------------------------------------------------- hostile servers

GARBAGE = b"SSH-2.0-EVIL_9.6\r\n\x1b[31mred\x1b[0m\x00\xff\xfe not http at all\r\n\r\n"


class HostileServer:
    """A raw-socket server that misbehaves in one way (`mode`), on every connection:

    * ``drip``: a valid status line and headers, then the body one byte every `every` seconds,
      forever (never long enough between bytes for a per-read socket timeout);
    * ``drip_headers``: the status line itself one byte every `every` seconds;
    * ``huge``: a 200 with no Content-Length and an endless body as fast as it can send;
    * ``huge_declared``: announces a 20 GB Content-Length, then sends a little;
    * ``silent``: accepts, reads the request, never answers;
    * ``garbage``: answers GARBAGE (an SSH banner, terminal escapes, binary), then closes.

    Only 127.0.0.1, port 0, daemon threads; `stop()` is bounded and ends every connection.
    """

    def __init__(self, mode: str, every: float = 0.05) -> None:
        import socket

        self.mode, self.every = mode, every
        self.sent = 0
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self._threads: list[threading.Thread] = []
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def start(self) -> "HostileServer":
        t = threading.Thread(target=self._accept, daemon=True)
        self._threads.append(t)
        t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in list(self._threads):
            t.join(timeout=2)
        self._sock.close()

    def __enter__(self) -> "HostileServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, conn: Any) -> None:
        conn.settimeout(0.5)
        try:
            conn.recv(65536)  # the request (small; one read is enough here)
            getattr(self, f"_{self.mode}")(conn)
        except OSError:
            pass  # the client hung up: what a bounded client does
        finally:
            conn.close()

    def _send(self, conn: Any, data: bytes) -> None:
        conn.sendall(data)
        self.sent += len(data)

    def _drip(self, conn: Any) -> None:
        self._send(conn, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
        while not self._stop.wait(self.every):
            self._send(conn, b" ")

    def _drip_headers(self, conn: Any) -> None:
        head, i = b"HTTP/1.1 200 OK\r\nX-Slow: ", 0
        while not self._stop.wait(self.every):
            self._send(conn, head[i:i + 1] if i < len(head) else b"a")  # a header line that never ends
            i += 1

    def _huge(self, conn: Any) -> None:
        self._send(conn, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
        block = b"[" * 65536
        while not self._stop.is_set():
            self._send(conn, block)

    def _huge_declared(self, conn: Any) -> None:
        self._send(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 20000000000\r\n\r\n" + b"{" * 1024)
        self._stop.wait(5)

    def _silent(self, conn: Any) -> None:
        self._stop.wait(3600)

    def _garbage(self, conn: Any) -> None:
        self._send(conn, GARBAGE)
