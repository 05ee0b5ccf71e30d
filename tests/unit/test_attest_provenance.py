"""The provenance statement: an in-toto Statement v1 with an SLSA Provenance v1 predicate."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jupyter_containerize.core.attest.errors import AttestInputError
from jupyter_containerize.core.attest.provenance import (
    BUILD_TYPE,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    build_provenance,
    statement_bytes,
    subject_digests,
)

IMAGE = "sha256:" + "1" * 64
BASE = "sha256:" + "2" * 64


def _args(**changes: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "image_name": "127.0.0.1:5000/team/classifier", "image_digest": IMAGE,
        "notebook_path": "examples/classifier/classifier.ipynb", "notebook_sha256": "3" * 64,
        "lock_sha256": "sha256:" + "4" * 64, "build_path": "layers",
        "base_image": "python:3.11-slim", "base_digest": BASE,
        "started": "2026-01-31T12:00:00Z", "finished": "2026-01-31T12:03:10Z",
    }  # fmt: skip
    args.update(changes)
    return args


def test_statement_says_what_was_built_from_what() -> None:
    statement = build_provenance(**_args(sbom_sha256="5" * 64, invocation_id="run-7",
                                         builder_versions={"docker": "20.10.24"}))  # fmt: skip
    assert statement["_type"] == STATEMENT_TYPE == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == PREDICATE_TYPE == "https://slsa.dev/provenance/v1"
    assert statement["subject"] == [
        {"name": "127.0.0.1:5000/team/classifier", "digest": {"sha256": "1" * 64}}
    ]
    definition = statement["predicate"]["buildDefinition"]
    assert definition["buildType"] == BUILD_TYPE
    assert definition["externalParameters"] == {
        "notebook": {"path": "examples/classifier/classifier.ipynb", "sha256": "3" * 64},
        "lock": {"sha256": "4" * 64}, "buildPath": "layers", "platform": "linux/amd64",
    }  # fmt: skip
    assert definition["resolvedDependencies"] == [{
        "uri": "pkg:oci/python@sha256:" + "2" * 64, "name": "python:3.11-slim",
        "digest": {"sha256": "2" * 64},
    }]  # fmt: skip
    run = statement["predicate"]["runDetails"]
    assert run["builder"]["id"].startswith("urn:jupyter-containerize:builder")
    assert run["builder"]["version"]["docker"] == "20.10.24"
    assert "jupyter-containerize" in run["builder"]["version"]
    assert run["metadata"] == {"invocationId": "run-7", "startedOn": "2026-01-31T12:00:00Z",
                               "finishedOn": "2026-01-31T12:03:10Z"}  # fmt: skip
    assert run["byproducts"][0]["digest"] == {"sha256": "5" * 64}
    assert subject_digests(statement) == [("127.0.0.1:5000/team/classifier", "1" * 64)]


def test_statement_bytes_are_canonical() -> None:
    one = statement_bytes(build_provenance(**_args()))
    assert one == statement_bytes(json.loads(one))
    assert b" " not in one.split(b'"path"')[0]  # compact


@pytest.mark.hostile
@pytest.mark.parametrize("changes, message", [
    ({"image_digest": "latest"}, "image digest 'latest' is not a sha256 digest"),
    ({"base_digest": "sha256:" + "A" * 64}, "base image digest 'sha256:AAAA"),
    ({"build_path": "kaniko"}, "build path 'kaniko' is not one of auto, layers, classic"),
    ({"finished": "2026-01-31T11:00:00Z"},
     "the build finished (2026-01-31T11:00:00Z) before it started (2026-01-31T12:00:00Z)"),
    ({"image_name": "evil\nname"}, "image name 'evil\\nname' is empty or holds control"),
    ({"notebook_path": ""}, "notebook path '' is empty or holds control characters"),
])  # fmt: skip
def test_bad_build_facts(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(AttestInputError) as caught:
        build_provenance(**_args(**changes))
    assert caught.value.message.startswith(message)
    assert caught.value.hint and "\n" not in caught.value.one_line()
