"""The numbers a run records, read from its executed notebook, and the table that compares runs.

A notebook records a metric in either of two ways (docs/runs.md):

- scrapbook's ``glue(name, value)``: an output whose data is
  ``application/scrapbook.scrap.json+json`` with the name and a JSON value;
- a code cell tagged ``metric`` or ``metric:NAME`` whose last value (its execute result) is a
  number: the name is NAME, else the cell's last line when it is a plain name.

Only numbers (not booleans) count; a later value of the same name replaces an earlier one.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

from ..errors import RunError

SCRAP_MIME = "application/scrapbook.scrap.json+json"
METRIC_TAG = "metric"


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) else None


def _text_number(text: str) -> float | int | None:
    text = text.strip()
    for kind in (int, float):
        try:
            return _number(kind(text))
        except ValueError:
            continue
    return None


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _tagged_name(cell: dict[str, Any]) -> str | None:
    """The metric name of a cell tagged metric[:NAME]; None when it is not tagged."""
    tags = (cell.get("metadata") or {}).get("tags") or []
    for tag in tags:
        if isinstance(tag, str) and tag.startswith(f"{METRIC_TAG}:") and tag[7:].isidentifier():
            return tag[7:]
    if METRIC_TAG in tags:
        lines = [ln.strip() for ln in _source(cell).splitlines() if ln.strip()]
        if lines and lines[-1].isidentifier():
            return lines[-1]
    return None


def from_notebook(nb: dict[str, Any]) -> dict[str, float | int]:
    """The metrics an executed notebook (its JSON) recorded."""
    found: dict[str, float | int] = {}
    for cell in nb.get("cells") or []:
        if cell.get("cell_type") != "code":
            continue
        tagged = _tagged_name(cell)
        for out in cell.get("outputs") or []:
            data = out.get("data") or {}
            scrap = data.get(SCRAP_MIME)
            if isinstance(scrap, dict) and isinstance(scrap.get("name"), str):
                value = _number(scrap.get("data"))
                if value is not None:
                    found[scrap["name"]] = value
            if tagged and out.get("output_type") == "execute_result":
                text = data.get("text/plain")
                value = _text_number("".join(text) if isinstance(text, list) else str(text))
                if value is not None:
                    found[tagged] = value
    return found


def collect(executed: str | Path) -> dict[str, float | int]:
    """The metrics of an executed notebook file ({} when it cannot be read)."""
    try:
        nb = json.loads(Path(executed).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return from_notebook(nb) if isinstance(nb, dict) else {}


def parse_best(spec: str) -> tuple[str, bool]:
    """``METRIC`` (highest is best) or ``METRIC:min`` / ``METRIC:max``: (name, highest)."""
    name, _, way = spec.partition(":")
    if not name.isidentifier() and not name.replace("-", "_").replace(".", "_").isidentifier():
        raise RunError(f"--best {spec!r}: {name!r} is not a metric name",
                       hint="give the metric's name, e.g. --best accuracy or --best loss:min")
    if way not in ("", "min", "max"):
        raise RunError(f"--best {spec!r}: {way!r} is neither min nor max",
                       hint="e.g. --best accuracy (highest) or --best loss:min (lowest)")
    return name, way != "min"


def best_row(rows: list[dict[str, Any]], spec: str) -> dict[str, Any] | None:
    """The succeeded row with the best value of the metric ``spec`` names; None when no
    succeeded run recorded it."""
    name, highest = parse_best(spec)
    scored = [r for r in rows if r.get("status") == "succeeded"
              and _number((r.get("metrics") or {}).get(name)) is not None]
    if not scored:
        return None
    pick = max if highest else min
    return pick(scored, key=lambda r: r["metrics"][name])


def columns(rows: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """The parameter and metric names the rows hold, in first-seen order."""
    params: dict[str, None] = {}
    names: dict[str, None] = {}
    for row in rows:
        params.update(dict.fromkeys(row.get("parameters") or {}))
        names.update(dict.fromkeys(row.get("metrics") or {}))
    return list(params), list(names)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def text_table(rows: list[dict[str, Any]], best: dict[str, Any] | None = None) -> str:
    """The comparison as aligned text: run, status, parameters, metrics; the best run marked."""
    params, names = columns(rows)
    head = ["run", "status", *params, *names]
    body = [[("* " if best is not None and r["id"] == best["id"] else "  ") + r["id"],
             r.get("status", ""),
             *(_cell((r.get("parameters") or {}).get(p)) for p in params),
             *(_cell((r.get("metrics") or {}).get(n)) for n in names)] for r in rows]
    head[0] = "  run"
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip()
             for line in [head, *body]]
    return "\n".join(lines)


def html_table(rows: list[dict[str, Any]], title: str,
               best: dict[str, Any] | None = None) -> str:
    """The comparison as a small standalone HTML page."""
    params, names = columns(rows)
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in ["run", "status", *params, *names])
    lines = []
    for r in rows:
        mark = ' class="best"' if best is not None and r["id"] == best["id"] else ""
        cells = [r["id"], r.get("status", ""),
                 *((r.get("parameters") or {}).get(p) for p in params),
                 *((r.get("metrics") or {}).get(n) for n in names)]
        lines.append(f"<tr{mark}>" + "".join(f"<td>{esc(_cell(c))}</td>" for c in cells)
                     + "</tr>")
    return ("<!doctype html><html><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}</title><style>body{{font-family:sans-serif}}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;"
            "text-align:right}tr.best{background:#e6f4ea;font-weight:bold}</style></head>"
            f"<body><h1>{esc(title)}</h1><table><tr>{head}</tr>{''.join(lines)}</table>"
            "</body></html>\n")
