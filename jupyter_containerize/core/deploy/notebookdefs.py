"""The notebook's own definitions that a pickled model needs, made importable where it is served.

A model saved with plain ``joblib.dump`` or ``pickle.dump`` from a notebook refers to classes
and functions the notebook defined by reference, as ``__main__.NAME``: unpickling it anywhere
else fails. We hold the notebook, so:

1. :func:`main_names` reads, from the pickle's opcodes and without loading it, which names it
   looks up in ``__main__`` (``None`` when the stream cannot be read that far, e.g. a joblib
   file with arrays written inline: then every definition is taken);
2. :func:`take` finds, over the notebook's code cells in order, the last top-level definition
   of each name (class, function, or a simple assignment), and what those use from earlier
   cells (imports, other definitions, constants), and returns that source as the text of
   ``<model>.main.py``, which the serving runtime runs into ``__main__`` before unpickling.

Statements that do work (training, plotting, prints, loops) are never taken; helper modules
in the notebook's folder travel with the model already, so their imports resolve.
"""

from __future__ import annotations

import ast
import builtins
import bz2
import gzip
import io
import json
import lzma
import pickletools
import symtable
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..env.notebook import python_source

_BUILTINS = set(dir(builtins))
_READ_LIMIT = 1 << 30  # never decompress more than this to look for names


@dataclass
class Taken:
    """What :func:`take` found: the module text and where each part came from."""

    source: str
    cells: list[int] = field(default_factory=list)  # code cells, counted from 1 over all cells
    names: list[str] = field(default_factory=list)  # the names the model needs, found
    missing: list[str] = field(default_factory=list)  # needed, defined by no cell


def _raw(path: Path) -> bytes:
    data = path.read_bytes()
    for magic, opener in ((b"\x1f\x8b", gzip.decompress), (b"BZh", bz2.decompress),
                          (b"\xfd7zXZ\x00", lzma.decompress)):
        if data.startswith(magic):
            return opener(data)[:_READ_LIMIT]
    if data[:1] == b"\x78":  # a zlib stream (joblib's default compressor)
        try:
            return zlib.decompressobj().decompress(data, _READ_LIMIT)
        except zlib.error:
            return data
    return data


def main_names(path: Path) -> set[str] | None:
    """Names the pickle at ``path`` looks up in ``__main__``; None where its stream cannot be
    read to the end without loading it."""
    try:
        data = _raw(path)
    except (OSError, EOFError, ValueError, lzma.LZMAError):
        return None
    if data.startswith(b"\x04\x22\x4d\x18"):  # lz4: not readable with the standard library
        return None
    names: set[str] = set()
    memo: dict[int, Any] = {}
    stack: list[Any] = []  # strings pushed (None for anything else), for STACK_GLOBAL
    try:
        for op, arg, _ in pickletools.genops(io.BytesIO(data)):
            name = op.name
            if name == "STOP":
                return names
            if name == "GLOBAL":
                module, _, attr = str(arg).partition(" ")
                if module == "__main__":
                    names.add(attr)
            elif name == "STACK_GLOBAL" and len(stack) >= 2 and stack[-2] == "__main__":
                names.add(str(stack[-1]))
            if name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"):
                stack.append(arg)
            elif name in ("BINGET", "LONG_BINGET", "GET"):
                stack.append(memo.get(int(str(arg))))
            elif name == "MEMOIZE":
                memo[len(memo)] = stack[-1] if stack else None
            elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
                memo[int(str(arg))] = stack[-1] if stack else None
            else:
                stack.append(None)
    except (ValueError, EOFError):
        pass  # bytes that are no opcode: arrays written inline (joblib)
    # not read to the end: a pickle that never names __main__ needs nothing of the notebook
    return None if b"__main__" in data else set()


@dataclass
class _Statement:
    cell: int
    order: int
    text: str
    provides: set[str]
    uses: set[str]
    future: bool = False
    definition: bool = False  # a function or a class


def _used(text: str) -> set[str]:
    """Module-level names a top-level statement reads (its functions' parameters and locals
    are not: the symbol table tells them apart)."""
    try:
        top = symtable.symtable(text, "<cell>", "exec")
    except SyntaxError:
        return set()
    used: set[str] = set()
    tables = [top]
    while tables:
        table = tables.pop()
        for sym in table.get_symbols():
            if not sym.is_referenced():
                continue
            if table is top and not (sym.is_assigned() or sym.is_imported()):
                used.add(sym.get_name())
            elif table is not top and sym.is_global():
                used.add(sym.get_name())
        tables += table.get_children()
    return used - _BUILTINS


def _segment(lines: list[str], node: ast.stmt) -> str:
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return "\n".join(lines[first - 1:node.end_lineno])


def _statements(nb: dict[str, Any]) -> list[_Statement]:
    out: list[_Statement] = []
    for number, cell in enumerate(nb.get("cells") or [], 1):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        text = python_source("".join(source) if isinstance(source, list) else str(source))
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        lines = text.splitlines()
        for node in tree.body:
            provides: set[str] = set()
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    if alias.name != "*":
                        provides.add(alias.asname or alias.name.split(".")[0])
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                provides.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if not all(isinstance(t, ast.Name) for t in targets):
                    continue
                provides = {t.id for t in targets if isinstance(t, ast.Name)}
            else:
                continue  # work, not a definition: never taken
            future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
            definition = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            segment = _segment(lines, node)
            out.append(_Statement(number, len(out), segment, provides, _used(segment),
                                  future, definition))
    return out


def take(notebook: Path, names: set[str] | None) -> Taken:
    """The notebook's definitions of ``names`` (None: every function and class), with what
    they use from earlier cells, as one module's source."""
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    statements = _statements(nb)
    last: dict[str, _Statement] = {}
    for st in statements:
        for name in st.provides:
            last[name] = st
    if names is None:
        names = {n for st in statements if st.definition
                 for n in st.provides if last.get(n) is st}
    chosen: dict[int, _Statement] = {}
    missing = sorted(n for n in names if n not in last)
    todo = [n for n in sorted(names) if n in last]
    while todo:
        found = last[todo.pop()]
        if found.order in chosen:
            continue
        chosen[found.order] = found
        todo += [n for n in found.uses if n in last]  # and what it uses, wherever defined
    for st in statements:
        if st.future and chosen:
            chosen[st.order] = st
    ordered = sorted(chosen.values(), key=lambda s: (not s.future, s.order))
    parts = [f"# cell {st.cell}\n{st.text}" for st in ordered]
    header = f'"""Definitions taken from {Path(notebook).name} so the model can be unpickled."""\n'
    future = [p for p, st in zip(parts, ordered) if st.future]
    rest = [p for p, st in zip(parts, ordered) if not st.future]
    source = "\n".join(future) + ("\n" if future else "") + header + "\n\n".join(rest) + "\n"
    return Taken(source, sorted({st.cell for st in ordered}),
                 sorted(n for n in names if n in last), missing)
