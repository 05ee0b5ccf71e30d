"""``%containerize``: the verbs from inside a notebook, over ``core.api``."""

from .magics import ContainerizeMagics

__all__ = ["ContainerizeMagics"]
