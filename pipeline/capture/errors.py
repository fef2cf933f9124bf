"""The one exception type capture raises; its message is meant for the user."""

from __future__ import annotations


class CaptureError(RuntimeError):
    """A capture step failed; ``str(err)`` says what, where and what to do."""
