"""Engines that time a schedule tile by tile: the numba kernel and its plain reference."""
from hwsim.engine.pipeline import run_pipeline
from hwsim.engine.reference import run_reference

__all__ = ["run_pipeline", "run_reference"]
