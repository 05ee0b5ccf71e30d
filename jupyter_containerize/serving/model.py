"""A loaded, warmed-up model: its adapter, identity and metadata."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from . import adapters
from .detect import detect_flavor, file_sha256, resolve_model_path
from .errors import ModelLoadError
from .logs import one_line
from .unpickle import load_pickled

log = logging.getLogger("jupyter_containerize.serving")


def load_skops(path: Path, approved: tuple[str, ...] = ()) -> Any:
    """A skops file, trusting beyond skops' own list only the types the user approved."""
    try:
        import skops.io
    except ImportError:
        raise ModelLoadError(f"{path.name} is a skops file but skops is missing") from None
    untrusted = [str(t) for t in skops.io.get_untrusted_types(file=str(path))]
    refused = [t for t in untrusted if t not in approved]
    if refused:
        raise ModelLoadError(
            f"{path.name} holds types skops does not trust: {', '.join(refused)}; "
            "approve those you trust (SERVING_SKOPS_TRUSTED, comma separated) to load it"
        )
    return skops.io.load(str(path), trusted=untrusted)


def make_adapter(
    path: Path, flavor: str, skops_trusted: tuple[str, ...] = ()
) -> adapters.Adapter:
    if flavor in ("joblib", "pickle", "cloudpickle"):
        return adapters.EstimatorAdapter(load_pickled(path, flavor), path.name)
    if flavor == "skops":
        return adapters.EstimatorAdapter(load_skops(path, skops_trusted), path.name)
    if flavor == "onnx":
        return adapters.OnnxAdapter(path)
    if flavor == "xgboost":
        return adapters.XGBoostAdapter(path)
    if flavor == "lightgbm":
        return adapters.LightGBMAdapter(path)
    directory = path if path.is_dir() else path.parent
    return adapters.CustomAdapter(directory)


@dataclass
class ServedModel:
    """One model the server answers for."""

    name: str
    path: Path
    flavor: str
    sha256: str
    adapter: adapters.Adapter
    outputs: dict[str, tuple[Any, list[int]]] = field(default_factory=dict)

    @property
    def n_features(self) -> Optional[int]:
        return self.adapter.n_features

    def predict(self, inputs: Any, method: str = "predict") -> np.ndarray:
        if method not in self.adapter.methods:
            from .errors import ClientError

            offered = ", ".join(self.adapter.methods)
            raise ClientError(400, f"this model has no method {method!r}; it offers {offered}")
        result = self.adapter.predict(inputs, method)
        to_numpy = getattr(result, "to_numpy", None)
        return to_numpy() if callable(to_numpy) else np.asarray(result)

    def warm_up_input(self, last_row: Any = None) -> Any:
        """The last request's row when it fits this model, else a zeros row, else None."""
        n = self.n_features
        if last_row is not None:
            width = np.shape(last_row)[1] if np.ndim(last_row) == 2 else None
            if n is None or width == n:
                return last_row
        if self.adapter.example is not None:
            return self.adapter.example
        if n is not None:
            return np.zeros((1, n), dtype=self.adapter.input_dtype)
        return None

    def warm_up(self, last_row: Any = None) -> None:
        """Answer one predict per method, recording each output's dtype and shape."""
        sample = self.warm_up_input(last_row)
        if sample is None:
            log.info("model %s: no warm-up input known (no n_features); ready without", self.name)
            return
        for method in self.adapter.methods:
            result = self.predict(sample, method)
            self.outputs[method] = (result.dtype, [-1, *result.shape[1:]])


def load_model(
    path: str,
    name: Optional[str] = None,
    last_row: Any = None,
    skops_trusted: tuple[str, ...] = (),
) -> ServedModel:
    """Detect, load and warm up the model at ``path``; ModelLoadError says why not, in one
    line naming the file, whatever went wrong (user code may raise anything, even exit)."""
    try:
        target = resolve_model_path(path)
        flavor = detect_flavor(target)
    except OSError as exc:
        raise ModelLoadError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        adapter = make_adapter(target, flavor, skops_trusted)
        stem = target.name if target.is_dir() else target.stem
        model = ServedModel(name or stem, target, flavor, file_sha256(target), adapter)
    except ModelLoadError as exc:
        raise ModelLoadError(one_line(str(exc))) from exc
    except (Exception, SystemExit) as exc:
        text = one_line(f"{type(exc).__name__}: {exc}")
        raise ModelLoadError(f"cannot load {target.name}: {text}") from exc
    try:
        model.warm_up(last_row)
    except (Exception, SystemExit) as exc:
        text = one_line(f"{type(exc).__name__}: {exc}")
        raise ModelLoadError(f"{target.name}: warm-up predict failed: {text}") from exc
    return model
