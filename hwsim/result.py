"""Simulation results: a per-op table plus totals, serializable to JSON and CSV."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from hwsim.energy import COMPONENTS

PHASES = ("ff", "bp", "wu")


@dataclass(frozen=True)
class Result:
    """One simulated training (or inference) iteration. `ops` has one row per op in execution order."""

    model: str
    arch: str
    method: str
    nm: str | None
    batch: int
    clock_hz: float
    ops: pd.DataFrame = field(repr=False)
    options: dict = field(default_factory=dict)

    @property
    def cycles(self) -> int:
        return int(self.ops["cycles"].sum())

    @property
    def seconds(self) -> float:
        return self.cycles / self.clock_hz

    @property
    def energy_j(self) -> float:
        return float(self.ops["energy_j"].sum())

    @property
    def dram_bytes(self) -> int:
        return int(self.ops["dram_bytes"].sum())

    @property
    def macs(self) -> int:
        return int(self.ops["macs"].sum())

    @property
    def energy_breakdown(self) -> dict[str, float]:
        return {c: float(self.ops[f"e_{c}"].sum()) for c in COMPONENTS}

    @property
    def phases(self) -> dict[str, dict]:
        """Cycles, seconds, energy and DRAM bytes per phase (phases not simulated are absent)."""
        out = {}
        for phase, rows in self.ops.groupby("phase", sort=False):
            cyc = int(rows["cycles"].sum())
            out[phase] = {"cycles": cyc, "seconds": cyc / self.clock_hz, "energy_j": float(rows["energy_j"].sum()),
                          "dram_bytes": int(rows["dram_bytes"].sum())}
        return {p: out[p] for p in PHASES if p in out}

    def to_dict(self) -> dict:
        """The JSON object of `hwsim simulate --json`; every key is described in docs/json-output.md."""
        layers = json.loads(self.ops.drop(columns=[f"e_{c}" for c in COMPONENTS]).to_json(orient="records"))
        return {
            "model": self.model, "arch": self.arch, "method": self.method, "nm": self.nm, "batch": self.batch,
            "cycles": self.cycles, "seconds": self.seconds, "energy_j": self.energy_j,
            "dram_bytes": self.dram_bytes, "macs": self.macs, "clock_hz": self.clock_hz,
            "energy_breakdown_j": self.energy_breakdown, "options": self.options,
            "phases": self.phases, "layers": layers,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_csv(self, path: str | Path) -> None:
        self.ops.to_csv(path, index=False)
