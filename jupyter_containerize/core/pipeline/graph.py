"""The steps' dependency graph: an order that puts every step after the steps it needs, the
cycle that makes such an order impossible, and which steps lie upstream of a step."""

from __future__ import annotations

import graphlib
from collections.abc import Mapping, Sequence


def cycle(needs: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A cycle of the graph as ``[a, b, ..., a]`` (each step needs the one after it), or
    None when there is none."""
    try:
        graphlib.TopologicalSorter(needs).prepare()
    except graphlib.CycleError as exc:
        found = list(exc.args[1])
        return list(reversed(found))  # graphlib lists each step before the one needing it
    return None


def order(needs: Mapping[str, Sequence[str]]) -> list[str]:
    """Every step after the steps it needs; among steps free to go, the order they were given.

    ``needs`` must have no cycle (see :func:`cycle`)."""
    position = {name: i for i, name in enumerate(needs)}
    sorter = graphlib.TopologicalSorter(needs)
    sorter.prepare()
    found: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=lambda n: position.get(n, len(position)))
        found.extend(ready)
        sorter.done(*ready)
    return found


def upstream(needs: Mapping[str, Sequence[str]]) -> dict[str, set[str]]:
    """For every step, every step it depends on, directly or through others."""
    result: dict[str, set[str]] = {}
    for name in order(needs):
        above: set[str] = set()
        for need in needs.get(name, ()):
            above.add(need)
            above |= result.get(need, set())
        result[name] = above
    return result
