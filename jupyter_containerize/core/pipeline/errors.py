"""The error of a pipeline file, or of a use of it, that cannot run."""

from __future__ import annotations

from ..errors import ContainerizeError


class PipelineError(ContainerizeError):
    """A pipeline file, or a use of it, that cannot run: a usage error."""

    exit_code = 2
