"""Reading notebooks: validation with one-line errors, imports, parameters, kernel interpreter."""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NotebookError

if TYPE_CHECKING:
    import nbformat

# Cell magics whose body is not Python: their cells hold no imports.
_FOREIGN_CELL_MAGICS = {
    "bash", "sh", "script", "html", "javascript", "js", "latex", "markdown", "svg",
    "perl", "ruby", "writefile", "file", "sql", "system", "sx",
}  # fmt: skip


def load_notebook(path: str | Path) -> nbformat.NotebookNode:
    """Read and validate a notebook; every failure is a :class:`NotebookError` of one line."""
    path = Path(path)
    if not path.is_file():
        what = "is a directory, not a notebook" if path.is_dir() else "does not exist"
        raise NotebookError(f"notebook {path} {what}", hint="pass the path of an .ipynb file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NotebookError(f"{path} cannot be read: {_first_line(str(exc))}") from exc
    if not text.strip():
        raise NotebookError(
            f"{path} is empty ({len(text.encode())} bytes), not a notebook",
            hint="restore it from version control, or save the notebook again from Jupyter",
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookError(
            f"{path} is not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}",
            hint="open it in Jupyter and save it again, or restore it from version control",
        ) from exc
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise NotebookError(f"{path} is not a notebook: it has no cells", hint="check the path")
    if _plainly_v4(data):
        return _node(data)  # type: ignore[no-any-return]
    if data.get("nbformat") == 4 and "metadata" not in data:
        raise NotebookError(
            f"{path} is not a valid notebook: it has no metadata",
            hint="open it in Jupyter, choose a kernel and save it again",
        )
    import nbformat

    try:
        nb: nbformat.NotebookNode = nbformat.reads(text, as_version=4)  # type: ignore[no-untyped-call]
        nbformat.validate(nb)
    except Exception as exc:  # nbformat raises several kinds for malformed notebooks
        raise NotebookError(
            f"{path} is not a valid notebook: {_first_line(_reason(exc))}",
            hint="open it in Jupyter and save it again",
        ) from exc
    return nb


class _Node(dict):  # type: ignore[type-arg]
    """A notebook dict with attribute access, as nbformat's NotebookNode has."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError as exc:
            raise AttributeError(key) from exc

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value


def _node(obj: Any) -> Any:
    if isinstance(obj, dict):
        return _Node((k, _node(v)) for k, v in obj.items())
    if isinstance(obj, list):
        return [_node(v) for v in obj]
    return obj


def _plainly_v4(data: dict[str, Any]) -> bool:
    """A well-formed nbformat 4 document, checked without loading the JSON schema machinery
    (which costs seconds at import); anything else goes through nbformat's validator."""
    if data.get("nbformat") != 4 or not isinstance(data.get("metadata"), dict):
        return False
    cells = data.get("cells")
    if not isinstance(cells, list):
        return False
    for cell in cells:
        if not isinstance(cell, dict) or not isinstance(cell.get("metadata"), dict):
            return False
        if cell.get("cell_type") not in ("code", "markdown", "raw"):
            return False
        if not isinstance(cell.get("source"), (str, list)):
            return False
        if cell["cell_type"] == "code" and not isinstance(cell.get("outputs"), list):
            return False
    return True


def _reason(exc: Exception) -> str:
    return str(getattr(exc, "message", "") or exc or type(exc).__name__)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "unknown error"


def notebook_sha256(path: str | Path) -> str:
    """sha256 hex digest of the notebook file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _cell_source(cell: Any) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _code_cells(nb: Any) -> list[str]:
    return [_cell_source(c) for c in nb.get("cells", []) if c.get("cell_type") == "code"]


def python_source(cell_source: str) -> str:
    """The Python of a code cell: magics and shell lines blanked, foreign cell magics dropped."""
    lines = cell_source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        magic = lines[0].lstrip()[2:].split(maxsplit=1)
        if not magic or magic[0] in _FOREIGN_CELL_MAGICS:
            return ""
        lines = [""] + lines[1:]
    out = []
    for line in lines:
        stripped = line.lstrip()
        out.append("" if stripped.startswith(("%", "!")) or stripped.endswith("?") else line)
    return "\n".join(out)


def imports_from_notebook(nb: Any) -> list[str]:
    """Sorted top-level module names that the notebook's code cells import (absolute only)."""
    names: set[str] = set()
    for source in _code_cells(nb):
        for tree in _parse(python_source(source)):
            names.update(_imports(tree))
    return sorted(names)


def _parse(source: str) -> list[ast.AST]:
    """The cell's syntax tree, or one tree per line that parses when the cell does not."""
    try:
        return [ast.parse(source)]
    except SyntaxError:
        pass
    trees: list[ast.AST] = []
    for line in source.splitlines():
        try:
            trees.append(ast.parse(line.strip()))
        except SyntaxError:
            continue
    return trees


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and _is_dynamic_import(node):
            value = node.args[0].value  # type: ignore[attr-defined]
            if value and not value.startswith("."):
                names.add(value.split(".")[0])
    return names


def _is_dynamic_import(node: ast.Call) -> bool:
    """``importlib.import_module("x")`` or ``__import__("x")`` with a literal name."""
    func = node.func
    named = (isinstance(func, ast.Name) and func.id in ("__import__", "import_module")) or (
        isinstance(func, ast.Attribute) and func.attr == "import_module"
    )
    if not named or not node.args:
        return False
    first = node.args[0]
    return isinstance(first, ast.Constant) and isinstance(first.value, str)


def parameters_cell(nb: Any) -> dict[str, object]:
    """Names and default values of the cell tagged ``parameters`` (papermill's convention).

    Values are literals (``ast.literal_eval``); a name bound to anything else (a call, an
    expression of other names) maps to its source text wrapped in :class:`Expression`.
    A tagged cell that is not valid Python raises :class:`NotebookError`.
    """
    for cell in nb.get("cells", []):
        tags = (cell.get("metadata") or {}).get("tags") or []
        if cell.get("cell_type") == "code" and "parameters" in tags:
            source = python_source(_cell_source(cell))
            try:
                ast.parse(source)
            except SyntaxError as exc:
                raise NotebookError(
                    f"the cell tagged parameters is not valid Python: line {exc.lineno}: "
                    f"{exc.msg}",
                    hint="fix that cell in Jupyter and save the notebook",
                ) from None
            return _assignments(source)
    return {}


class Expression(str):
    """The source text of a parameter default that is not a literal."""


def _assignments(source: str) -> dict[str, object]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    values: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                _bind(values, target, node.value, source)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            _bind(values, node.target, node.value, source)
    return values


def _bind(values: dict[str, object], target: ast.expr, value: ast.expr, source: str) -> None:
    if isinstance(target, ast.Name):
        values[target.id] = _literal(value, source)
    elif isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)):
        for sub_target, sub_value in zip(target.elts, value.elts):
            _bind(values, sub_target, sub_value, source)


def _literal(value: ast.expr, source: str) -> object:
    try:
        return ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return Expression(ast.get_source_segment(source, value) or ast.dump(value))


def kernelspec_of(path: str | Path) -> tuple[dict[str, Any], object]:
    """The notebook's ``metadata.kernelspec`` (empty when it names none) and its nbformat."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}, None
    if not isinstance(data, dict):
        return {}, None
    metadata = data.get("metadata")
    spec = metadata.get("kernelspec") if isinstance(metadata, dict) else None
    return (dict(spec) if isinstance(spec, dict) else {}), data.get("nbformat")


def kernel_name(path: str | Path) -> str | None:
    """The kernelspec name in the notebook's metadata, or None."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    spec = (data.get("metadata") or {}).get("kernelspec") or {} if isinstance(data, dict) else {}
    name = spec.get("name") if isinstance(spec, dict) else None
    return str(name) if name else None
