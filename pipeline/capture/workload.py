"""Stage workloads: how many requests of which shape, with prompts that never share a prefix."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from itertools import count

STAGES = ("prefill", "decode")


@dataclass(frozen=True)
class StagePlan:
    """Requests for one stage: warmup first, then the profiled ones."""

    stage: str
    input_len: int
    output_len: int
    warmup_requests: int
    warmup_tokens: int
    requests: int

    def as_dict(self) -> dict[str, int | str]:
        return dict(self.__dict__)


def plan(stage: str, *, num_steps: int, warmup: int, prefill_input_len: int,
         decode_input_len: int, decode_output_len: int) -> StagePlan:
    """Prefill: long input, one token, one request per profiled step.

    Decode: short input, long output, one request (steps are tokens).
    """
    if stage == "prefill":
        return StagePlan(stage, prefill_input_len, 1, warmup, 1, max(1, num_steps))
    if stage == "decode":
        return StagePlan(stage, decode_input_len, decode_output_len,
                         1 if warmup > 0 else 0, max(1, warmup), 1)
    raise ValueError(f"unknown stage {stage!r}; choose from {', '.join(STAGES)}")


class Prompts:
    """Unique prompts: a random nonce per run plus a running index as the first word."""

    def __init__(self, nonce: str | None = None) -> None:
        self.nonce = nonce or secrets.token_hex(6)
        self._index = count()

    def next(self, words: int) -> str:
        head = f"probe-{self.nonce}-{next(self._index)}"
        return " ".join([head] + ["profile"] * max(0, words - 1))
