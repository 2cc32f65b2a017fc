"""Simulation results: a per-op table plus totals, serializable to JSON and CSV."""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hwsim.energy import COMPONENTS

if TYPE_CHECKING:
    import pandas as pd

PHASES = ("ff", "bp", "wu")


@dataclass(frozen=True)
class Result:
    """One simulated training (or inference) iteration. `ops` has one row per op in execution order.

    The table is held as columns (name -> one value per op) and becomes a pandas DataFrame on first use of `ops`,
    so totals, phases and JSON need no pandas (`hwsim simulate --json` does not import it).
    """

    model: str
    arch: str
    method: str
    nm: str | None
    batch: int
    clock_hz: float
    columns: dict = field(repr=False)
    options: dict = field(default_factory=dict)
    resources: dict = field(default_factory=dict)   # the arch's resource estimate (hwsim.resources)
    arch_base: str | None = None                    # the preset/file `arch` was derived from, if any
    baseline: dict | None = None                    # the dense run of the same configuration, if asked for

    def with_baseline(self, base: Result) -> Result:
        """This result with `speedup` and `energy_saving` against `base` (the same configuration run dense)."""
        info = {"method": base.method, "cycles": base.cycles, "seconds": base.seconds, "energy_j": base.energy_j,
                "dram_bytes": base.dram_bytes, "speedup": base.cycles / self.cycles,
                "energy_saving": 1 - self.energy_j / base.energy_j}
        return replace(self, baseline=info)

    @property
    def speedup(self) -> float | None:
        """Baseline cycles over these cycles (None without a baseline)."""
        return self.baseline["speedup"] if self.baseline else None

    @property
    def energy_saving(self) -> float | None:
        """1 - energy / baseline energy (None without a baseline)."""
        return self.baseline["energy_saving"] if self.baseline else None

    @cached_property
    def ops(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.columns)

    def _sum(self, column: str, rows=slice(None)):
        return np.asarray(self.columns[column])[rows].sum()

    @property
    def cycles(self) -> int:
        return int(self._sum("cycles"))

    @property
    def seconds(self) -> float:
        return self.cycles / self.clock_hz

    @property
    def energy_j(self) -> float:
        return float(self._sum("energy_j"))

    @property
    def dram_bytes(self) -> int:
        return int(self._sum("dram_bytes"))

    @property
    def macs(self) -> int:
        return int(self._sum("macs"))

    @property
    def energy_breakdown(self) -> dict[str, float]:
        return {c: float(self._sum(f"e_{c}")) for c in COMPONENTS}

    @property
    def phases(self) -> dict[str, dict]:
        """Cycles, seconds, energy and DRAM bytes per phase (phases not simulated are absent)."""
        out = {}
        phase_of = np.asarray(self.columns["phase"])
        for phase in PHASES:
            rows = phase_of == phase
            if rows.any():
                cyc = int(self._sum("cycles", rows))
                out[phase] = {"cycles": cyc, "seconds": cyc / self.clock_hz,
                              "energy_j": float(self._sum("energy_j", rows)),
                              "dram_bytes": int(self._sum("dram_bytes", rows))}
        return {p: out[p] for p in PHASES if p in out}

    def to_dict(self) -> dict:
        """The JSON object of `hwsim simulate --json`; every key is described in docs/json-output.md."""
        keep = [c for c in self.columns if not c.startswith("e_") or c[2:] not in COMPONENTS]
        values = [np.asarray(self.columns[c]).tolist() for c in keep]  # Python ints, floats and strings
        layers = [dict(zip(keep, row)) for row in zip(*values)]
        return {
            "model": self.model, "arch": self.arch, "arch_base": self.arch_base, "method": self.method, "nm": self.nm,
            "batch": self.batch,
            "cycles": self.cycles, "seconds": self.seconds, "energy_j": self.energy_j,
            "dram_bytes": self.dram_bytes, "macs": self.macs, "clock_hz": self.clock_hz,
            "energy_breakdown_j": self.energy_breakdown, "options": self.options,
            "phases": self.phases, "resources": self.resources, "baseline": self.baseline,
            "speedup": self.speedup, "energy_saving": self.energy_saving, "layers": layers,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_csv(self, path: str | Path) -> None:
        self.ops.to_csv(path, index=False)
