"""hwsim: simulate DNN training on the SAT N:M sparse training accelerator.

    import hwsim
    r = hwsim.simulate("resnet50", "sat-vcu1525", method="bdwp", nm="2:8", batch=32)
    r.cycles, r.seconds, r.energy_j, r.phases, r.ops   # totals, per-phase, per-op DataFrame

``import hwsim`` is light: the public names below load on first use. The workloads, the scheduler and the RTL
live in ``hwsim.models``, ``hwsim.dataflow`` and ``hwsim.rtl``.
"""
from importlib import import_module

_LAZY = {
    "simulate": "hwsim.simulation",
    "Result": "hwsim.result",
    "SATConfig": "hwsim.config",
    "load_arch": "hwsim.config",
    "preset_names": "hwsim.config",
    "ConfigError": "hwsim.errors",
    "HwsimError": "hwsim.errors",
    "sweep": "hwsim.sweeps",
    "search": "hwsim.searches",
    "tiny": "hwsim.ondevice.api",
    "TinyResult": "hwsim.ondevice.result",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hwsim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
