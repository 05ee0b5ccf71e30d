"""Did the run reproduce the notebook's saved outputs?

Each code cell's saved outputs are compared with the executed ones: stdout and stderr streams,
``text/plain`` results and errors (``ename: evalue``). Numbers match within a relative
tolerance; what varies by itself (memory addresses, timestamps, durations, progress bars, temp
and site-packages paths) is ignored. A cell is "not comparable" when it saved no output, when
its display is only images, or when its output is only volatile or holds times the cell reads
from the clock. A cell whose outputs differ and which draws random numbers with no seed set
stays "differs", and its detail says so: that is the fix the user needs to hear.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..env.project import SECRET_PATTERNS

REL_TOL = 1e-6
INJECTED_TAGS = {"injected-parameters", "papermill-error-cell-tag"}

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_VOLATILE = [
    (re.compile(r"<[^<>\n]* at 0x[0-9a-fA-F]+>"), "<object>"),
    (re.compile(r"\b0x[0-9a-fA-F]{6,}\b"), "<address>"),
    (
        re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?"),
        "<time>",
    ),
    (re.compile(r"\b\d{1,2}:\d{2}:\d{2}(\.\d+)?\b"), "<time>"),
    (re.compile(r"(Wall time|CPU times|user|sys|total): [^\n]*"), r"\1: <duration>"),
    (re.compile(r"\b\d+(\.\d+)?\s?(ns|µs|us|ms|s|sec|secs|seconds|min|minutes)\b"), "<duration>"),
    (re.compile(r"(/tmp|/var/folders|/private/var)/[^\s'\"]*"), "<tmp>"),
    (re.compile(r"[^\s'\"]*/site-packages/"), "<site-packages>/"),
]
_PROGRESS = re.compile(r"\d+%\|[^\n]*|\|[#█▏▎▍▌▋▊▉ ]+\|[^\n]*|\d+(\.\d+)?(it|s)/(s|it)\]")
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|nan|inf")
_PLACEHOLDER = re.compile(r"<(object|address|time|duration|tmp)>")
_CLOCK = re.compile(
    r"\b(time\.(time|perf_counter|monotonic|process_time)|datetime\.(now|utcnow|today)"
    r"|date\.today|uuid\.uuid[14]|os\.getpid|secrets\.\w+)\s*\("
)
_RANDOM = re.compile(
    r"\b(np\.random|numpy\.random|random|torch)\.(rand\w*|random\w*|normal|uniform|choice|"
    r"shuffle|permutation|sample|gauss|integers|randn|randint)\s*\(|default_rng\(\s*\)"
)
_SEED = re.compile(
    r"\bseed\s*\(\s*[^)\s]|manual_seed\s*\(|default_rng\(\s*[^)\s]|\bRandomState\(\s*[^)\s]"
)


def normalize(text: str) -> str:
    """Text with volatile parts replaced by placeholders and progress bars dropped."""
    text = _ANSI.sub("", text)
    lines = []
    for line in text.replace("\r\n", "\n").split("\n"):
        line = line.rsplit("\r", 1)[-1]
        if _PROGRESS.search(line):
            continue
        lines.append(line.rstrip())
    text = "\n".join(lines).strip("\n")
    for pattern, placeholder in _VOLATILE:
        text = pattern.sub(placeholder, text)
    return text


def _items(outputs: list[dict[str, Any]]) -> tuple[list[tuple[str, str]], bool]:
    """(kind, text) pairs worth comparing, and whether there was an image-only display."""
    items: list[tuple[str, str]] = []
    images = False
    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream":
            name, text = f"stream:{out.get('name', 'stdout')}", _join(out.get("text", ""))
            if items and items[-1][0] == name:
                items[-1] = (name, items[-1][1] + text)
            else:
                items.append((name, text))
        elif kind in ("execute_result", "display_data"):
            data = out.get("data", {})
            if any(key.startswith("image/") for key in data):
                images = True
                continue
            if "text/plain" in data:
                items.append(("result", _join(data["text/plain"])))
        elif kind == "error":
            items.append(("error", f"{out.get('ename', '')}: {out.get('evalue', '')}"))
    return items, images


def _join(text: Any) -> str:
    return "".join(text) if isinstance(text, list) else str(text)


def _numbers_close(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    if math.isnan(x) and math.isnan(y):
        return True
    return math.isclose(x, y, rel_tol=REL_TOL, abs_tol=1e-12)


def texts_match(saved: str, executed: str) -> bool:
    """Equal after normalising, with numbers compared within ``REL_TOL``."""
    a, b = normalize(saved), normalize(executed)
    if a == b:
        return True
    if _NUMBER.sub("#", a) != _NUMBER.sub("#", b):
        return False
    return all(_numbers_close(x, y) for x, y in zip(_NUMBER.findall(a), _NUMBER.findall(b)))


def _first_difference(saved: str, executed: str) -> str:
    a, b = normalize(saved).split("\n"), normalize(executed).split("\n")
    for x, y in zip(a, b):
        if not texts_match(x, y):
            return f"saved {_short(x)}, got {_short(y)}"
    return f"saved {len(a)} lines, got {len(b)}"


def _short(text: str, width: int = 60) -> str:
    """``text`` quoted for a detail: what looks like a credential never is."""
    text = text.strip()
    for kind, pattern in SECRET_PATTERNS.items():
        text = pattern.sub(f"<{kind}>", text)
    return repr(text if len(text) <= width else text[: width - 1] + "…")


def compare_cell(
    saved: list[dict[str, Any]],
    executed: list[dict[str, Any]],
    source: str = "",
    seeded: bool = True,
) -> tuple[str, str]:
    """(status, detail) for one code cell: matching | differs | not comparable."""
    if not saved:
        return "not comparable", "no saved output"
    want, images = _items(saved)
    if not want:
        return "not comparable", "only images" if images else "no text output"
    if all(not _PLACEHOLDER.sub("", normalize(text)).strip(" \n:,;") for _, text in want):
        return "not comparable", "output is only times, addresses or durations"
    got, _ = _items(executed)
    detail = _difference(want, got)
    if not detail:
        return "matching", ""
    if _CLOCK.search(source):
        return "not comparable", "output holds times read from the clock"
    if not seeded and _RANDOM.search(source):
        detail += "; it draws random numbers without a seed (set one)"
    return "differs", detail


def _difference(want: list[tuple[str, str]], got: list[tuple[str, str]]) -> str:
    if [kind for kind, _ in want] != [kind for kind, _ in got]:
        kinds = ", ".join(kind for kind, _ in got) or "nothing"
        return f"saved {', '.join(kind for kind, _ in want)}, got {kinds}"
    for (kind, a), (_, b) in zip(want, got):
        if not texts_match(a, b):
            return f"{kind.replace('stream:', '')}: {_first_difference(a, b)}"
    return ""


def _executed_cells(executed: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        cell
        for cell in executed.get("cells", [])
        if not INJECTED_TAGS & set(cell.get("metadata", {}).get("tags", []))
    ]


def compare(
    source: dict[str, Any], executed: dict[str, Any], parameters_changed: list[str] | None = None
) -> dict[str, Any]:
    """The reproduction summary stored in ``RunRecord.reproduction``.

    Cell ``index`` is the 0-based position in the notebook; the text counts cells from 1.
    """
    cells: list[dict[str, Any]] = []
    ran = _executed_cells(executed)
    seen_source = ""
    for index, cell in enumerate(source.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        text = _join(cell.get("source", ""))
        seen_source += text + "\n"
        other = ran[index] if index < len(ran) else {}
        if other.get("cell_type") != "code":
            status, detail = "not comparable", "the executed notebook has no matching cell"
        else:
            status, detail = compare_cell(
                cell.get("outputs", []),
                other.get("outputs", []),
                text,
                seeded=bool(_SEED.search(seen_source)),
            )
        cells.append({"index": index, "status": status, "detail": detail})
    return summarize(cells, parameters_changed or [])


def summarize(cells: list[dict[str, Any]], parameters_changed: list[str]) -> dict[str, Any]:
    counts = {
        s: sum(1 for c in cells if c["status"] == s)
        for s in ("matching", "differs", "not comparable")
    }
    compared = counts["matching"] + counts["differs"]
    if parameters_changed or not compared:
        verdict = "not comparable"
    else:
        verdict = "differs" if counts["differs"] else "reproduced"
    return {
        "compared": compared,
        "matching": counts["matching"],
        "differing": counts["differs"],
        "not_comparable": counts["not comparable"],
        "cells": cells,
        "verdict": verdict,
        "text": _text(cells, compared, counts, parameters_changed),
    }


def _text(
    cells: list[dict[str, Any]],
    compared: int,
    counts: dict[str, int],
    parameters_changed: list[str],
) -> str:
    if not compared:
        text = "not comparable: no cell has saved output to compare"
    else:
        text = f"{counts['matching']} of {compared} cells reproduced"
        differing = [c for c in cells if c["status"] == "differs"]
        if differing:
            text += "; " + "; ".join(
                f"cell {c['index'] + 1} differs: {c['detail']}" for c in differing[:3]
            )
            if len(differing) > 3:
                text += f"; and {len(differing) - 3} more"
    if counts["not comparable"]:
        text += f" ({counts['not comparable']} not comparable)"
    if parameters_changed:
        text = (
            f"not comparable: parameters changed the run ({', '.join(parameters_changed)}); " + text
        )
    return text
