"""`trtllm-with-stack` on small snippets shaped like TRT-LLM's profiler code."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from pipeline.capture.cli import register
from pipeline.capture.errors import CaptureError
from pipeline.capture.trtllm_stack import patch_trtllm_source

# Shaped like tensorrt_llm/_torch/pyexecutor/profiling.py (PyExecutorProfileManager.profile_step).
CURRENT = '''
import torch


class Manager:
    def profile_step(self):
        executor = self._executor
        torch_profiler = None

        def step():
            nonlocal torch_profiler
            if executor.stop:
                if torch_profiler is not None:
                    torch_profiler.stop()
                    torch_profiler.export_chrome_trace(executor.trace_path)
            if executor.start:
                if torch_profiler is None:
                    torch_profiler = torch.profiler.profile(
                        activities=executor.activities, record_shapes=True, with_modules=True
                    )
                torch_profiler.start()
        return step
'''

# Shaped like older py_executor.py (PyExecutor._profiler), with a trailing comma and a comment.
OLDER = '''
import torch


class PyExecutor:
    def _profiler(self):
        if self.enable_torch_trace:
            torch_profiler = torch.profiler.profile(activities=self.activities,
                                                    record_shapes=True,
                                                    with_modules=True,  # modules
                                                    )

        def profile_step():
            if self.stopping:
                torch_profiler.stop()
                torch_profiler.export_chrome_trace(
                    self.torch_trace_path)
                print("saved", self.global_rank)
        return profile_step
'''


def _call_kwargs(text: str) -> str:
    start = text.index("torch.profiler.profile(")
    return text[start:text.index(")", start) + 1]


def test_current_shape() -> None:
    patch = patch_trtllm_source(CURRENT)
    assert "with_stack=True" in _call_kwargs(patch.text)
    assert "if executor.global_rank == 0:  # proftriage" in patch.text
    guarded = patch.text.splitlines()
    i = next(k for k, ln in enumerate(guarded) if "export_chrome_trace" in ln)
    assert guarded[i - 1].strip().startswith("if executor.global_rank == 0")
    assert len(guarded[i]) - len(guarded[i].lstrip()) == len(guarded[i - 1]) - len(guarded[i - 1].lstrip()) + 4
    compile(patch.text, "p", "exec")


def test_older_shape_multiline() -> None:
    patch = patch_trtllm_source(OLDER)
    kwargs = _call_kwargs(patch.text)
    assert "with_stack=True" in kwargs and "# modules" in kwargs
    assert "if self.global_rank == 0:" in patch.text
    assert "        self.torch_trace_path)" in patch.text  # continuation line indented too
    compile(patch.text, "p", "exec")


def test_idempotent_and_forces_true() -> None:
    once = patch_trtllm_source(CURRENT).text
    assert patch_trtllm_source(once).text == once
    forced = patch_trtllm_source(CURRENT.replace("with_modules=True", "with_stack=False"))
    assert "with_stack=True" in forced.text and "with_stack=False" not in forced.text


def test_refuses_without_expected_calls() -> None:
    with pytest.raises(CaptureError, match="no `torch.profiler.profile\\(` call found"):
        patch_trtllm_source("import torch\nx = 1\n")
    with pytest.raises(CaptureError, match="export_chrome_trace"):
        patch_trtllm_source("import torch\np = torch.profiler.profile()\n")


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="cmd", required=True))
    src, out = tmp_path / "profiling.py", tmp_path / "o" / "profiling_with_stack.py"
    src.write_text(CURRENT)
    args = parser.parse_args(["trtllm-with-stack", "--source", str(src), "--output", str(out)])
    assert args.func(args) == 0
    assert "with_stack=True" in out.read_text() and src.read_text() == CURRENT
    assert "guarded" in capsys.readouterr().out
    args = parser.parse_args(["trtllm-with-stack", "--source", str(src), "--output", str(src)])
    assert args.func(args) == 2
    bad = tmp_path / "bad.py"
    bad.write_text("x = 1\n")
    args = parser.parse_args(["trtllm-with-stack", "--source", str(bad), "--output", str(out)])
    assert args.func(args) == 2
    assert "refusing to patch" in capsys.readouterr().err


def test_fallback_rank_expression_compiles() -> None:
    src = "import torch\np = torch.profiler.profile()\nif True:\n    p.export_chrome_trace('t.json')\n"
    patch = patch_trtllm_source(src)
    assert "if (torch.distributed.get_rank() if torch.distributed.is_initialized() else 0) == 0:" in patch.text
    assert "torch.profiler.profile(with_stack=True)" in patch.text
