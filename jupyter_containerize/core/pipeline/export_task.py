"""A pipeline's step as a cluster runs it: what the Argo and Kubeflow exports share.

The step runs as a run runs it: papermill from the image's tool environment with the image's
``python3`` kernelspec, the notebook in the project folder the image carries, the working
folder the notebook's, the executed notebook written under ``OUT_DIR``.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import ContainerizeError
from ..run.execute import OUT_DIR, TOOL_PYTHON


class ExportError(ContainerizeError):
    """A pipeline that cannot be exported: an image that cannot be pushed, a document that
    does not validate, a folder that cannot be written."""


@dataclass
class Task:
    """One step as a cluster runs it: everything an exporter needs, nothing of this host."""

    name: str
    image: str  # pinned: REPO@sha256:...
    notebook: str  # the notebook's path in the image
    parameters: dict[str, Any]
    needs: list[str]
    inputs: list[tuple[str, str]]  # (step, path relative to the notebook's folder)
    outputs: list[str]
    timeout: int | None  # seconds
    retries: int
    cpus: float | None
    memory: str | None  # a Kubernetes quantity, e.g. 256Mi
    gpus: int | None

    @property
    def folder(self) -> str:
        return str(PurePosixPath(self.notebook).parent)

    @property
    def executed(self) -> str:
        return f"{OUT_DIR}/{PurePosixPath(self.notebook).stem}.out.ipynb"

    def in_folder(self, rel: str) -> str:
        return str(PurePosixPath(self.folder) / rel)

    def papermill(self) -> list[str]:
        """The command a run starts in the container, its parameters given inline as YAML."""
        command = [TOOL_PYTHON, "-m", "papermill", self.notebook, self.executed, "-k", "python3",
                   "--log-output", "--no-progress-bar", "--cwd", self.folder]
        if self.parameters:
            command += ["-y", json.dumps(self.parameters, sort_keys=True)]
        return command

    def shell(self, copy_in: list[str], copy_out: list[str], executed: str | None,
              timeout: bool) -> str:
        """A ``sh -c`` script: each input file ``copy_in[i]`` (a path the cluster gives) copied
        to ``inputs[i]`` in the notebook's folder, papermill (under ``timeout`` when asked),
        then each declared output copied to ``copy_out[i]`` and the executed notebook to
        ``executed``."""
        q = shlex.quote
        lines = ["set -eu"]
        for given, (_, rel) in zip(copy_in, self.inputs):
            target = self.in_folder(rel)
            lines.append(f"mkdir -p {q(str(PurePosixPath(target).parent))} && "
                         f"cp {given} {q(target)}")
        run = " ".join(q(part) for part in self.papermill())
        if timeout and self.timeout:
            run = f"timeout {self.timeout} {run}"
        lines += [f"mkdir -p {q(OUT_DIR)}", run]
        for given, rel in zip(copy_out, self.outputs):
            lines.append(f'mkdir -p "$(dirname {given})" && cp {q(self.in_folder(rel))} {given}')
        if executed:
            lines.append(f'mkdir -p "$(dirname {executed})" && cp {q(self.executed)} {executed}')
        return "\n".join(lines)


def write(path: Path, text: str) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}",
                          hint="give --output a folder you can write to") from None
    return path
