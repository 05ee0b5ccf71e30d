"""The options of a run, checked before anything starts: one line with the fix for each.

``--timeout`` and ``--cpus`` are positive numbers, ``--memory`` is an amount in the engine's
forms (bytes, or a number with b, k, m or g: 512m, 2g, 1.5g), parameter names are Python
identifiers a notebook can assign; ``--env`` names variables, ``--data`` names host paths
that exist, ``--output`` and ``--artifacts`` are places a run may write. The CLI, the magic
and the server all pass through here
(``run`` calls :func:`check` first), so a bad value never builds an image or creates a job's
container.
"""

from __future__ import annotations

import keyword
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import RunError
from ..jobs.repair import MARKER as ARTIFACTS_MARKER

MIN_MEMORY = 6 * 1024 * 1024  # the engine refuses a smaller limit
MAX_BYTES = 2**63 - 1
MIN_CPUS = 0.01
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_MEMORY = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*([bkmgt]?)(?:i?b)?", re.IGNORECASE)
_MEMORY_FORMS = "bytes, or a number with b, k, m or g, e.g. 512m, 2g, 1.5g, 1073741824"


class RunOptionError(RunError):
    """A run option that is not valid: a usage error, like argparse's own."""

    exit_code = 2


@dataclass
class Checked:
    timeout: float | None
    cpus: float | None
    memory: int | None  # bytes
    parameters: dict[str, Any]


def check(
    timeout: Any = None, cpus: Any = None, memory: Any = None,
    parameters: dict[str, Any] | None = None,
) -> Checked:
    """Every run option at once; raises :class:`RunOptionError` for the first bad one."""
    return Checked(check_timeout(timeout), check_cpus(cpus), parse_memory(memory),
                   check_parameter_values(parameters or {}))


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def check_timeout(value: Any) -> float | None:
    if value is None:
        return None
    number = _number(value)
    if number is None or not math.isfinite(number) or number <= 0:
        raise RunOptionError(
            f"--timeout must be a positive number of seconds, not {_shown(value)}",
            hint="e.g. --timeout 600, or leave it out for the configured run_timeout",
        )
    return number


def check_cpus(value: Any) -> float | None:
    if value is None:
        return None
    number = _number(value)
    if number is None or not math.isfinite(number) or number < MIN_CPUS:
        raise RunOptionError(
            f"--cpus must be a number of CPUs of at least {MIN_CPUS}, not {_shown(value)}",
            hint="e.g. --cpus 0.5 or --cpus 2",
        )
    return number


def parse_memory(value: Any) -> int | None:
    """Bytes from the engine's forms of a memory amount (``512m``, ``2g``, ``1.5g``, bytes)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _bad_memory(value)
    if isinstance(value, int):
        amount = value
    else:
        match = _MEMORY.fullmatch(str(value).strip())
        if not match:
            raise _bad_memory(value)
        digits, unit = match.groups()
        if "." in digits and not unit.strip("bB"):
            raise _bad_memory(value)  # a fraction of a byte
        amount = int(float(digits) * _UNITS[unit.lower()])
    if amount < MIN_MEMORY:
        raise RunOptionError(
            f"--memory {_shown(value)} is below the engine's minimum of 6m",
            hint="give the run at least 6m; e.g. 512m",
        )
    if amount > MAX_BYTES:
        raise RunOptionError(f"--memory {_shown(value)} is too large", hint="e.g. 512m or 64g")
    return amount


def _bad_memory(value: Any) -> RunOptionError:
    return RunOptionError(f"--memory {_shown(value)} is not an amount of memory",
                          hint=f"use {_MEMORY_FORMS}")


def parse_parameter(value: str) -> Any:
    """A ``-p NAME VALUE`` string typed as papermill's CLI types it."""
    if value in ("True", "False"):
        return value == "True"
    if value == "None":
        return None
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            continue
    return value


def parameter_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """``-p NAME VALUE`` pairs as given on a command line, checked; values stay text."""
    found: dict[str, str] = {}
    for name, value in pairs:
        check_name(name)
        if name in found and found[name] != value:
            raise RunOptionError(f"-p {name} is given twice, with different values",
                                 hint="give each parameter once")
        _check_text(name, value)
        found[name] = value
    return found


def check_name(name: Any) -> None:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise RunOptionError(
            f"-p {_shown(name)}: a parameter name must be a Python identifier",
            hint="letters, digits and _, not starting with a digit, not a keyword; "
                 "e.g. -p learning_rate 0.1",
        )


def _check_text(name: str, value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RunOptionError(f"-p {name}: the value is not valid UTF-8 text",
                             hint="pass the value as UTF-8 text") from exc


def check_parameter_values(parameters: dict[str, Any]) -> dict[str, Any]:
    """Parameters handed to ``run`` (already typed): names and values papermill can pass."""
    if not isinstance(parameters, dict):
        raise RunOptionError("parameters must be a mapping of names to values",
                             hint='e.g. {"seed": 1}')
    for name, value in parameters.items():
        check_name(name)
        if isinstance(value, str):
            _check_text(name, value)
    if parameters:
        import yaml

        try:
            yaml.safe_dump(parameters, allow_unicode=True).encode("utf-8")
        except (yaml.YAMLError, UnicodeEncodeError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise RunOptionError(
                f"parameters cannot be passed to the notebook: {first}",
                hint="use numbers, text, true/false, null, and lists or mappings of them",
            ) from exc
    return parameters


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_env(entries: list[str] | None) -> dict[str, str]:
    """``NAME=VALUE`` or ``NAME`` (taken from this process's environment)."""
    env: dict[str, str] = {}
    for entry in entries or []:
        name, sep, value = entry.partition("=")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise RunError(f"--env {name!r} is not a valid variable name", hint="NAME=VALUE")
        if not sep:
            if name not in os.environ:
                raise RunError(f"--env {name}: it is not set here", hint=f"export {name} first")
            value = os.environ[name]
        env[name] = value
    return env


def parse_data(item: str, workdir: str) -> tuple[Path, str]:
    """``--data PATH[:IN_CONTAINER]``: the host path, and where it goes (relative: under
    ``workdir``)."""
    host, sep, target = item.partition(":")
    path = Path(host).expanduser()
    if not path.exists():
        raise RunError(f"--data {host}: no such file or folder", hint="PATH[:IN_CONTAINER]")
    target = target if sep and target else path.name
    if not target.startswith("/"):
        target = str(PurePosixPath(workdir) / target)
    return path, target


def check_output(output: Path) -> None:
    folder = output.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(
            f"cannot create {folder}: {exc.strerror}", hint="choose another --output"
        ) from exc
    if not os.access(folder, os.W_OK) or (output.exists() and not os.access(output, os.W_OK)):
        raise RunError(f"{output} is not writable", hint="choose another --output")


def check_artifacts(folder: Path, explicit: bool) -> None:
    """``--artifacts``: a folder that is new, empty, or one a run of ours wrote."""
    ours = (folder / ARTIFACTS_MARKER).exists()
    if explicit and folder.is_dir() and any(folder.iterdir()) and not ours:
        raise RunError(
            f"--artifacts {folder} is not empty and holds files no run of ours wrote",
            hint="pass an empty or new folder",
        )
