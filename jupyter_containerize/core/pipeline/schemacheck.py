"""The pipeline file checked against ``schema.json``: each thing the schema refuses said as one
line that names the file, the step and the fix (a misspelt key with the key it resembles)."""

from __future__ import annotations

import difflib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import PipelineError

SCHEMA = Path(__file__).with_name("schema.json")


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


# --- the schema's errors as one line -------------------------------------------------------------

_TYPES = {"string": "text", "integer": "a whole number", "number": "a number",
          "object": "a mapping", "array": "a list", "boolean": "true or false"}


def _where(data: Any, path: list[Any]) -> tuple[str, list[Any]]:
    """``step 'NAME'`` (or ``step N``) and the rest of the path, for a path into ``data``."""
    if len(path) >= 2 and path[0] == "steps" and isinstance(path[1], int):
        step = data["steps"][path[1]]
        name = step.get("name") if isinstance(step, dict) else None
        shown = f"step {name!r}" if isinstance(name, str) and name else f"step {path[1] + 1}"
        return shown, path[2:]
    return "", path


def _field(rest: list[Any]) -> str:
    text = ""
    for part in rest:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 50 else text[:47] + "..."


def _schema_error(file: Path, data: Any, error: Any) -> PipelineError:
    where, rest = _where(data, list(error.absolute_path))
    name = _field(rest)
    prefix = f"{file.name}: " + (f"{where}: " if where else "")
    hint = str(error.schema.get("description", "")) if isinstance(error.schema, dict) else ""
    kind, value = error.validator, error.validator_value
    if kind == "required":
        missing = [k for k in value if k not in error.instance]
        key = missing[0] if missing else value[0]
        hint = error.schema.get("properties", {}).get(key, {}).get("description", hint)
        owner = f"'{name}'" if name else ("the step" if where else "the file")
        return PipelineError(f"{prefix}{owner} has no '{key}'", hint=f"add {hint}")
    if kind == "additionalProperties":
        known = list(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in known]
        key = str(extra[0]) if extra else "?"
        close = difflib.get_close_matches(key, known, n=1)
        fix = f"did you mean '{close[0]}'?" if close else f"the keys are: {', '.join(known)}"
        inside = f" in '{name}'" if name else ""
        return PipelineError(f"{prefix}unknown key '{key}'{inside}", hint=fix)
    label = f"'{name}'" if name else ("the step" if where else "the file")
    if kind == "type":
        types = value if isinstance(value, list) else [value]
        said = " or ".join(_TYPES.get(str(t), str(t)) for t in types)
        return PipelineError(f"{prefix}{label} must be {said}, not {_shown(error.instance)}",
                             hint=hint or f"give {said}")
    if kind in ("enum", "const"):
        allowed = value if kind == "enum" else [value]
        return PipelineError(f"{prefix}{label} cannot be {_shown(error.instance)}",
                             hint=f"use {' or '.join(_shown(a) for a in allowed)}")
    if "propertyNames" in error.absolute_schema_path:
        return PipelineError(f"{prefix}parameter {_shown(error.instance)} is not a Python "
                             "identifier", hint="letters, digits and _, not starting with a "
                                                "digit, e.g. parameters: {rows: 100}")
    if kind == "pattern":
        return PipelineError(f"{prefix}{label} cannot be {_shown(error.instance)}",
                             hint=hint or f"it must match {value}")
    if kind == "uniqueItems":
        return PipelineError(f"{prefix}{label} lists an entry twice", hint="list each once")
    if kind in ("minimum", "maximum", "minItems", "maxItems", "minLength"):
        what = {"minimum": f"at least {value}", "maximum": f"at most {value}",
                "minItems": f"at least {value} entries", "maxItems": f"at most {value} entries",
                "minLength": "not empty"}[kind]
        return PipelineError(f"{prefix}{label} must be {what}, not {_shown(error.instance)}",
                             hint=hint or "fix the value")
    first = str(error.message).splitlines()[0]
    return PipelineError(f"{prefix}{label}: {first}", hint=hint or "fix the value")


_RANK = {"additionalProperties": 0, "required": 2}  # a misspelt key before the one it misses


def _path_key(error: Any) -> tuple[list[tuple[int, Any]], int]:
    path = [(0, p) if isinstance(p, int) else (1, str(p)) for p in error.absolute_path]
    return path, _RANK.get(error.validator, 1)


def check_schema(file: Path, data: Any) -> None:
    """Raise the first mistake the schema finds (in the file's order), as one line."""
    from jsonschema import Draft202012Validator

    if data is None:
        raise PipelineError(f"{file.name} is empty",
                            hint="give it steps:, e.g. steps: [{name: prepare, notebook: "
                                 "prepare.ipynb}]")
    errors = sorted(Draft202012Validator(schema()).iter_errors(data), key=_path_key)
    if errors:
        raise _schema_error(file, data, errors[0])


# --- the checks of the whole -----------------------------------------------------------------
