"""Send one generation request (native `/generate` or OpenAI completions) and read the answer."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pipeline.capture.frameworks import Framework, common
from pipeline.capture.http import Unreachable, call, short


@dataclass(frozen=True)
class Answer:
    """Outcome of one request; `text` may be empty, `error` is set on failure."""

    ok: bool
    latency_s: float
    text: str = ""
    field: str | None = None
    error: str | None = None
    reached: bool = True  # an HTTP answer came back (False: unreachable, not HTTP, too large, too slow)


def answer_text(data: Any) -> tuple[str, str | None]:
    """First non-empty answer field (text, content, reasoning_content, …) and its name."""
    fields = common()["answer_fields"]
    candidates: list[Any] = [data]
    if isinstance(data, list):
        candidates = list(data)
    if isinstance(data, dict):
        for choice in data.get("choices") or []:
            candidates += [choice, choice.get("message") or {}, choice.get("delta") or {}]
    for item in candidates:
        if not isinstance(item, dict):
            continue
        for name in fields:
            value = item.get(name)
            if isinstance(value, str) and value.strip():
                return value, name
    return "", None


def _body(fw: Framework, model: str | None, prompt: str, max_tokens: int, ignore_eos: bool) -> tuple[str, dict]:
    if fw.generate == "native":
        params = {"max_new_tokens": max_tokens, "temperature": 0.0}
        if ignore_eos:
            params["ignore_eos"] = True
        return "/generate", {"text": prompt, "sampling_params": params, "stream": False}
    body = {"model": model or "default", "prompt": prompt, "max_tokens": max_tokens, "temperature": 0.0}
    if ignore_eos:
        body["ignore_eos"] = True
    return "/v1/completions", body


def generate(fw: Framework, url: str, model: str | None, prompt: str, max_tokens: int,
             timeout: float, ignore_eos: bool = False) -> Answer:
    """One non-streaming request; never raises, failures are in the `Answer`."""
    route, body = _body(fw, model, prompt, max_tokens, ignore_eos)
    t0 = time.monotonic()
    try:
        reply = call("POST", url, route, body, timeout)
    except Unreachable as err:
        return Answer(False, time.monotonic() - t0, error=str(err), reached=False)
    latency = time.monotonic() - t0
    if not reply.ok:
        return Answer(False, latency, error=f"POST {route} HTTP {reply.status}: {short(reply.text, 160)}")
    text, field = answer_text(reply.data)
    return Answer(True, latency, text, field)


def openai_model(url: str, timeout: float) -> str | None:
    """First model id from `GET /v1/models`, or None."""
    try:
        reply = call("GET", url, "/v1/models", None, timeout)
    except Unreachable:
        return None
    data = reply.data if reply.ok and isinstance(reply.data, dict) else {}
    models = data.get("data") or []
    return models[0].get("id") if models and isinstance(models[0], dict) else None
