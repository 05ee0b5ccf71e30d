"""Turn request bodies into model inputs: rows as arrays, or frames when columns are named."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from .errors import ClientError

try:  # pandas is optional: used for named columns when the user's environment has it
    import pandas as pd
except ImportError:  # pragma: no cover - depends on the environment
    pd = None

JSON_SHAPES = (
    'expected JSON {"instances": rows}, {"inputs": rows}, '
    '{"dataframe_split": {"columns": [...], "data": rows}}, '
    '{"dataframe_records": [{...}]} or a list of rows'
)


@dataclass
class Inputs:
    """A request's rows: ``data`` is an ndarray or a DataFrame; ``key`` says what merges."""

    data: Any
    rows: int
    key: tuple[Any, ...]


def from_array(array: np.ndarray) -> Inputs:
    return Inputs(array, int(array.shape[0]) if array.ndim else 1, ("array", array.shape[1:]))


def _array(rows: Any, n_features: Optional[int]) -> np.ndarray:
    try:
        array = np.asarray(rows)
    except ValueError as exc:
        if "maximum number of dimension" in str(exc):
            raise ClientError(400, "rows nest too deeply: a row is a list of values") from None
        raise ClientError(400, "rows must all have the same number of values") from None
    if array.dtype == object and array.ndim == 1 and any(isinstance(r, list) for r in rows):
        raise ClientError(400, "rows must all have the same number of values")
    if array.ndim == 0:
        raise ClientError(400, "expected a list of rows, got a single value")
    if array.ndim == 1 and n_features is not None and n_features > 1:
        array = array.reshape(1, -1)
    elif array.ndim == 1 and n_features == 1:
        array = array.reshape(-1, 1)
    return array


def check_features(array: np.ndarray, n_features: Optional[int]) -> None:
    if n_features is None or array.ndim != 2 or array.shape[1] == n_features:
        return
    got = array.shape[1]
    raise ClientError(400, f"expected {n_features} features per row, got {got}")


def from_columns(
    columns: Sequence[Any],
    data: Any,
    feature_names: Optional[list[str]],
    n_features: Optional[int],
) -> Inputs:
    """Rows with column names: a DataFrame when pandas exists, else an ordered array."""
    columns = [str(c) for c in columns]
    if not isinstance(data, list) or any(not isinstance(r, list) for r in data):
        raise ClientError(400, "dataframe_split.data must be a list of rows")
    if any(len(r) != len(columns) for r in data):
        raise ClientError(400, f"every row must have {len(columns)} values, one per column")
    order = columns
    if feature_names is not None:
        missing = [c for c in feature_names if c not in columns]
        if missing:
            raise ClientError(400, f"missing columns: {', '.join(missing[:10])}")
        order = feature_names
    elif n_features is not None and len(columns) != n_features:
        raise ClientError(400, f"expected {n_features} features per row, got {len(columns)}")
    if pd is not None:
        frame = pd.DataFrame(data, columns=columns)[order]
        return Inputs(frame, len(frame), ("frame", tuple(order)))
    index = [columns.index(c) for c in order]
    array = _array([[row[i] for i in index] for row in data], None)
    return Inputs(array, len(data), ("array", array.shape[1:]))


def _from_records(records: list[Any], names: Optional[list[str]], n: Optional[int]) -> Inputs:
    if not all(isinstance(r, dict) for r in records):
        raise ClientError(400, "dataframe_records must be a list of objects")
    columns = list(dict.fromkeys(k for r in records for k in r))
    data = [[r.get(c) for c in columns] for r in records]
    return from_columns(columns, data, names, n)


def parse_json_rows(body: Any, names: Optional[list[str]], n: Optional[int]) -> Inputs:
    """Any of the JSON shapes /invocations takes."""
    if isinstance(body, dict):
        if "dataframe_split" in body:
            split = body["dataframe_split"]
            if not isinstance(split, dict) or "data" not in split:
                raise ClientError(
                    400, 'expected "dataframe_split": {"columns": [...], "data": rows}'
                )
            columns = split.get("columns") or list(range(len((split["data"] or [[]])[0])))
            return from_columns(columns, split["data"], names, n)
        if "dataframe_records" in body:
            records = body["dataframe_records"]
            if not isinstance(records, list):
                raise ClientError(400, "dataframe_records must be a list of objects")
            return _from_records(records, names, n)
        rows = body.get("instances", body.get("inputs"))
        if rows is None:
            raise ClientError(400, JSON_SHAPES)
        if isinstance(rows, dict):
            columns = list(rows)
            return from_columns(columns, [list(r) for r in zip(*rows.values())], names, n)
        body = rows
    if not isinstance(body, list) or not body:
        raise ClientError(400, JSON_SHAPES if not isinstance(body, list) else "no rows given")
    if isinstance(body[0], dict):
        return _from_records(body, names, n)
    array = _array(body, n)
    check_features(array, n)
    return from_array(array)


def _cell(value: str) -> Any:
    try:
        return float(value)
    except ValueError:
        return value


def parse_csv(raw: bytes, n: Optional[int]) -> Inputs:
    """CSV rows without a header."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ClientError(400, "CSV body must be UTF-8 text") from None
    rows = [r for r in csv.reader(io.StringIO(text)) if r]
    if not rows:
        raise ClientError(400, "expected CSV rows without a header; the body has none")
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        raise ClientError(400, "CSV rows must all have the same number of values")
    try:
        array = np.array(rows, dtype=np.float64)
    except ValueError:
        array = np.array([[_cell(v) for v in r] for r in rows], dtype=object)
    check_features(array, n)
    return from_array(array)
