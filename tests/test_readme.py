"""Every `sh` block of the README runs verbatim, in order, in a fresh shell (issue 22).

The blocks run in a copy of the checkout (files as git lists them, times kept, the project's
`.venv` linked in), so the README's own relative paths and `.state` are used without touching this
checkout's state; the environment is a new login's (no PROFTRIAGE_* or DAGSTER_HOME, no venv on PATH).
One line is not executed: `make test` is the command running this very test, so its dry run is checked
instead (the rule it would run: pytest; no pipe into `grep -q`, which under pipefail can fail with
SIGPIPE), and `.ci/run` must call it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline.paths import REPO_ROOT

pytestmark = pytest.mark.slow
BLOCK = re.compile(r"```sh\n(.*?)```", re.S)
SELF = "make test"


def _blocks() -> list[str]:
    return BLOCK.findall((REPO_ROOT / "README.md").read_text(encoding="utf-8"))


def _copy_checkout(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, check=True, capture_output=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        src = REPO_ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)  # times kept: make sees the venv as up to date
    (dest / ".venv").symlink_to(REPO_ROOT / ".venv")


def _fresh_env() -> dict[str, str]:
    venv_bin = str(REPO_ROOT / ".venv" / "bin")
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("PROFTRIAGE_", "DAGSTER_", "VIRTUAL_ENV", "PYTEST", "PYTHON"))}
    keep["PATH"] = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != venv_bin)
    return keep


def _script(block: str) -> str:
    lines = []
    for line in block.splitlines():
        if line.split("#", 1)[0].strip() == SELF:
            lines.append(f"[[ \"$(make -n test)\" == *pytest* ]]  # {SELF}: this test's own runner, dry run")
        else:
            lines.append(line)
    return "set -euo pipefail\n" + "\n".join(lines) + "\n"


def test_the_readme_has_the_two_commands_and_ci_runs_one() -> None:
    blocks = _blocks()
    assert blocks and "make demo" in blocks[0] and SELF in blocks[0]
    assert SELF in (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_every_readme_block_runs_verbatim_in_a_fresh_shell(tmp_path: Path) -> None:
    repo = tmp_path / "checkout"
    _copy_checkout(repo)
    env = _fresh_env()
    for i, block in enumerate(_blocks()):
        proc = subprocess.run(["bash", "-c", _script(block)], cwd=repo, env=env, capture_output=True, text=True,
                              timeout=1800)
        assert proc.returncode == 0, f"README block {i + 1} failed:\n{block}\n--- output ---\n" \
                                     f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert (repo / ".state" / "bundles" / "index.md").is_file()
    assert (repo / ".state" / "bundles" / "Qwen3-8B" / "sglang.md").is_file()
