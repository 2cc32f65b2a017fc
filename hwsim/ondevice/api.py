"""``hwsim.tiny``: plan and time one on-device training step of a CNN under a sparse-update scheme."""
from __future__ import annotations

import os

import pandas as pd

from hwsim import models
from hwsim.dataflow.tiny import (GraphError, Precision, SchemeError, int8_graph, lifetimes, plan_arena,
                                 training_graph)
from hwsim.dataflow.tiny.contributions import ContributionError, Contributions, load_contributions
from hwsim.dataflow.tiny.contributions import search as contribution_search
from hwsim.dataflow.tiny.optimizer import calls_per_step, with_optimizer
from hwsim.dataflow.tiny.search import search_scheme
from hwsim.errors import HwsimError
from hwsim.inputs import MAX_BATCH, MAX_PATCHES, check_bool, check_type
from hwsim.ondevice.costs import mcu_table, npu_table
from hwsim.ondevice.result import KB, TinyResult
from hwsim.ondevice.targets import MCUTarget, NPUTarget, load_target

DEFAULT_CLASSES = 10  # the reference compiles its training graphs for a 10-class downstream task


def tiny(model, scheme=None, target: str = "mcu-stm32f746", reorder: bool = True, *, resolution: int | None = None,
         classes: int | None = None, patches: int | None = None,
         budget_kb: float | None = None, calibration=None, fused_casts: bool = True, contributions=None,
         batch: int = 1, momentum: bool = False) -> TinyResult:
    """One training step of ``model`` under ``scheme`` on ``target`` (default batch 1, plain SGD, as the
    reference).

    model: zoo name, YAML file or Graph (a CNN). scheme: ``full``, ``last-K``, ``bias-only[-K]``,
    ``MODEL:LABEL`` (published, e.g. ``mcunet-5fps:99kb``), a .yaml file, or a Scheme.
    target: ``mcu-stm32f746``, ``npu-256k`` or a target .yaml. reorder: apply each update as soon as its
    gradient exists. patches: grid of the patch-based frozen head (default: the target's; 1 = off).
    budget_kb: instead of a scheme, search one within this analytic extra memory: with ``contributions`` (a
    Contributions, a .yaml/.csv file of them, or a data set .npz to measure them on) the one with the largest
    summed accuracy contribution (hwsim.dataflow.tiny.contributions), else the one that updates the most
    parameters (hwsim.dataflow.tiny.search). calibration: a CSV of measured kernel calls (``kernel,
    macs, cycles``; see hwsim.ondevice.calibration.read_measurements): the MCU target's rates of the measured
    kernels are refitted from it before timing. fused_casts: False gives the reference compiler's un-fused graph
    (an fp32 copy of the int8 weights before each transposed conv and of the saved input before each weight
    gradient, each a cast op and an SRAM buffer).
    batch: images per step by gradient accumulation (> 1 implies no reordering: the result says reorder
    False); momentum: keep an SGD momentum buffer per trained parameter (hwsim.dataflow.tiny.optimizer).
    Latency and energy are per training image.
    classes: classifier outputs of a zoo model (default 10, the reference's downstream task; a model file
    fixes its own). Raises TypeError naming the argument for a wrongly typed one, HwsimError (a ValueError)
    naming the argument on a bad value.
    """
    _check_types(model, scheme, target, reorder, resolution, classes, patches, budget_kb)
    check_bool("fused_casts", fused_casts)
    check_bool("momentum", momentum)
    if calibration is not None:
        check_type("calibration", calibration, (str, os.PathLike), "a path to a .csv of measured kernel calls")
    check_type("batch", batch, (int,), "an int")
    if not 1 <= batch <= MAX_BATCH:
        raise HwsimError(f"batch: {batch!r} (expected an integer from 1 to {MAX_BATCH:,})", "--batch")
    reorder = reorder and batch == 1  # accumulated gradients cannot be applied in place
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
    if isinstance(grid, bool) or not isinstance(grid, int) or not 1 <= grid <= MAX_PATCHES:
        raise HwsimError(f"patches: {grid!r} (expected an integer from 1 to {MAX_PATCHES}; 1 = no patch-based "
                         "stage)", "--patches")
    precision = Precision(grad=tgt.precision.grad, wgrad=tgt.precision.wgrad)
    if (scheme is None) == (budget_kb is None):
        raise HwsimError(f"scheme: {scheme!r} with budget {budget_kb!r} (expected exactly one of a scheme or a "
                         "budget)", "--scheme/--budget")
    if contributions is not None and budget_kb is None:
        raise HwsimError("contributions: given without a budget (expected --budget KB with --contributions)",
                         "--contributions")
    search_info = None
    try:
        if budget_kb is not None:
            try:
                if contributions is None:
                    scheme, kb = search_scheme(graph, budget_kb, precision)
                    search_info = {"objective": "parameters", "extra_kb": round(kb, 3)}
                else:
                    choice = contribution_search(graph, budget_kb, _contributions(contributions, graph), precision)
                    scheme = choice.scheme
                    search_info = {"objective": "contribution", "predicted_gain": round(choice.gain, 6),
                                   "extra_kb": round(choice.extra_kb, 3), "method": choice.method,
                                   "evaluated": choice.evaluated}
            except SchemeError as exc:
                raise HwsimError(str(exc), "--budget") from None
            except ContributionError as exc:
                raise HwsimError(str(exc), "--contributions") from None
        tg = with_optimizer(training_graph(graph, scheme, reorder, precision, grid, fused_casts=fused_casts), batch,
                            momentum, precision)
    except SchemeError as exc:
        raise HwsimError(str(exc), "--scheme") from None
    except GraphError as exc:
        raise HwsimError(str(exc), "--model") from None
    lives = lifetimes(tg.tensors, tg.ops)
    plan = plan_arena(lives, len(tg.ops))
    table = mcu_table(tg.ops, tgt) if isinstance(tgt, MCUTarget) else npu_table(tg.ops, tgt)
    table["live_bytes"] = plan.live
    table["calls"] = calls_per_step(tg, batch)  # per step of `batch` images; costs below are per image
    share = table["calls"] / batch
    tensors = pd.DataFrame([{"name": p.life.name, "kind": p.life.kind, "bytes": p.life.nbytes, "start": p.life.start,
                             "end": p.life.end, "offset": p.offset} for p in plan.placements])
    flash = tg.param_bytes / KB + tgt.code_flash_kb
    return TinyResult(
        model=graph.name, scheme=tg.scheme.name, target=tgt.name, reorder=reorder,
        analytic_extra_kb=tg.analytic_extra_bytes / KB, peak_sram_kb=plan.peak / KB, max_live_kb=plan.max_live / KB,
        flash_kb=flash, latency_ms=float((table["seconds"] * share).sum() * 1e3),
        energy_mj=float((table["energy_j"] * share).sum() * 1e3),
        sram_budget_kb=float(tgt.sram_budget_kb), flash_budget_kb=float(tgt.flash_kb),
        trained_params=tg.trained_params, macs=int(table["macs"].sum()),
        patch_stage=f"{tg.stage.nodes[0]}..{tg.stage.nodes[-1]} in {grid}x{grid} patches" if tg.stage else None,
        ops=table, tensors=tensors, scheme_spec=tg.scheme,
        calibration=None if calib is None else calib.to_dict("records"), patches=grid, fused_casts=fused_casts,
        graph=tg, plan=plan, budget_search=search_info, batch=batch, momentum=momentum,
        optimizer_state_kb=sum(t.nbytes for t in tg.tensors if t.kind == "optim" or (batch > 1 and t.kind == "wgrad"))
        / KB)


