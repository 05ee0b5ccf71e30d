"""Pipelines of notebooks: a file of steps, each a frozen image and a run, in dependency order."""
