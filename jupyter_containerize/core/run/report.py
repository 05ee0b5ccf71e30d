"""HTML report of a run: the executed notebook (nbconvert, lab template) under a banner
holding the run record's summary: status, duration, parameters, reproduction, artifacts."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from ..models import RunRecord

_COLOURS = {"succeeded": "#1a7f37", "failed": "#cf222e", "timed out": "#9a6700",
            "cancelled": "#57606a"}
_STYLE = (
    "font-family:system-ui,sans-serif;font-size:14px;line-height:1.5;padding:12px 16px;"
    "margin:0 0 16px;border-left:6px solid {colour};background:#f6f8fa"
)


def report_path(output: str | Path) -> Path:
    """``<output stem>.html`` beside the executed notebook."""
    return Path(output).with_suffix(".html")


def banner(record: RunRecord) -> str:
    """The run's summary as an HTML block."""
    e = html.escape
    colour = _COLOURS.get(record.status, "#57606a")
    rows = [
        ("Status", f"<strong style='color:{colour}'>{e(record.status)}</strong>"),
        ("Run", e(record.id)),
        ("Image", e(record.image) + (f" ({e(record.image_digest)})" if record.image_digest
                                    else "")),
        ("Duration", f"{record.duration:.1f} s" if record.duration is not None else "-"),
        ("Parameters", e(json.dumps(record.parameters, sort_keys=True)) if record.parameters
         else "defaults"),
    ]
    if record.env_names:
        rows.append(("Environment", e(", ".join(record.env_names)) + " (values not recorded)"))
    if record.error:
        rows.append(("Error", e(str(record.error.get("message", "")))))
    if record.reproduction:
        rows.append(("Reproduction", e(record.reproduction.get("text", ""))))
    rows.append(("Artifacts", _artifacts(record.artifacts)))
    body = "".join(
        f"<tr><th style='text-align:left;padding-right:12px;vertical-align:top'>{k}</th>"
        f"<td>{v}</td></tr>" for k, v in rows
    )
    return (f"<div id='jupyter-containerize-run' style=\"{_STYLE.format(colour=colour)}\">"
            f"<table>{body}</table></div>")


def _artifacts(items: list[dict[str, Any]]) -> str:
    if not items:
        return "none"
    lines = [
        f"<code>{html.escape(a['path'])}</code> {a['size']} bytes, sha256 "
        f"<code>{html.escape(a['sha256'][:16])}…</code>" for a in items[:50]
    ]
    if len(items) > 50:
        lines.append(f"and {len(items) - 50} more")
    return "<br>".join(lines)


def render(notebook: Path, record: RunRecord) -> str:
    """The executed notebook as lab-template HTML with the banner at the top of the body."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook), as_version=4)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    marker = body.find("<body")
    if marker < 0:
        return banner(record) + body
    end = body.index(">", marker) + 1
    return body[:end] + banner(record) + body[end:]


def write_html(output: str | Path, record: RunRecord) -> Path:
    """Write ``<output stem>.html`` beside the executed notebook; returns its path."""
    target = report_path(output)
    target.write_text(render(Path(output), record), encoding="utf-8")
    return target
