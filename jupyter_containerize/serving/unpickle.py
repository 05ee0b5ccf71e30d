"""Load pickles, including classes the notebook defined in ``__main__``."""

from __future__ import annotations

import pickle
import re
import sys
import types
from pathlib import Path
from typing import Any

from .detect import COMPRESSED_MAGIC
from .errors import ModelLoadError

_MISSING_ATTR = re.compile(r"Can't get attribute '([^']+)' on <module '(?:[\w.]*\.)?__main__'")


def main_source_for(path: Path) -> Path | None:
    """The ``<model>.main.py`` beside a model file, holding the notebook's defining cells."""
    for candidate in (path.with_name(path.stem + ".main.py"), Path(str(path) + ".main.py")):
        if candidate.is_file():
            return candidate
    return None


def exec_into_main(source_file: Path) -> None:
    """Run the defining cells and publish their names as attributes of ``__main__``."""
    namespace: dict[str, Any] = {"__name__": "__main__", "__file__": str(source_file)}
    code = compile(source_file.read_text(encoding="utf-8"), str(source_file), "exec")
    exec(code, namespace)  # noqa: S102 - the model's own source, shipped with the model
    main = sys.modules.get("__main__")
    if main is None:
        main = types.ModuleType("__main__")
        sys.modules["__main__"] = main
    for name, value in namespace.items():
        if not name.startswith("__"):
            setattr(main, name, value)


def _explain(path: Path, exc: Exception) -> ModelLoadError:
    text = str(exc)
    found = _MISSING_ATTR.search(text)
    if found:
        return ModelLoadError(
            f"{path.name} needs class {found.group(1)!r} defined in the notebook: put its "
            f"cells' source in {path.stem}.main.py or save the model with save_live_object"
        )
    if isinstance(exc, ModuleNotFoundError):
        return ModelLoadError(
            f"{path.name} needs module {exc.name!r}, which is not importable here "
            "(the notebook's helper files must be on PYTHONPATH)"
        )
    return ModelLoadError(f"cannot load {path.name}: {type(exc).__name__}: {text}")


def load_pickled(path: Path, flavor: str) -> Any:
    """Load a joblib, pickle or cloudpickle file."""
    source = main_source_for(path)
    if source is not None:
        try:
            exec_into_main(source)
        except Exception as exc:
            raise ModelLoadError(f"{source.name} failed: {type(exc).__name__}: {exc}") from exc
    try:
        if flavor == "joblib":
            import joblib

            return joblib.load(path)
        if flavor == "cloudpickle":
            import cloudpickle  # noqa: F401 - its functions rebuild by-value classes

        with open(path, "rb") as handle:
            return pickle.load(handle)
    except ImportError as exc:
        raise _explain(path, exc) from exc
    except Exception as exc:
        raise _not_a_pickle(path, exc) or _explain(path, exc) from exc


def _not_a_pickle(path: Path, exc: Exception) -> ModelLoadError | None:
    """A file that is no pickle at all (text saved under a model's name) says so."""
    with open(path, "rb") as handle:
        head = handle.read(16)
    if head[:1] == b"\x80" or any(head.startswith(m) for m in COMPRESSED_MAGIC):
        return None
    return ModelLoadError(
        f"{path.name} is not a pickle or joblib file (it starts {head!r}): "
        f"{type(exc).__name__}: {exc}"
    )
