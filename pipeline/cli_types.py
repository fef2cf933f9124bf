"""argparse value types shared by the `proftriage` commands: an error names the value and the rule."""

from __future__ import annotations

import argparse


def percent(text: str) -> float:
    """An argparse type: a number from 0 to 100."""
    value = float(text)
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{text} is not a percentage from 0 to 100")
    return value


def count(text: str) -> int:
    """An argparse type: a whole number ≥ 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value
