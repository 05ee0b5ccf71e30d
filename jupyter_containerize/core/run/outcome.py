"""What a finished run's executed notebook says: its status, the failing cell and its error,
and the output of a cell stopped mid-way (timeout, Ctrl-C, out of memory) recovered from the
log papermill streamed."""

from __future__ import annotations

import json
from typing import Any

from .reproduce import INJECTED_TAGS


def status(outcome: int | str) -> str:
    if outcome == "out of memory":
        return "failed"
    if isinstance(outcome, str):
        return outcome
    return "succeeded" if outcome == 0 else "failed"


def _running_cell(executed: dict[str, Any] | None,
                  states: tuple[str, ...] = ("running",)) -> int | None:
    """Index (in the executed notebook) of the cell papermill was running, if any."""
    cells = (executed or {}).get("cells", [])
    for index, cell in enumerate(cells):
        if cell.get("metadata", {}).get("papermill", {}).get("status") in states:
            return index
    return None


def with_streamed(executed: bytes, streamed: dict[int, list[str]]) -> bytes:
    """The executed notebook with its running cell's output as streamed so far.

    papermill saves the notebook when a cell starts and ends: a run stopped inside a cell
    (timeout, Ctrl-C, out of memory) would lose what that cell printed. The log has it.
    """
    try:
        nb = json.loads(executed)
    except ValueError:
        return executed
    index = _running_cell(nb)
    if index is None:
        return executed
    text = _streamed_text(streamed.get(index + 1, []))
    if not text:
        return executed
    cell = nb["cells"][index]
    outputs = cell.get("outputs") or []
    saved = "".join("".join(o.get("text", "")) for o in outputs
                    if o.get("output_type") == "stream")
    if text.strip() in saved:
        return executed
    kept = [o for o in outputs if o.get("output_type") != "stream"]
    cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": text + "\n"}, *kept]
    return (json.dumps(nb, indent=1, ensure_ascii=False) + "\n").encode()


def _streamed_text(lines: list[str]) -> str:
    """A cell's output from papermill's log lines: the logger ends each chunk of output with
    one more line end, so the empty line right after a line of text is the log's, not the
    notebook's."""
    kept: list[str] = []
    previous = ""
    for line in lines:
        if not line and previous:
            previous = line
            continue
        kept.append(line)
        previous = line
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept)


def out_of_memory(memory: str, executed: dict[str, Any] | None) -> dict[str, Any]:
    limit = f" (limit {memory})" if memory else ""
    running = _running_cell(executed, ("running", "failed"))
    cell = None
    if running is not None:
        source = _source_cells(executed)
        target = (executed or {}).get("cells", [])[running]
        cell = next((i for i, c in enumerate(source) if c is target), None)
    return {"message": f"killed: out of memory{limit}", "cell": cell, "ename": None,
            "evalue": None, "hint": "raise --memory, or make the notebook use less"}


def _source_cells(executed: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The executed notebook's cells without the ones papermill added."""
    return [c for c in (executed or {}).get("cells", [])
            if not INJECTED_TAGS & set(c.get("metadata", {}).get("tags", []))]


def error(executed: dict[str, Any] | None, code: int | str) -> dict[str, Any]:
    """Failing cell index (0-based, in the source notebook), ename and evalue."""
    for index, cell in enumerate(_source_cells(executed)):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                ename, evalue = out.get("ename"), out.get("evalue")
                return {"message": f"cell {index + 1} raised {ename}: {evalue}",
                        "cell": index, "ename": ename, "evalue": evalue}
    message = f"papermill exited with code {code} before running a cell"
    if executed is None:
        message += "; see the run's log"
    return {"message": message, "cell": None, "ename": None, "evalue": None}


def stopped(status: str, executed: dict[str, Any]) -> dict[str, Any]:
    cell = None
    for index, c in enumerate(_source_cells(executed)):
        if c.get("metadata", {}).get("papermill", {}).get("status") == "running":
            cell = index
    where = f" in cell {cell + 1}" if cell is not None else ""
    return {"message": f"{status}{where}", "cell": cell}
