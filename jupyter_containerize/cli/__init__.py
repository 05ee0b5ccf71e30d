"""`jupyter containerize VERB`: the command line over ``core.api``."""

from .app import main

__all__ = ["main"]
