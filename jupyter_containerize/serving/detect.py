"""Find the model file and tell its flavor from the file itself."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

from .errors import ModelLoadError

PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle", ".cloudpickle", ".cpkl", ".sav", ".dill")
MODEL_SUFFIXES = PICKLE_SUFFIXES + (".skops", ".onnx", ".ubj", ".json", ".txt", ".bst")
COMPRESSED_MAGIC = (b"\x78", b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x04\x22\x4d\x18")
EXPECTED = (
    "expected a pickle/joblib/cloudpickle file, .skops, .onnx, an XGBoost .ubj/.json, "
    "a LightGBM .txt, or a directory with predict.py"
)


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def resolve_model_path(path: str) -> Path:
    """The model file (or custom model directory) that ``path`` names."""
    target = Path(path)
    if not target.exists():
        raise ModelLoadError(f"no model at {target}: set MODEL_PATH to the model file")
    if target.is_file() or (target / "predict.py").is_file():
        return target
    candidates = sorted(
        p
        for p in target.iterdir()
        if p.is_file()
        and not p.name.startswith(".")
        and not p.name.endswith(".main.py")
        and p.suffix.lower() in MODEL_SUFFIXES
    )
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise ModelLoadError(f"no model file in {target}: {EXPECTED}")
    names = ", ".join(p.name for p in candidates)
    raise ModelLoadError(f"several model files in {target} ({names}): set MODEL_PATH to one")


def _sniff_pickle(head: bytes) -> str:
    if b"cloudpickle" in head:
        return "cloudpickle"
    return "pickle"


def _detect_text_model(path: Path, head: bytes) -> str:
    if path.suffix.lower() == ".txt":
        if head.startswith(b"tree\n") or head.startswith(b"tree\r\n"):
            if not _has_module("lightgbm"):
                raise ModelLoadError(f"{path.name} is a LightGBM model but lightgbm is missing")
            return "lightgbm"
        raise ModelLoadError(f"{path.name} is text without the LightGBM header: {EXPECTED}")
    if b'"learner"' in head:
        if not _has_module("xgboost"):
            raise ModelLoadError(f"{path.name} is an XGBoost model but xgboost is missing")
        return "xgboost"
    raise ModelLoadError(f"{path.name} is JSON but not an XGBoost model: {EXPECTED}")


def detect_flavor(path: Path) -> str:
    """One of joblib, pickle, cloudpickle, skops, onnx, xgboost, lightgbm, custom."""
    if path.is_dir() or path.name == "predict.py":
        return "custom"
    suffix = path.suffix.lower()
    if suffix == ".skops":
        return "skops"
    if suffix == ".onnx":
        return "onnx"
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    if suffix in (".txt", ".json"):
        return _detect_text_model(path, head)
    if suffix in (".ubj", ".bst"):
        if not _has_module("xgboost"):
            raise ModelLoadError(f"{path.name} is an XGBoost model but xgboost is missing")
        return "xgboost"
    if head[:1] == b"\x80":
        flavor = _sniff_pickle(head)
        return "joblib" if flavor == "pickle" and suffix == ".joblib" else flavor
    if suffix == ".joblib" or any(head.startswith(m) for m in COMPRESSED_MAGIC):
        return "joblib"
    raise ModelLoadError(f"cannot tell the flavor of {path.name}: {EXPECTED}")


def file_sha256(path: Path) -> str:
    """sha256 of a model file, or of a custom model directory's files in name order (what the
    runtime reports for a model, and what the project computes without importing numpy)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode() + b"\0")
        with open(file, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
