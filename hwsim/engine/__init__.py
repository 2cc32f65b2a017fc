"""Engines that time a schedule tile by tile: the numba kernels and their plain references.

The names load on first use (PEP 562): importing `hwsim.engine.native` must not import a kernel module, since the CLI
chooses how kernels are compiled before the first one is imported.
"""
import importlib

_HOMES = {"run_offline": "hwsim.engine.offline", "run_pipeline": "hwsim.engine.pipeline",
          "run_offline_reference": "hwsim.engine.reference", "run_reference": "hwsim.engine.reference"}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'hwsim.engine' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
