"""Zoo graphs built once per process, shared by a sweep's plan (which validates every model) and its points.

Light on purpose (no numba): `hwsim.sweeps` imports it while planning, before anything is simulated.
"""
from __future__ import annotations

from functools import lru_cache

from hwsim import models


@lru_cache(maxsize=256)
def zoo_graph(name: str, resolution: int | None, classes: int | None) -> models.Graph:
    """`models.load` of a zoo name (the graph is immutable: callers share it)."""
    return models.load(name, resolution=resolution, classes=classes)


def is_zoo_name(model) -> bool:
    """Whether a model argument names a zoo model (not a file)."""
    src = models.source(model)
    return isinstance(src, str) and src in models.zoo.names()
