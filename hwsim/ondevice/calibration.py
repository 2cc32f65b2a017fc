"""Calibration of the MCU cycle model: published latencies, and a user's measured per-kernel cycles.

The MCU model charges every GEMM-like kernel MACs / rate(family); the rates come in two groups, the int8 SIMD
kernels (forward; backward too when gradients are int8) and the fp32 backward kernels (data and weight
gradient). Published whole-network latencies cannot separate the families of a group (three networks with
similar mixes of pointwise, depthwise and first-layer convs), so each group has one fitted scale on top of the
preset's family ratios, fitted in two steps, each a closed-form least squares on relative error:

1. the int8 scale to TinyEngine's measured inference latencies on the STM32F746 (forward graph only, no
   patches);
2. with that fixed, the fp32 scale to the paper's measured training latencies with role ``fit``.

Entries with role ``check`` are held out and only compared. The data and their sources are in
``hwsim/ondevice/measured/published.yaml``; :func:`published_fit` returns both scales and a table of measured
against predicted latencies. ``hwsim tiny --calibration FILE`` instead refits individual kernels from a user's
measured cycles (:func:`refit_from_measurements`).
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd
import yaml

from hwsim import models
from hwsim.dataflow.tiny import Precision, training_graph
from hwsim.dataflow.tiny.scheme import Scheme
from hwsim.errors import ConfigError
from hwsim.ondevice.costs import mcu_terms
from hwsim.ondevice.targets import FAMILIES, MCUTarget


def published() -> dict:
    """The published latencies (see the module doc)."""
    text = resources.files("hwsim.ondevice").joinpath("measured", "published.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _terms(ops, target: MCUTarget) -> tuple[float, float, float]:
    int8 = fp32 = rest = 0.0
    for op in ops:
        a, b, c = mcu_terms(op, target)
        int8, fp32, rest = int8 + a, fp32 + b, rest + c
    return int8, fp32, rest


def inference_terms(model: str, resolution: int, classes: int, target: MCUTarget) -> tuple[float, float, float]:
    """Cycle terms of one int8 inference (the forward pass of the training graph, layer by layer)."""
    graph = models.load(model, resolution=resolution, classes=classes)
    tg = training_graph(graph, Scheme("inference", 0), True, _precision(target), 1)
    return _terms([op for op in tg.ops if op.phase == "forward"], target)


def training_terms(model: str, scheme: str, resolution: int, classes: int,
                   target: MCUTarget) -> tuple[float, float, float]:
    """Cycle terms of one training step on ``target`` (its patch grid, reordered)."""
    graph = models.load(model, resolution=resolution, classes=classes)
    tg = training_graph(graph, scheme, True, _precision(target), target.patches)
    return _terms(tg.ops, target)


def _precision(target: MCUTarget) -> Precision:
    return Precision(grad=target.precision.grad, wgrad=target.precision.wgrad)


def _scale(a: list[float], b: list[float], measured: list[float]) -> float:
    """u minimising sum(((a u + b) / m - 1)^2): the factor on the MAC term (rates divide by u)."""
    num = sum(ai * (mi - bi) / mi ** 2 for ai, bi, mi in zip(a, b, measured))
    den = sum(ai ** 2 / mi ** 2 for ai, mi in zip(a, measured))
    return num / den


def scaled(target: MCUTarget, int8: float = 1.0, fp32: float = 1.0) -> MCUTarget:
    """``target`` with its int8 rates divided by ``int8`` and its fp32 rates by ``fp32`` (cycle factors)."""
    r = target.macs_per_cycle
    fwd = r.forward.model_copy(update={f: getattr(r.forward, f) / int8 for f in FAMILIES})
    dx = r.dx.model_copy(update={f: getattr(r.dx, f) / fp32 for f in FAMILIES})
    dw = r.dw.model_copy(update={f: getattr(r.dw, f) / fp32 for f in FAMILIES})
    return target.model_copy(update={"macs_per_cycle": r.model_copy(update={"forward": fwd, "dx": dx, "dw": dw})})


@dataclass(frozen=True)
class PublishedFit:
    """The two fitted cycle factors (1.0 = the target's rates already are the fit) and the comparison table."""

    int8_factor: float
    fp32_factor: float
    table: pd.DataFrame  # kind, model, role, measured_ms, predicted_ms, ratio (predicted / measured)

    def check_ratios(self) -> list[float]:
        return list(self.table.loc[self.table["role"] == "check", "ratio"])


def published_fit(target: MCUTarget, data: dict | None = None) -> PublishedFit:
    """Fit the int8 and fp32 cycle factors of ``target`` to the published latencies (see the module doc)."""
    data = published() if data is None else data
    inf = []
    for e in data["inference"]:
        i8, f32, rest = inference_terms(e["model"], e["resolution"], e["classes"], target)
        k = e["published_macs"] / _graph_macs(e["model"], e["resolution"], e["classes"])  # published / ours
        inf.append((e, i8 * k, (f32 + rest) * k, e["ms"] * 1e3 * e["clock_mhz"]))
    fit = [t for t in inf if t[0]["role"] == "fit"]
    u8 = _scale([t[1] for t in fit], [t[2] for t in fit], [t[3] for t in fit])
    tr = []
    for e in data["training"]:
        i8, f32, rest = training_terms(e["model"], e["scheme"], e["resolution"], e["classes"], target)
        tr.append((e, f32, i8 * u8 + rest, e["ms"] * 1e3 * e["clock_mhz"]))
    fit = [t for t in tr if t[0]["role"] == "fit"]
    u32 = _scale([t[1] for t in fit], [t[2] for t in fit], [t[3] for t in fit]) if fit else 1.0
    rows = [_row("inference", e, i8 * u8 + other) for e, i8, other, _ in inf]
    rows += [_row("training", e, f32 * u32 + other) for e, f32, other, _ in tr]
    table = pd.DataFrame(rows)
    table["ratio"] = table["predicted_ms"] / table["measured_ms"]
    return PublishedFit(u8, u32, table)


def _row(kind: str, e: dict, cycles: float) -> dict:
    return {"kind": kind, "model": e["model"], "resolution": e["resolution"], "board_mhz": e["clock_mhz"],
            "source": e["source"], "role": e["role"], "measured_ms": e["ms"],
            "predicted_ms": cycles / (e["clock_mhz"] * 1e3)}


def _graph_macs(model: str, resolution: int, classes: int) -> int:
    from hwsim.dataflow.tiny import int8_graph

    return sum(n.macs for n in int8_graph(models.load(model, resolution=resolution, classes=classes))
               if n.kind in ("conv", "linear"))


# ---- a user's measurements -------------------------------------------------------------------------------

KERNELS = tuple(FAMILIES) + tuple(f"dx.{f}" for f in FAMILIES) + tuple(f"dw.{f}" for f in FAMILIES)


MAX_CALIBRATION_BYTES = 1 << 20
"""Largest calibration CSV (1 MiB: a measured call is a line of about 30 bytes)."""


def read_measurements(path: str | Path) -> pd.DataFrame:
    """A CSV of measured kernel calls: columns ``kernel`` (pw, conv, dw, linear: int8 forward; dx.FAMILY,
    dw.FAMILY: backward data / weight gradient), ``macs`` and ``cycles`` (> 0). Raises ConfigError naming the
    row and field."""
    from hwsim.models.reading import FileInputError, read_text

    where = str(path)
    try:  # bounded like every reader: a regular file of plausible size, before pandas parses it
        text = read_text(path, MAX_CALIBRATION_BYTES, "a .csv of measured kernel calls")
    except FileInputError as exc:
        raise ConfigError(f"calibration: {exc}", "--calibration") from None
    try:
        df = pd.read_csv(io.StringIO(text))
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ConfigError(f"calibration: cannot read {where!r} ({str(exc).splitlines()[0]})", "--calibration") \
            from None
    missing = [c for c in ("kernel", "macs", "cycles") if c not in df.columns]
    if missing:
        raise ConfigError(f"calibration: missing column {missing[0]!r} (expected kernel, macs, cycles)", where)
    if df.empty:
        raise ConfigError("calibration: no rows (expected one measured kernel call per row)", where)
    for i, row in enumerate(df.itertuples(index=False), start=2):
        if row.kernel not in KERNELS:
            raise ConfigError(f"kernel: {row.kernel!r} (expected one of {', '.join(KERNELS)})", f"{where}:{i}")
        for field in ("macs", "cycles"):
            value = getattr(row, field)
            try:
                ok = float(value) > 0 and math.isfinite(float(value))
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise ConfigError(f"{field}: {value!r} (expected a number > 0)", f"{where}:{i}")
    return df.astype({"macs": float, "cycles": float})


def refit_from_measurements(target: MCUTarget, df: pd.DataFrame) -> tuple[MCUTarget, pd.DataFrame]:
    """``target`` with the rate of every measured kernel refitted: rate = sum(macs^2) / sum(macs x (cycles -
    per-call overhead)), the least-squares line through the origin of work against cycles. Kernels not
    measured keep the target's rates. Returns the target and a table (kernel, calls, old and new rate)."""
    r = target.macs_per_cycle
    tables = {"": r.forward.model_dump(), "dx": r.dx.model_dump(), "dw": r.dw.model_dump()}
    rows = []
    low = df[df["cycles"] <= target.op_overhead_cycles]
    if len(low):
        raise ConfigError(f"cycles: {low['cycles'].iloc[0]:g} for kernel {low['kernel'].iloc[0]!r} (expected more than "
                          f"the target's per-call overhead of {target.op_overhead_cycles} cycles, which is subtracted "
                          "before fitting)", "--calibration")
    for kernel, grp in df.groupby("kernel", sort=True):
        stage, _, family = kernel.rpartition(".")
        work = grp["cycles"] - target.op_overhead_cycles
        rate = float((grp["macs"] ** 2).sum() / (grp["macs"] * work).sum())
        rows.append({"kernel": kernel, "calls": len(grp), "rate_before": tables[stage][family], "rate": rate})
        tables[stage][family] = rate
    rates = r.model_copy(update={"forward": r.forward.model_validate(tables[""]),
                                 "dx": r.dx.model_validate(tables["dx"]), "dw": r.dw.model_validate(tables["dw"])})
    name = f"{target.name}+calibrated"
    return target.model_copy(update={"macs_per_cycle": rates, "name": name}), pd.DataFrame(rows)
