"""Render reports to markdown with jinja2 templates (`templates/`, StrictUndefined).

Identifiers (kernel names, sites, CPU ops, paths) go into code spans (`code`), which show them
literally without backslashes; our own prose goes through `md`, which escapes only what would
change the rendering. Long names keep head and tail (`short`); each stage lists the names it
shortened in full (`long_names`).
"""

from __future__ import annotations

import re
from functools import lru_cache

import jinja2

from pipeline.analyze.overlap import load_config
from pipeline.config import settings
from pipeline.paths import TEMPLATES_DIR
from pipeline.report.headline import fmt_ns, headline, pct

# backslash, backtick, brackets, angle brackets, pipe; `_` and `*` unless inside a word (where
# CommonMark never reads them as emphasis: `matmul_ogs` stays as it is)
_MD_SPECIAL = re.compile(r"([\\`\[\]<>|]|(?<![A-Za-z0-9])[_*]|[_*](?![A-Za-z0-9]))")
_TICKS = re.compile(r"`+")
NAME_WIDTH = 90  # kernel names in the stage tables
PART_WIDTH = 60  # kernel names inside a launch-group chain or a fusion's evidence


def _one_line(value: object) -> str:
    return str(value).replace("\r", " ").replace("\n", " ")


def md(value: object) -> str:
    """Prose as literal markdown: escapes the characters that would start emphasis, code, links,
    HTML or a table cell."""
    return "–" if value is None else _MD_SPECIAL.sub(r"\\\1", _one_line(value))


def short(value: object, limit: int = NAME_WIDTH) -> str:
    """At most `limit` characters: the head, an ellipsis and the tail (the full name is in the
    stage's name index and the JSON)."""
    text = "–" if value is None else _one_line(value)
    if len(text) <= limit:
        return text
    tail = (limit - 1) // 3
    return text[: limit - 1 - tail] + "…" + text[len(text) - tail:]


def code(value: object, limit: int | None = None) -> str:
    """A code span (shortened to `limit`): a fence longer than any backtick run inside, padded
    when the text starts or ends with a backtick; ``|`` escaped so table cells stay intact."""
    if value is None:
        return "–"
    text = short(value, limit) if limit else _one_line(value)
    fence = "`" * (max((len(m) for m in _TICKS.findall(text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text.replace('|', chr(92) + '|')}{pad}{fence}"


def headline_md(stage: dict, label: str | None = None) -> str:
    """The stage's headline with its names and sites in code spans (`label`: a layer-wise table's
    step or stage label, as `pipeline.report.read` words its plain headline)."""
    if label is not None:
        stage = {**stage, "stage": label, "alignment": None}
    return headline(stage, name=lambda s: code(s, NAME_WIDTH))


def long_names(stage: dict) -> list[str]:
    """Every kernel name the stage's tables shorten, in full, sorted."""
    names = {r["name"] for r in stage.get("kernels", [])} | {r["name"] for r in stage.get("overlap", [])}
    names |= {k for g in stage.get("launch_groups", [])[:20] for k in g["kernels"]}
    names |= {e for f in stage.get("fusions", []) for e in f["evidence"][:3]}
    return sorted(n for n in names if len(n) > PART_WIDTH)


@lru_cache(maxsize=1)
def overlap_rules() -> dict:
    """The verdict, priority and dependency thresholds the overlap table's legend states."""
    cfg = load_config()
    return {"verdict": cfg["verdict"], "priority": cfg["priority"], "dep": cfg["dep"]}


class _CompiledTemplates(jinja2.FileSystemBytecodeCache):
    """Compiled templates kept between processes in the state directory (compiling them took ~90 ms of
    every process that renders; jinja2 recompiles a template whose source changed). A cache that
    cannot be read or written is skipped, never an error."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except OSError:
            pass

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def _template_cache() -> jinja2.BytecodeCache | None:
    folder = settings().state_dir / "cache" / "templates"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return _CompiledTemplates(str(folder))


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The jinja2 environment with our filters."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        bytecode_cache=_template_cache(),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(md=md, ns=fmt_ns, pct=pct, short=short, code=code, headline_md=headline_md,
                       long_names=long_names)
    env.globals.update(overlap_rules=overlap_rules, name_width=NAME_WIDTH, part_width=PART_WIDTH)
    return env


def render(template: str, **context: object) -> str:
    """Render `templates/<template>`."""
    return environment().get_template(template).render(**context)


def render_report_markdown(report: dict) -> str:
    """One trace root's triage report as markdown."""
    return render("report.md.j2", report=report, heading_level=1)
