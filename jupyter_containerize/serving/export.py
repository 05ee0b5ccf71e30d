"""Save a live notebook object so the serving container can load it without the notebook.

Importable on the host and in the kernel: stdlib only, cloudpickle when installed.
"""

from __future__ import annotations

import os
import sys
import tempfile
import types
from pathlib import Path
from typing import Any, Optional, Union

_INSTALLED = ("site-packages", "dist-packages")


def notebook_modules(folder: Union[str, Path]) -> list[types.ModuleType]:
    """Modules imported from files under ``folder`` (the notebook's helpers), not installed ones."""
    root = Path(folder).resolve()
    found = []
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file or name == "__main__" or "." in name:
            continue
        path = Path(file).resolve()
        if any(part in _INSTALLED for part in path.parts):
            continue
        if root == path.parent or root in path.parents:
            found.append(module)
    return found


def save_live_object(
    obj: Any, path: Union[str, Path], notebook_dir: Optional[Union[str, Path]] = None
) -> Path:
    """Pickle ``obj`` by value with cloudpickle: classes and functions defined in the notebook
    (``__main__``) or in helper modules of its folder travel inside the file.

    ``notebook_dir`` defaults to the current directory, which is the notebook's folder in a
    kernel. The file is written atomically; its path is returned.
    """
    try:
        import cloudpickle
    except ImportError:
        raise RuntimeError("save_live_object needs cloudpickle: pip install cloudpickle") from None
    target = Path(path)
    folder = Path(notebook_dir) if notebook_dir is not None else Path(os.getcwd())
    already = set(cloudpickle.list_registry_pickle_by_value())
    modules = notebook_modules(folder)
    main = sys.modules.get("__main__")
    if main is not None:
        modules.append(main)
    added = [m for m in modules if m.__name__ not in already]
    for module in added:
        cloudpickle.register_pickle_by_value(module)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=str(target.parent))
        try:
            with os.fdopen(fd, "wb") as handle:
                cloudpickle.dump(obj, handle)
            os.replace(tmp, target)
        except BaseException:
            os.unlink(tmp)
            raise
    finally:
        for module in added:
            cloudpickle.unregister_pickle_by_value(module)
    return target
