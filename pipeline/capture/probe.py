"""`proftriage probe`: a few short requests to see whether a server really answers.

Capture runs it before arming the profiler and refuses a server whose answers are all
errors or empty (a profile of a server that generates nothing is worthless).
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from pipeline.capture.errors import CaptureError
from pipeline.capture.frameworks import framework
from pipeline.capture.generate import Answer, generate, openai_model
from pipeline.capture.workload import Prompts

QUESTIONS = (
    "Say hello in one short sentence.",
    "Name three primary colours.",
    "What is two plus two?",
)
SAMPLE_CHARS = 240
SAMPLES = 3


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _sample(answer: Answer) -> dict[str, Any]:
    return {
        "ok": answer.ok,
        "latency_s": round(answer.latency_s, 4),
        "field": answer.field,
        "text": answer.text[:SAMPLE_CHARS],
        "error": answer.error,
    }


def summarize(answers: list[Answer]) -> dict[str, Any]:
    """Counts, non-emptiness and latency statistics over a list of answers."""
    good = [a for a in answers if a.ok]
    latencies = [a.latency_s for a in good]
    return {
        "requests": len(answers),
        "successes": len(good),
        "errors": len(answers) - len(good),
        "unanswered": sum(1 for a in answers if not a.reached),
        "non_empty": sum(1 for a in good if a.text.strip()),
        "all_non_empty": bool(answers) and all(a.ok and a.text.strip() for a in answers),
        "latency_mean_s": round(statistics.fmean(latencies), 4) if latencies else None,
        "latency_p95_s": round(_p95(latencies), 4) if latencies else None,
        "samples": [_sample(a) for a in answers[:SAMPLES]],
        "error_messages": sorted({a.error for a in answers if a.error})[:5],
    }


def probe_server(framework_name: str, url: str, requests: int = 3, max_tokens: int = 32,
                 timeout: float = 60.0, model: str | None = None) -> dict[str, Any]:
    """Send `requests` short unique prompts one at a time and report how they went."""
    fw = framework(framework_name)
    if fw.generate == "openai" and not model:
        model = openai_model(url, timeout)
    prompts = Prompts()
    answers = []
    for i in range(max(1, requests)):
        prompt = f"{prompts.next(1)} {QUESTIONS[i % len(QUESTIONS)]}"
        answers.append(generate(fw, url, model, prompt, max_tokens, timeout))
    return {"framework": fw.name, "url": url, "model": model, **summarize(answers)}


def require_answers(report: dict[str, Any]) -> None:
    """Raise `CaptureError` when no request succeeded or every answer was empty."""
    where = f"{report['framework']} server at {report['url']}"
    if report["successes"] == 0:
        detail = "; ".join(report["error_messages"]) or "no answer"
        raise CaptureError(f"refusing to capture: {where} answered none of "
                           f"{report['requests']} probe requests ({detail})")
    if report["non_empty"] == 0:
        raise CaptureError(f"refusing to capture: {where} returned only empty answers to "
                           f"{report['requests']} probe requests (checked fields text, content, "
                           "reasoning_content, reasoning, output_text)")