def _contributions(spec, graph):
    """Contributions passed in, read from a .yaml/.csv file, or measured on a data set .npz."""
    if isinstance(spec, Contributions):
        return spec
    if str(spec).lower().endswith(".npz"):
        from hwsim.ondevice.contribution import measure
        from hwsim.ondevice.training import load_npz

        classes = int8_graph(graph)[-1].out_channels
        return measure(graph, load_npz(spec, tuple(graph.input_shape), classes, where="--contributions"))
    return load_contributions(spec)


def _check_types(model, scheme, target, reorder, resolution, classes, patches, budget_kb) -> None:
    """TypeError naming the argument for each wrongly typed one (values are checked where they are used)."""
    from hwsim.dataflow.tiny import Scheme

    check_type("model", model, (str, os.PathLike, models.Graph), "a zoo name, a model file path or a Graph")
    if scheme is not None:
        check_type("scheme", scheme, (str, os.PathLike, Scheme), "a scheme name, a .yaml path or a Scheme")
    check_type("target", target, (str, os.PathLike, MCUTarget, NPUTarget), "a target name, a .yaml path or a target")
    check_bool("reorder", reorder)
    for name, value in (("resolution", resolution), ("classes", classes), ("patches", patches)):
        if value is not None:
            check_type(name, value, (int,), "an int or None")
    if budget_kb is not None:
        check_type("budget_kb", budget_kb, (int, float), "a number of KB or None")


def _graph(model, resolution, classes):
    if isinstance(model, models.Graph):
        return model
    src = models.source(model)
    try:
        if isinstance(src, str) and classes is None and src in models.zoo.names() and \
                models.zoo.info(src).default_classes is not None:
            classes = DEFAULT_CLASSES  # a zoo classifier is sized for the reference's downstream task
        return models.load(src, resolution=resolution, classes=classes)
    except models.ModelError as exc:
        field = str(exc).split(":", 1)[0]
        raise HwsimError(str(exc), f"--{field}" if field in ("resolution", "classes") else "--model") from None
