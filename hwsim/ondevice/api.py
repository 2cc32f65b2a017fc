"""``hwsim.tiny``: plan and time one on-device training step of a CNN under a sparse-update scheme."""
from __future__ import annotations

import pandas as pd

from hwsim import models
from hwsim.dataflow.tiny import GraphError, Precision, SchemeError, lifetimes, plan_arena, training_graph
from hwsim.dataflow.tiny.search import search_scheme
from hwsim.errors import HwsimError
from hwsim.ondevice.costs import mcu_table, npu_table
from hwsim.ondevice.result import KB, TinyResult
from hwsim.ondevice.targets import MCUTarget, load_target

DEFAULT_CLASSES = 10  # the reference compiles its training graphs for a 10-class downstream task


def tiny(model, scheme=None, target: str = "mcu-stm32f746", reorder: bool = True, *, resolution: int | None = None,
         classes: int | None = DEFAULT_CLASSES, patches: int | None = None,
         budget_kb: float | None = None, calibration=None, fused_casts: bool = True) -> TinyResult:
    """One training step (batch 1) of ``model`` under ``scheme`` on ``target``.

    model: zoo name, YAML file or Graph (a CNN). scheme: ``full``, ``last-K``, ``bias-only[-K]``,
    ``MODEL:LABEL`` (published, e.g. ``mcunet-5fps:99kb``), a .yaml file, or a Scheme.
    target: ``mcu-stm32f746``, ``npu-256k`` or a target .yaml. reorder: apply each update as soon as its
    gradient exists. patches: grid of the patch-based frozen head (default: the target's; 1 = off).
    budget_kb: instead of a scheme, search the one that updates the most parameters within this analytic
    extra memory (see hwsim.dataflow.tiny.search). calibration: a CSV of measured kernel calls (``kernel,
    macs, cycles``; see hwsim.ondevice.calibration.read_measurements): the MCU target's rates of the measured
    kernels are refitted from it before timing. fused_casts: False gives the reference compiler's un-fused graph
    (an fp32 copy of the int8 weights before each transposed conv and of the saved input before each weight
    gradient, each a cast op and an SRAM buffer).
    Raises HwsimError (a ValueError) naming the argument on bad input.
    """
    for name, value in (("reorder", reorder), ("fused_casts", fused_casts)):
        if not isinstance(value, bool):
            raise HwsimError(f"{name}: {value!r} (expected True or False)", f"{name}=")
    tgt = load_target(target)
    calib = None
    if calibration is not None:
        from hwsim.ondevice.calibration import read_measurements, refit_from_measurements
        if not isinstance(tgt, MCUTarget):
            raise HwsimError(f"calibration: {str(calibration)!r} for target {tgt.name} (expected an MCU target: "
                             "the NPU is timed by the SAT engine)", "--calibration")
        tgt, calib = refit_from_measurements(tgt, read_measurements(calibration))
    graph = _graph(model, resolution, classes)
    grid = tgt.patches if patches is None else patches
    if isinstance(grid, bool) or not isinstance(grid, int) or grid < 1:
        raise HwsimError(f"patches: {grid!r} (expected an integer >= 1; 1 = no patch-based stage)", "--patches")
    precision = Precision(grad=tgt.precision.grad, wgrad=tgt.precision.wgrad)
    if (scheme is None) == (budget_kb is None):
        raise HwsimError(f"scheme: {scheme!r} with budget {budget_kb!r} (expected exactly one of a scheme or a "
                         "budget)", "--scheme/--budget")
    try:
        if budget_kb is not None:
            try:
                scheme, _ = search_scheme(graph, budget_kb, precision)
            except SchemeError as exc:
                raise HwsimError(str(exc), "--budget") from None
        tg = training_graph(graph, scheme, reorder, precision, grid, fused_casts=fused_casts)
    except SchemeError as exc:
        raise HwsimError(str(exc), "--scheme") from None
    except GraphError as exc:
        raise HwsimError(str(exc), "--model") from None
    lives = lifetimes(tg.tensors, tg.ops)
    plan = plan_arena(lives, len(tg.ops))
    table = mcu_table(tg.ops, tgt) if isinstance(tgt, MCUTarget) else npu_table(tg.ops, tgt)
    table["live_bytes"] = plan.live
    tensors = pd.DataFrame([{"name": p.life.name, "kind": p.life.kind, "bytes": p.life.nbytes, "start": p.life.start,
                             "end": p.life.end, "offset": p.offset} for p in plan.placements])
    flash = tg.param_bytes / KB + tgt.code_flash_kb
    return TinyResult(
        model=graph.name, scheme=tg.scheme.name, target=tgt.name, reorder=reorder,
        analytic_extra_kb=tg.analytic_extra_bytes / KB, peak_sram_kb=plan.peak / KB, max_live_kb=plan.max_live / KB,
        flash_kb=flash, latency_ms=float(table["seconds"].sum() * 1e3), energy_mj=float(table["energy_j"].sum() * 1e3),
        sram_budget_kb=float(tgt.sram_budget_kb), flash_budget_kb=float(tgt.flash_kb),
        trained_params=tg.trained_params, macs=int(table["macs"].sum()),
        patch_stage=f"{tg.stage.nodes[0]}..{tg.stage.nodes[-1]} in {grid}x{grid} patches" if tg.stage else None,
        ops=table, tensors=tensors, scheme_spec=tg.scheme,
        calibration=None if calib is None else calib.to_dict("records"), patches=grid, fused_casts=fused_casts)


def _graph(model, resolution, classes):
    if isinstance(model, models.Graph):
        return model
    try:
        if isinstance(model, str) and model.lower().endswith((".yaml", ".yml")):
            return models.load(model)
        if classes is not None and str(model) in models.zoo.names() and \
                models.zoo.info(str(model)).default_classes is None:
            classes = None  # no classifier to size: the CNN check below names the real problem
        return models.load(str(model), resolution=resolution, classes=classes)
    except models.ModelError as exc:
        field = str(exc).split(":", 1)[0]
        raise HwsimError(str(exc), f"--{field}" if field in ("resolution", "classes") else "--model") from None
