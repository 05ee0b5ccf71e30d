"""The runtime's JSON codec: orjson's speed with the standard library's errors and literals."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from jupyter_containerize.serving import jsoncodec
from jupyter_containerize.serving.errors import ClientError


@pytest.fixture(params=["orjson", "stdlib"])
def codec(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> object:
    if request.param == "stdlib":
        monkeypatch.setattr(jsoncodec, "orjson", None)
    else:
        assert jsoncodec.orjson is not None, "orjson is a test dependency: pip install orjson"
    return jsoncodec


def test_rows_round_trip(codec: object) -> None:
    rows = np.random.default_rng(0).normal(size=(100, 20)).round(6).tolist()
    body = json.dumps({"inputs": rows}).encode()
    assert jsoncodec.loads(body) == {"inputs": rows}
    out = jsoncodec.dumps({"predictions": [1, 0.5, "a"], "name": "m"})
    assert json.loads(out) == {"predictions": [1, 0.5, "a"], "name": "m"}


def test_nan_literals_are_read_and_never_written(codec: object) -> None:
    got = jsoncodec.loads(b'{"inputs": [[NaN, Infinity, 1.5]]}')
    assert math.isnan(got["inputs"][0][0]) and got["inputs"][0][1] == math.inf
    out = jsoncodec.dumps({"predictions": [float("nan"), float("-inf"), 2.0]})
    assert json.loads(out) == {"predictions": [None, None, 2.0]}


def test_malformed_json_is_a_400_naming_the_place(codec: object) -> None:
    with pytest.raises(ClientError) as err:
        jsoncodec.loads(b'{"inputs": [[1, 2], ')
    assert err.value.status == 400
    assert "malformed JSON" in str(err.value) and "char" in str(err.value)
    with pytest.raises(ClientError):
        jsoncodec.loads(b"\xff\xfe not utf-8")


def test_numpy_scalars_in_metadata() -> None:
    assert json.loads(jsoncodec.dumps({"shape": [-1, np.int64(20)]})) == {"shape": [-1, 20]}
