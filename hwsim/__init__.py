"""hwsim: simulate DNN training on the SAT N:M sparse training accelerator.

    import hwsim
    r = hwsim.simulate("resnet50", "sat-vcu1525", method="bdwp", nm="2:8", batch=32)
    r.cycles, r.seconds, r.energy_j, r.phases, r.ops   # totals, per-phase, per-op DataFrame
"""
from hwsim.config import SATConfig, load_arch, preset_names
from hwsim.errors import ConfigError, HwsimError
from hwsim.result import Result
from hwsim.simulate import simulate

__all__ = ["ConfigError", "HwsimError", "Result", "SATConfig", "load_arch", "preset_names", "simulate"]
