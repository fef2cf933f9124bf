"""Render reports to markdown with jinja2 templates (`templates/`, StrictUndefined)."""

from __future__ import annotations

import re
from functools import lru_cache

import jinja2

from pipeline.paths import TEMPLATES_DIR
from pipeline.report.headline import fmt_ns, pct

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|#])")


def md(value: object) -> str:
    """Escape text so markdown shows it literally (tables stay intact)."""
    if value is None:
        return "–"
    text = str(value).replace("\r", " ").replace("\n", " ")
    return _MD_SPECIAL.sub(r"\\\1", text)


def short(value: object, limit: int = 90) -> str:
    """Truncate long names with an ellipsis (the full name stays in the JSON)."""
    text = "–" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The jinja2 environment with our filters."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(md=md, ns=fmt_ns, pct=pct, short=short)
    return env


def render(template: str, **context: object) -> str:
    """Render `templates/<template>`."""
    return environment().get_template(template).render(**context)


def render_report_markdown(report: dict) -> str:
    """One trace root's triage report as markdown."""
    return render("report.md.j2", report=report, heading_level=1)
