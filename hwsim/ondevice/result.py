"""TinyResult: one planned and timed on-device training step."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd

KB = 1024


@dataclass(frozen=True)
class TinyResult:
    """A training step of ``model`` under ``scheme`` on ``target``.

    ``ops``: one row per kernel call in execution order (cycles, seconds, energy, bytes alive while it runs).
    ``tensors``: one row per buffer (kind, bytes, first and last op, arena offset).
    Memory is in KB of 1024 bytes, as the paper.
    """

    model: str
    scheme: str
    target: str
    reorder: bool
    analytic_extra_kb: float
    peak_sram_kb: float
    max_live_kb: float
    flash_kb: float
    latency_ms: float
    energy_mj: float
    sram_budget_kb: float
    flash_budget_kb: float
    trained_params: int
    macs: int
    patch_stage: str | None
    ops: pd.DataFrame = field(repr=False, compare=False)
    tensors: pd.DataFrame = field(repr=False, compare=False)
    scheme_spec: object = field(default=None, repr=False)  # the resolved Scheme (depth, layers, ratios)
    calibration: list | None = field(default=None, repr=False)  # kernels refitted from --calibration, if any
    patches: int = 1  # the patch grid asked for (the stage it produced: ``patch_stage``)
    fused_casts: bool = True  # False: the reference's un-fused casts to fp32 before the backward kernels
    graph: object = field(default=None, repr=False, compare=False)  # the TrainingGraph (hwsim.ondevice.export)
    plan: object = field(default=None, repr=False, compare=False)  # its ArenaPlan
    budget_search: dict | None = None  # how --budget chose the scheme (objective, predicted gain, memory)
    batch: int = 1  # images per step (gradient accumulation)
    momentum: bool = False  # SGD momentum buffers kept
    optimizer_state_kb: float = 0.0  # gradient accumulators (batch > 1) and momentum buffers

    def __post_init__(self) -> None:
        for name in ("analytic_extra_kb", "peak_sram_kb", "max_live_kb", "flash_kb", "latency_ms", "energy_mj"):
            value = getattr(self, name)
            if not value >= 0:
                raise ValueError(f"{name}: {value!r} (expected a number >= 0)")
        if self.peak_sram_kb < self.max_live_kb:
            raise ValueError(f"peak_sram_kb: {self.peak_sram_kb} below the bytes alive {self.max_live_kb} "
                             "(expected an arena at least as large)")

    @property
    def fits(self) -> bool:
        """Planned arena within the target's SRAM budget and everything stored within its Flash."""
        return self.peak_sram_kb <= self.sram_budget_kb and self.flash_kb <= self.flash_budget_kb

    def peak_tensors(self) -> pd.DataFrame:
        """The tensors alive at the op where the most bytes are alive: what makes the peak."""
        t = int(self.ops["live_bytes"].to_numpy().argmax())
        rows = self.tensors[(self.tensors["start"] <= t) & (self.tensors["end"] >= t)]
        return rows.sort_values("bytes", ascending=False).reset_index(drop=True)

    @property
    def _scheme_detail(self) -> str:
        s = self.scheme_spec
        if s is None:
            return ""
        pairs = ", ".join(f"{i}:{r:g}" for i, r in zip(s.weight_layers, s.ratios))
        return f"  (bias depth {s.bias_depth}; weights {pairs or 'none'})"

    def to_dict(self) -> dict:
        """The JSON object of the ``hwsim tiny --json`` contract (plus phases, what makes the peak, and the
        per-op table ``ops_table`` and per-tensor table ``tensors_table``, one record per row of ``ops`` and
        ``tensors``)."""
        phases = {p: {"cycles": int(r["cycles"].sum()), "ms": float(r["seconds"].sum() * 1e3)}
                  for p, r in self.ops.groupby("phase", sort=False)}
        peak = self.peak_tensors()
        return {
            "model": self.model, "scheme": self.scheme, "target": self.target, "reorder": self.reorder,
            "analytic_extra_kb": round(self.analytic_extra_kb, 3), "peak_sram_kb": round(self.peak_sram_kb, 3),
            "max_live_kb": round(self.max_live_kb, 3), "flash_kb": round(self.flash_kb, 3),
            "latency_ms": round(self.latency_ms, 4), "energy_mj": round(self.energy_mj, 5), "fits": self.fits,
            "sram_budget_kb": self.sram_budget_kb, "flash_budget_kb": self.flash_budget_kb,
            "trained_params": self.trained_params, "macs": self.macs, "patch_stage": self.patch_stage,
            "scheme_spec": None if self.scheme_spec is None else {
                "bias_update_depth": self.scheme_spec.bias_depth, "weight_layers": list(self.scheme_spec.weight_layers),
                "ratios": list(self.scheme_spec.ratios)},
            "options": {"patches": self.patches, "fused_casts": self.fused_casts, "inplace_depthwise": True},
            "budget_search": self.budget_search, "batch": self.batch, "momentum": self.momentum,
            "optimizer_state_kb": round(self.optimizer_state_kb, 3),
            "phases": phases,
            **({"calibration": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
                                for row in self.calibration]} if self.calibration is not None else {}),
            "peak_op": self.ops["name"].iloc[int(self.ops["live_bytes"].to_numpy().argmax())],
            "peak_tensors": [{"name": r.name, "kind": r.kind, "kb": round(r.bytes / KB, 3)}
                             for r in peak.itertuples()],
            "ops_table": json.loads(self.ops.to_json(orient="records")),
            "tensors_table": json.loads(self.tensors.to_json(orient="records")),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def summary(self) -> str:
        """A readable text table."""
        d = self.to_dict()
        lines = [f"{'model':18s} {d['model']}", f"{'scheme':18s} {d['scheme']}{self._scheme_detail}",
                 f"{'target':18s} {d['target']}",
                 f"{'reorder':18s} {'yes' if d['reorder'] else 'no'}",
                 f"{'options':18s} patches {self.patches}x{self.patches}"
                 f"{' (' + self.patch_stage + ')' if self.patch_stage else ' (no patch stage)'}, casts "
                 f"{'fused' if self.fused_casts else 'un-fused'}, in-place depthwise",
                 *([f"{'optimizer':18s} batch {self.batch}{' (gradient accumulation)' if self.batch > 1 else ''}, "
                    f"{'momentum' if self.momentum else 'no momentum'}: {self.optimizer_state_kb:.1f} KB of "
                    "accumulators and momentum buffers"] if self.batch > 1 or self.momentum else []),
                 *([f"{'budget search':18s} by {self.budget_search['objective']}"
                    + (f", predicted gain {self.budget_search['predicted_gain']:+.4f}"
                       if "predicted_gain" in self.budget_search else "")] if self.budget_search else []),
                 f"{'analytic_extra_kb':18s} {d['analytic_extra_kb']:10.1f}  saved activations + masks + "
                 "trainable copies",
                 f"{'peak_sram_kb':18s} {d['peak_sram_kb']:10.1f}  planned arena (budget {self.sram_budget_kb:g})",
                 f"{'flash_kb':18s} {d['flash_kb']:10.1f}  (budget {self.flash_budget_kb:g})",
                 f"{'latency_ms':18s} {d['latency_ms']:10.2f}  per training image",
                 f"{'energy_mj':18s} {d['energy_mj']:10.3f}",
                 f"{'fits':18s} {'yes' if d['fits'] else 'NO'}",
                 *([f"{'calibration':18s} refitted " + ", ".join(f"{c['kernel']} {c['rate_before']:.3g} -> "
                                                            f"{c['rate']:.3g} MAC/cycle ({c['calls']} calls)"
                                                            for c in self.calibration)] if self.calibration else []),
                 f"{'trained_params':18s} {d['trained_params']:10d}",
                 "", f"peak at {d['peak_op']}:"]
        lines += [f"  {t['name']:28s} {t['kind']:7s} {t['kb']:8.1f} KB" for t in d["peak_tensors"][:8]]
        lines += ["", f"{'phase':10s} {'ms':>10s}"]
        lines += [f"{p:10s} {v['ms']:10.2f}" for p, v in d["phases"].items()]
        return "\n".join(lines)
