"""The order of an environment's dependency layers, recorded in the lock.

One layer per distribution (``name==version``), in the order the lock has known them: a
package added to the environment becomes a new layer at the end, so every earlier layer is
reused as it is; a changed package leaves its place and goes to the end. Because the order
lives in the committed lock, the same lock gives the same layers, and the same image, on any
machine. Very large environments are packed into at most ``MAX_LAYERS`` groups (the engine's
storage driver limits the depth of an image).
"""

from __future__ import annotations

from typing import Any

MAX_LAYERS = 90


def pins(lock: dict[str, Any]) -> list[str]:
    return sorted((f"{p['name']}=={p['version']}" for p in lock.get("packages", [])),
                  key=str.lower)


def layer_order(old: dict[str, Any] | None, new: dict[str, Any]) -> list[list[str]]:
    """Groups of ``name==version``: the old lock's intact groups first, then the rest."""
    every = pins(new)
    present = set(every)
    groups = [list(g) for g in (old or {}).get("layers", []) if g and set(g) <= present]
    placed = {pin for g in groups for pin in g}
    groups += [[pin] for pin in every if pin not in placed]
    if len(groups) > MAX_LAYERS:
        groups = _pack(every, MAX_LAYERS)
    return groups


def _pack(items: list[str], count: int) -> list[list[str]]:
    size = -(-len(items) // count)
    return [items[i:i + size] for i in range(0, len(items), size)]
