"""Engines that time a schedule tile by tile: the numba kernels and their plain references."""
from hwsim.engine.offline import run_offline
from hwsim.engine.pipeline import run_pipeline
from hwsim.engine.reference import run_offline_reference, run_reference

__all__ = ["run_offline", "run_offline_reference", "run_pipeline", "run_reference"]
