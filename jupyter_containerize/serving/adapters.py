"""One predict interface over every flavor's loaded object."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .errors import ClientError, ModelLoadError

METHODS = ("predict", "predict_proba")


def _to_array(inputs: Any) -> np.ndarray:
    to_numpy = getattr(inputs, "to_numpy", None)
    return to_numpy() if callable(to_numpy) else np.asarray(inputs)


class Adapter:
    """What the server needs of a model: predict by method, and what it expects."""

    platform = "python"
    batchable = True
    n_features: Optional[int] = None
    feature_names: Optional[list[str]] = None
    input_dtype: Any = np.float64
    example: Any = None
    methods: tuple[str, ...] = ("predict",)

    def predict(self, inputs: Any, method: str) -> Any:
        raise NotImplementedError


class EstimatorAdapter(Adapter):
    """Anything with ``predict`` (scikit-learn and look-alikes), from pickles and skops."""

    def __init__(self, obj: Any, source: str) -> None:
        if not callable(getattr(obj, "predict", None)):
            kind = type(obj).__name__
            raise ModelLoadError(f"{source} holds a {kind}, which has no predict method")
        self.obj = obj
        module = type(obj).__module__.split(".")[0]
        self.platform = "python" if module == "__main__" else module
        self.methods = tuple(m for m in METHODS if callable(getattr(obj, m, None)))
        n = getattr(obj, "n_features_in_", None)
        self.n_features = int(n) if isinstance(n, (int, np.integer)) else None
        names = getattr(obj, "feature_names_in_", None)
        self.feature_names = [str(x) for x in names] if names is not None else None

    def predict(self, inputs: Any, method: str) -> Any:
        return getattr(self.obj, method)(inputs)


class OnnxAdapter(Adapter):
    """An ONNX graph run by onnxruntime on the CPU; one input tensor of rows."""

    platform = "onnxruntime_onnx"
    _DTYPES = {
        "tensor(float)": np.float32,
        "tensor(double)": np.float64,
        "tensor(int64)": np.int64,
        "tensor(int32)": np.int32,
        "tensor(string)": np.object_,
        "tensor(bool)": np.bool_,
    }

    def __init__(self, path: Path) -> None:
        import onnxruntime

        self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        first = self.session.get_inputs()[0]
        self.input_name = first.name
        self.input_dtype = self._DTYPES.get(first.type, np.float32)
        shape = first.shape
        if len(shape) == 2 and isinstance(shape[1], int):
            self.n_features = shape[1]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.methods = METHODS if len(self.output_names) > 1 else ("predict",)

    def predict(self, inputs: Any, method: str) -> Any:
        array = _to_array(inputs).astype(self.input_dtype, copy=False)
        index = 1 if method == "predict_proba" else 0
        result = self.session.run([self.output_names[index]], {self.input_name: array})[0]
        if isinstance(result, list) and result and isinstance(result[0], dict):
            keys = sorted(result[0])
            return np.array([[row[k] for k in keys] for row in result])
        return result


def _objective_kind(objective: str) -> str:
    if objective.startswith(("binary", "cross_entropy")):
        return "binary"
    if objective.startswith(("multi:softprob", "multiclass", "softmax", "multiclassova")):
        return "multiclass"
    return "other"


def _booster_output(raw: np.ndarray, kind: str, method: str) -> np.ndarray:
    if kind == "binary":
        if method == "predict_proba":
            return np.column_stack([1.0 - raw, raw])
        return (raw > 0.5).astype(np.int64)
    if kind == "multiclass" and raw.ndim == 2:
        return raw if method == "predict_proba" else raw.argmax(axis=1)
    return raw


class XGBoostAdapter(Adapter):
    """An XGBoost booster saved with ``save_model`` (.ubj or .json)."""

    platform = "xgboost"

    def __init__(self, path: Path) -> None:
        import json

        import xgboost

        self.xgb = xgboost
        self.booster = xgboost.Booster()
        self.booster.load_model(str(path))
        self.n_features = int(self.booster.num_features()) or None
        config = json.loads(self.booster.save_config())
        objective = config["learner"]["objective"]["name"]
        self.kind = _objective_kind(objective)
        self.methods = METHODS if self.kind != "other" else ("predict",)

    def predict(self, inputs: Any, method: str) -> Any:
        raw = self.booster.predict(self.xgb.DMatrix(_to_array(inputs)))
        return _booster_output(np.asarray(raw), self.kind, method)


class LightGBMAdapter(Adapter):
    """A LightGBM booster saved as its text model file."""

    platform = "lightgbm"

    def __init__(self, path: Path) -> None:
        import lightgbm

        self.booster = lightgbm.Booster(model_file=str(path))
        self.n_features = int(self.booster.num_feature())
        objective = str(self.booster.params.get("objective", ""))
        if not objective:
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines()[:50]:
                if line.startswith("objective="):
                    objective = line.split("=", 1)[1]
                    break
        self.kind = _objective_kind(objective)
        self.methods = METHODS if self.kind != "other" else ("predict",)

    def predict(self, inputs: Any, method: str) -> Any:
        raw = np.asarray(self.booster.predict(_to_array(inputs)))
        return _booster_output(raw, self.kind, method)


class CustomAdapter(Adapter):
    """A directory whose predict.py defines ``load(model_dir)`` and ``predict(model, inputs)``."""

    platform = "python"

    def __init__(self, directory: Path) -> None:
        script = directory / "predict.py"
        if str(directory) not in sys.path:
            sys.path.append(str(directory))
        spec = importlib.util.spec_from_file_location("_served_predict", script)
        if spec is None or spec.loader is None:
            raise ModelLoadError(f"cannot import {script}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for name in ("load", "predict"):
            if not callable(getattr(module, name, None)):
                raise ModelLoadError(f"{script} must define {name}(); it does not")
        self.module = module
        self.model = module.load(str(directory))
        self.batchable = bool(getattr(module, "BATCHABLE", True))
        self.example = getattr(module, "EXAMPLE", None)
        n = getattr(self.model, "n_features_in_", None)
        self.n_features = int(n) if isinstance(n, (int, np.integer)) else None
        self.methods = ("predict",)

    def predict(self, inputs: Any, method: str) -> Any:
        if method != "predict":
            raise ClientError(400, f"this model has no {method}; it answers predict")
        return self.module.predict(self.model, inputs)
