"""The `hwsim` command line. Exit codes: 0 success, 2 bad input (one line on stderr), 1 internal error."""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import warnings
from contextlib import nullcontext
from functools import lru_cache
from pathlib import Path

from hwsim.inputs import MAX_BATCH, MAX_DIM, MAX_PATCHES, MAX_TOP, int_arg, show
from hwsim.outputs import atomic_write, input_paths, output_file, output_folder, staged_folder

EPILOG = "Exit codes: 0 success, 2 bad input (one line: 'hwsim: error: <what> (<where>)'), 1 internal error."


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as the one-line contract instead of usage + message."""

    def error(self, message: str) -> None:
        raise SystemExit(_fail(f"{message} ({self.prog})"))


def _fail(line: str, code: int = 2) -> int:
    """Print the one error line, every control character escaped (a name from a user or a file cannot forge
    a line or drive the terminal), and return the exit code."""
    from hwsim.models.reading import escape

    print(f"hwsim: error: {escape(line)}", file=sys.stderr)
    return code


def add_arch_options(p, default: str | None = "sat-vcu1525") -> None:
    """--arch and repeatable --set: every command that takes an architecture takes both."""
    p.add_argument("--arch", default=default, required=default is None,
                   help="preset name (see `hwsim presets`) or a spec .yaml file, which may start from "
                        "`base: PRESET|FILE`" + (" (default: %(default)s)" if default else ""))
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                   help="change one field of the arch, e.g. --set array.rows=64 (repeatable; the result's arch "
                        "name records the change)")


def load_arch_args(args):
    """The SATConfig named by --arch with every --set applied (a bad spec fails here, before any work)."""
    from hwsim.config import load_arch

    return load_arch(args.arch, args.overrides)


def _add_simulate(sub) -> None:
    p = sub.add_parser("simulate", help="simulate one training iteration of a model on an architecture",
                       description="Simulate one training iteration (FF, BP, WU + update) of a model on a SAT "
                                   "configuration, tile by tile, and report cycles, time, energy and DRAM traffic.",
                       epilog=EPILOG)
    p.add_argument("--model", required=True, help="zoo name (see `hwsim models`), a model .yaml file, an .onnx "
                                                  "file or a SCALE-Sim topology .csv")
    add_arch_options(p)
    p.add_argument("--method", default="dense", help="dense | srste | bdwp | transposable (default: %(default)s)")
    p.add_argument("--nm", default=None, help="N:M spec for sparse methods, e.g. 2:8")
    p.add_argument("--batch", type=int_arg("batch", 1, MAX_BATCH), default=32,
                   help="batch size, 1 to 65,536 (default: %(default)s)")
    p.add_argument("--resolution", type=int_arg("resolution", 1, MAX_DIM), default=None,
                   help="input resolution (sequence length for transformer blocks); default: the model's own")
    p.add_argument("--classes", type=int_arg("classes", 1, MAX_DIM), default=None,
                   help="classifier outputs; default: the model's own")
    p.add_argument("--phases", default="ff,bp,wu", help="comma list of ff,bp,wu; 'ff' alone simulates inference; "
                                                        "pre-generated N:M masks are made in wu (default: %(default)s)")
    p.add_argument("--no-pregen", action="store_true", help="select N:M weights as they load instead of "
                                                            "pre-generating them during the update")
    p.add_argument("--no-interleave", action="store_true", help="pay array fill/drain per block, not per tile")
    p.add_argument("--no-fuse", action="store_true", help="run every activation as its own vector pass")
    p.add_argument("--no-pad", action="store_true", help="run a phase dense when its reduction dim is not a "
                                                          "multiple of M, instead of zero-padding it")
    p.add_argument("--no-offline", action="store_true", help="run every op after the previous one instead of "
                                                              "overlapping the array and the vector engine")
    p.add_argument("--objective", default="latency", help="what the mapping search minimizes per GEMM: latency | "
                                                           "energy | edp (default: %(default)s)")
    p.add_argument("--dataflow", default=None, help="fix every GEMM's dataflow: os | ws | is (default: searched)")
    p.add_argument("--sparse-ends", action="store_true", help="also make the first layer and classifier N:M")
    p.add_argument("--unfold-bn", action="store_true",
                   help="an .onnx model from an eval-mode export: restore the BatchNorm it folded into each biased "
                        "convolution, so it costs what the training export costs")
    p.add_argument("--baseline", choices=["dense"], default=None,
                   help="also run the same configuration dense and report speedup and energy saving against it")
    p.add_argument("--strict-budget", action="store_true",
                   help="refuse an arch whose resource estimate exceeds its board (default: flag it and run)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument("--csv", type=Path, default=None, help="also write the per-op table to this CSV file")
    p.add_argument("--top", type=int_arg("top", 0, MAX_TOP), default=15,
                   help="rows of the layer table, repeated layers grouped (default: %(default)s)")
    p.set_defaults(run=_run_simulate)


def _run_simulate(args) -> int:
    from hwsim import models

    try:  # a missing, special or oversized model file fails before the simulator is imported
        models.check_source(args.model)
    except models.ModelError as exc:
        _bad(str(exc), "--model")
    from hwsim.engine import native

    if not native.activate():  # the kernels compiled ahead of time: no numba in this process (see there)
        from hwsim.engine.startup import import_registries_without_scipy

        import_registries_without_scipy()  # else a quarter of a second of numba's start-up (see there)
    from hwsim.simulation import simulate

    inputs = input_paths(args.model, args.arch)
    if args.csv:
        output_file(args.csv, "--csv", inputs)
    cfg = load_arch_args(args)
    model = _load_model(args.model, args.unfold_bn) if args.unfold_bn else args.model
    res = simulate(model, cfg, args.method, args.nm, args.batch, phases=args.phases,
                   resolution=args.resolution, classes=args.classes, pregen=not args.no_pregen,
                   interleave=not args.no_interleave, dense_ends=not args.sparse_ends,
                   fuse=not args.no_fuse, pad=not args.no_pad, offline=not args.no_offline,
                   baseline=args.baseline, strict_budget=args.strict_budget,
                   objective=args.objective, dataflow=args.dataflow)
    if args.csv:
        atomic_write(args.csv, res.to_csv, "--csv", inputs)
    if args.json:
        print(res.to_json())
    else:
        from hwsim.summary import summary_text

        print(summary_text(res, top=args.top))
    return 0


def _load_model(path: str, unfold_bn: bool):
    """A model file read here (not by simulate) because of an importer option; errors name --model."""
    from hwsim.models import ModelError, load

    try:
        return load(path, unfold_bn=unfold_bn)
    except ModelError as exc:
        _bad(str(exc), "--unfold-bn" if str(exc).startswith("unfold_bn") else "--model")


def _bad(what: str, where: str) -> None:
    from hwsim.errors import HwsimError

    raise HwsimError(what, where)


def _add_presets(sub) -> None:
    p = sub.add_parser("presets", help="list the architecture presets",
                       description="List the architecture presets shipped with hwsim.", epilog=EPILOG)
    p.add_argument("--json", action="store_true", help="print the presets' full specs as JSON")
    p.add_argument("--schema", action="store_true", help="print the JSON Schema of the arch spec format")
    p.set_defaults(run=_run_presets)


def _run_presets(args) -> int:
    from hwsim.config import presets, schema

    if args.schema:
        print(json.dumps(schema(), indent=2))
        return 0
    specs = presets()
    if args.json:
        print(json.dumps({name: cfg.model_dump(mode="json") for name, cfg in specs.items()}, indent=2))
        return 0
    for name, cfg in specs.items():
        a = cfg.array
        print(f"{name:14s} {a.rows}x{a.cols} PEs x {a.mults_per_pe} mults @ {cfg.clock_mhz:g} MHz, "
              f"DRAM {cfg.dram.bytes_per_second / 1e9:.1f} GB/s sustained "
              f"({cfg.dram.bytes_per_second / cfg.dram.efficiency / 1e9:.1f} peak), "
              f"N:M groups {list(cfg.selector.group_sizes)}, on {cfg.board.name}"
              f"  - {cfg.description}")
    return 0


def _add_models(sub) -> None:
    p = sub.add_parser("models", help="list the model zoo, or show what hwsim built from a model file",
                       description="List the model zoo: names, default input and size. With --inspect FILE (.onnx, "
                                   ".yaml or SCALE-Sim .csv; or a zoo name): the layer table hwsim built from it "
                                   "(op, shapes, parameters, MACs per sample) with totals and the importer's notes.",
                       epilog=EPILOG)
    p.add_argument("--inspect", metavar="FILE", default=None, help="a model file (or zoo name) to show layer by layer")
    p.add_argument("--unfold-bn", action="store_true", help="with --inspect of an .onnx file: restore the BatchNorm "
                                                             "an eval-mode export folded into its convolutions")
    p.add_argument("--json", action="store_true", help="print the zoo as a JSON list of names; with --inspect, the "
                                                       "layer table, totals and notes as one JSON object")
    p.set_defaults(run=_run_models)


def _run_models(args) -> int:
    from hwsim.models import zoo

    if args.unfold_bn and not args.inspect:
        _bad("--unfold-bn given without --inspect (expected --inspect FILE.onnx)", "--unfold-bn")
    if args.inspect:
        from hwsim.models import inspect

        graph = _load_model(args.inspect, args.unfold_bn)
        print(json.dumps(inspect.summary(graph)) if args.json else inspect.table(graph))
        return 0
    if args.json:
        print(json.dumps(zoo.names()))
        return 0
    print(f"{'name':18s} {'input':>14s} {'GMACs':>8s} {'Mparams':>8s}  description")
    for name in zoo.names():
        g = zoo.build(name)
        info = zoo.info(name)
        shape = "x".join(map(str, g.input_shape))
        print(f"{name:18s} {shape:>14s} {g.macs / 1e9:8.3f} {g.params / 1e6:8.3f}  {info.description}")
    return 0


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="reproduce the SAT paper's comparison (five workloads, dense/SR-STE/BDWP)",
                       description="Simulate the SAT paper's five workloads with dense, srste and bdwp at "
                                   "2:4, 2:8 and 1:8 on sat-vcu1525; write a CSV, a markdown table and plots.",
                       epilog=EPILOG)
    p.add_argument("--out", type=Path, default=Path("reports/sat_paper"), help="output folder "
                                                                              "(default: %(default)s)")
    add_arch_options(p)
    p.add_argument("--batch", type=int_arg("batch", 1, MAX_BATCH), default=None,
                   help="override the per-workload batch size (1 to 65,536)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_run_demo)


def _run_demo(args) -> int:
    from hwsim.studies.sat_paper import run_paper_comparison

    cfg = load_arch_args(args)  # a bad spec fails before any work
    output_folder(args.out, "--out", input_paths(args.arch))  # before the comparison runs, not after
    with staged_folder(args.out, "--out", input_paths(args.arch)) as stage:  # files reach --out only on success
        summary = run_paper_comparison(stage, arch=cfg, batch=args.batch, progress=not args.quiet)
    shown = os.fsencode(args.out).decode("utf-8", "backslashreplace")  # a non-UTF-8 name still prints
    print(summary.replace(str(stage), shown))
    return 0


def _add_sweep(sub) -> None:
    p = sub.add_parser("sweep", help="run a design-space sweep (grid of config changes x models x methods)",
                       description="Run every point of a sweep spec (YAML: version, arch, grid, models, methods, "
                                   "batch; see docs/sweep.md) on local processes or a Dask cluster. Points stream "
                                   "to OUT.part as they finish; rerunning with the same --out resumes.",
                       epilog=EPILOG)
    p.add_argument("spec", type=Path, help="sweep spec .yaml")
    p.add_argument("--out", type=Path, required=True, help="results table, .csv or .parquet")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="dask.distributed scheduler address, e.g. tcp://10.0.0.1:8786 (default: local processes)")
    p.add_argument("--jobs", type=int, default=None, help="local worker processes (default: the CPU count)")
    p.add_argument("--plot", action="store_true", help="also draw the latency-energy Pareto front next to --out "
                                                       "(PNG, PDF, SVG)")
    p.add_argument("--keep-over-budget", action="store_true",
                   help="also simulate configs over the board's resource budget (default: the spec's over_budget, "
                        "prune: list them and skip them)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the table as JSON records instead of a summary")
    p.set_defaults(run=_run_sweep)


def _run_sweep(args) -> int:
    from hwsim.sweeps import sweep

    if args.jobs is not None and not 1 <= args.jobs <= 1024:
        _bad(f"jobs: {args.jobs} (expected 1 to 1024 worker processes)", "--jobs")
    stem = args.out.with_name(args.out.stem + "_pareto")
    if args.plot:  # the figures' places are checked with the table's, before any point runs
        from hwsim.figures.style import FORMATS

        for fmt in FORMATS:
            output_file(stem.with_name(f"{stem.name}.{fmt}"), "--plot", input_paths(args.spec))
    table = sweep(args.spec, args.out, scheduler=args.scheduler, jobs=args.jobs, progress=not args.quiet,
                  keep_over_budget=True if args.keep_over_budget else None)
    paths = []
    if args.plot:
        from hwsim.figures.pareto import pareto_plot

        paths = pareto_plot(table, stem)
    if args.json:
        print(table.to_json(orient="records"))
    else:
        fits = int(table["fits_board"].sum())
        print(f"{len(table)} points ({table.attrs['computed']} computed, {table.attrs['resumed']} resumed; "
              f"{fits} within the board budget) -> {args.out}")
        pruned = table.attrs["pruned"]
        if pruned:
            from hwsim.sweeps import pruned_path

            print(f"{len(pruned)} configs over the board budget pruned (not simulated; --keep-over-budget runs "
                  f"them) -> {pruned_path(args.out)}")
            for entry in pruned[:10]:
                print(f"  {entry['arch']}: {entry['over']}")
            if len(pruned) > 10:
                print(f"  ... and {len(pruned) - 10} more")
        for path in paths:
            print(f"  {path}")
    return 0


def _add_search(sub) -> None:
    p = sub.add_parser("search", help="multi-objective co-search of architecture, N:M pattern and mapping options",
                       description="Search a space of architecture fields, methods and mapping options (YAML: "
                                   "version, arch, space, models, methods, batch, objectives, constraints; see "
                                   "docs/search.md) with Optuna; write the Pareto set (CSV, markdown), a labelled "
                                   "figure and one arch file per front design into OUT. Rerunning resumes.",
                       epilog=EPILOG)
    p.add_argument("spec", type=Path, help="search spec .yaml")
    p.add_argument("--out", type=Path, required=True, help="output folder (created; holds the study to resume)")
    p.add_argument("--trials", type=int_arg("trials", 1, 100_000), default=None,
                   help="trials in all, resumed ones included (default: the spec's trials)")
    p.add_argument("--seed", type=int_arg("seed", 0, 2**31 - 1), default=None, help="sampler seed (default: the "
                                                                                    "spec's seed)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="dask.distributed scheduler address: trials are evaluated on its workers (default: local "
                        "processes)")
    p.add_argument("--jobs", type=int_arg("jobs", 1, 1024), default=None,
                   help="local worker processes (default: the CPU count)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the Pareto set as JSON records instead of a summary")
    p.set_defaults(run=_run_search)


def _run_search(args) -> int:
    from hwsim.searches import search

    res = search(args.spec, args.out, trials=args.trials, seed=args.seed, scheduler=args.scheduler,
                 jobs=args.jobs, progress=not args.quiet)
    if args.json:
        print(res.front.to_json(orient="records"))
        return 0
    c = res.counts
    print(f"{len(res.trials)} trials ({c['resumed']} resumed; this run: {c['simulated']} simulated, {c['cached']} "
          f"repeats, {c['over_budget']} over the board budget, {c['invalid']} invalid) -> {args.out}")
    print(f"Pareto set: {len(res.front)} designs -> {args.out / 'pareto.md'}, {args.out / 'arch'}/D*.yaml")
    objs = [o for o in ("latency", "energy", "edp", "resources") if o in res.front.columns]
    for _, row in res.front.iterrows():
        print(f"  {row['design']}: " + ", ".join(f"{o} {row[o]:.4g}" for o in objs) + f"  {row['arch']}")
    return 0


def _add_report(sub) -> None:
    from hwsim.studies import SECTIONS

    p = sub.add_parser("report", help="regenerate every table and figure under reports/ with a markdown index",
                       description="Regenerate every report section (" + ", ".join(s.name for s in SECTIONS) +
                                   ") into reports/<section>/ and rewrite reports/README.md, the index.",
                       epilog=EPILOG)
    p.add_argument("--out", type=Path, default=Path("reports"), help="the reports folder (default: %(default)s)")
    p.add_argument("--only", action="append", default=None, metavar="SECTION", help="run only this section "
                                                                                   "(repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=_run_report)


def _run_report(args) -> int:
    from hwsim.studies import run_reports

    index = run_reports(args.out, args.only, progress=not args.quiet)
    print(f"wrote {index}")
    return 0


def _add_tiny(sub) -> None:
    p = sub.add_parser("tiny", help="plan and time one on-device training step under 256KB (sparse update)",
                       description="Derive the int8 training graph of a CNN under a sparse-update scheme, plan its "
                                   "memory (with or without operator reordering) and time it on an MCU or NPU target.",
                       epilog=EPILOG)
    p.add_argument("--model", required=True, help="zoo name (see `hwsim models`) or a model .yaml file (a CNN)")
    p.add_argument("--scheme", default=None, help="full | last-K | bias-only[-K] | MODEL:LABEL (e.g. "
                                                  "mcunet-5fps:99kb) | a scheme .yaml file")
    p.add_argument("--budget", type=float, default=None, metavar="KB",
                   help="instead of --scheme: search a scheme within this analytic extra memory: the largest "
                        "summed accuracy contribution with --contributions, else the most trained parameters")
    p.add_argument("--contributions", default=None, metavar="FILE",
                   help="with --budget: per-layer accuracy contributions, a .yaml or .csv file, or a data set .npz "
                        "(arrays x, y) to measure them on with the numpy int8 trainer (see docs/tiny.md)")
    p.add_argument("--target", default="mcu-stm32f746", help="mcu-stm32f746 | npu-256k | a target .yaml file "
                                                             "(default: %(default)s)")
    p.add_argument("--no-reorder", action="store_true", help="apply every update after the whole backward pass")
    p.add_argument("--resolution", type=int_arg("resolution", 1, MAX_DIM), default=None,
                   help="input resolution; default: the model's own")
    p.add_argument("--classes", type=int_arg("classes", 1, MAX_DIM), default=None,
                   help="classifier outputs of a zoo model (default: 10; a model file fixes its own)")
    p.add_argument("--patches", type=int_arg("patches", 1, MAX_PATCHES), default=None,
                   help=f"patch grid of the frozen head, 1 to {MAX_PATCHES} (1 = off; default: the target's)")
    p.add_argument("--unfused-casts", action="store_true",
                   help="the reference compiler's un-fused graph: cast int8 weights (before each transposed conv) "
                        "and saved inputs (before each weight gradient) to fp32 copies in SRAM")
    p.add_argument("--calibration", default=None, metavar="FILE",
                   help="CSV of measured kernel calls (columns kernel,macs,cycles; kernel pw|conv|dw|linear or "
                        "dx.FAMILY|dw.FAMILY): refit those kernels' rates of the MCU target before timing")
    p.add_argument("--batch", type=int_arg("batch", 1, MAX_BATCH), default=1,
                   help="images per step by gradient accumulation: gradients sum into persistent accumulators and "
                        "the update waits for the last image, so reordering is off (default: %(default)s)")
    p.add_argument("--momentum", action="store_true", help="keep an SGD momentum buffer per trained parameter "
                                                           "(default: plain SGD, as the reference)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table (with the "
                                                       "per-op and per-tensor tables)")
    p.add_argument("--export", type=Path, default=None, metavar="DIR",
                   help="write the training graph (training_graph.json) and the arena plan (arena_plan.h) into DIR")
    p.add_argument("--plot", type=Path, default=None, metavar="FILE",
                   help="draw the memory timeline (bytes alive per op by tensor kind) to FILE (.png, .pdf or .svg)")
    p.set_defaults(run=_run_tiny)


def _run_tiny(args) -> int:
    from hwsim.ondevice.api import tiny

    inputs = input_paths(args.model, args.scheme, args.target, args.calibration, args.contributions)
    if args.plot is not None:
        from hwsim.figures.timeline import PLOT_FORMATS

        output_file(args.plot, "--plot", inputs)
        if args.plot.suffix.lower().lstrip(".") not in PLOT_FORMATS:
            _bad(f"plot: {show(str(args.plot), 80)} (expected a file name ending in "
                 f"{', '.join('.' + f for f in PLOT_FORMATS)})", "--plot")
    # --export: the folder is checked before any work; both files reach it only if the whole run succeeds
    with staged_folder(args.export, "--export", inputs) if args.export is not None else nullcontext() as stage:
        res = tiny(args.model, args.scheme, args.target, not args.no_reorder, resolution=args.resolution,
                   classes=args.classes, patches=args.patches, budget_kb=args.budget, calibration=args.calibration,
                   fused_casts=not args.unfused_casts, contributions=args.contributions, batch=args.batch,
                   momentum=args.momentum)
        if stage is not None:
            from hwsim.ondevice.export import export

            export(res, stage)
    if args.plot is not None:
        from hwsim.figures.timeline import plot_timeline

        fmt = args.plot.suffix.lower().lstrip(".")
        atomic_write(args.plot, lambda tmp: plot_timeline(res, tmp, fmt), "--plot", inputs)
    if args.budget is not None and args.contributions is None:
        print("hwsim: note: --budget without --contributions maximizes the number of trained parameters, not "
              "accuracy (give --contributions FILE.yaml|FILE.csv|DATA.npz)", file=sys.stderr)
    print(res.to_json() if args.json else res.summary())
    return 0


def _add_rtl(sub) -> None:
    p = sub.add_parser("rtl", help="generate the SAT core's Verilog from an architecture (and synthesize it)",
                       description="Generate synthesizable Verilog of the SAT compute core (and, for N:M, the "
                                   "top-N-of-M selector) from an architecture spec, with a JSON sidecar (config, "
                                   "latencies, port map) and a README; optionally synthesize it with Yosys.",
                       epilog=EPILOG)
    add_arch_options(p, default="sat-small")
    p.add_argument("--nm", default="2:8", help="N:M pattern the PE activation muxes implement, or 'dense' "
                                               "(default: %(default)s)")
    p.add_argument("--out", type=Path, required=True, help="output folder (created)")
    p.add_argument("--synth", choices=("xilinx", "ecp5"), default=None,
                   help="xilinx: Yosys synth_xilinx resource counts; ecp5: Yosys synth_ecp5 + nextpnr-ecp5 Fmax")
    p.add_argument("--family", choices=("xcup", "xc7"), default="xcup",
                   help="Xilinx family for --synth xilinx: xcup UltraScale+ (the VCU1525's XCVU9P: DSP48E2) or xc7 "
                        "7-series (DSP48E1) (default: %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress lines (stage, elapsed) on stderr")
    p.add_argument("--json", action="store_true", help="print one JSON object (the sidecar plus synthesis results)")
    g = p.add_argument_group("tile program (rtl/program.py): lower one GEMM op of a model to the layer machine")
    g.add_argument("--program", metavar="MODEL", help="model (zoo name or file) whose op --op is lowered; writes "
                                                       "program.json and sat_layer.v instead of the core")
    g.add_argument("--op", help="the op's name as `hwsim simulate --json` lists it (e.g. layer1.0.conv1.ff)")
    g.add_argument("--method", default="bdwp", help="training method (default: %(default)s)")
    g.add_argument("--batch", type=int, default=1, help="batch (default: %(default)s)")
    g.add_argument("--resolution", type=int, default=None, help="input resolution")
    g.add_argument("--dataflow", choices=("os", "ws"), default=None, help="fix the dataflow (default: searched "
                                                                          "among os and ws)")
    p.set_defaults(run=_run_rtl)


def _run_rtl(args) -> int:
    cfg = load_arch_args(args)
    if args.program:
        from hwsim.rtl.cli_program import run_program

        return run_program(args, cfg, _bad)
    try:
        from hwsim.rtl.export import CORE_TOP, export
        from hwsim.rtl.params import CoreParams
        from hwsim.rtl.progress import Progress
        from hwsim.rtl.synth import nextpnr_path, yosys_path
        import amaranth  # noqa: F401
    except ImportError as exc:
        _bad(f"rtl: {exc.name} not installed (install it: pip install 'hwsim[rtl]')", "hwsim rtl")
    params = CoreParams.from_config(cfg, args.nm)  # a bad --nm fails before any work
    if args.synth:
        yosys_path()
        if args.synth == "ecp5":
            nextpnr_path()
    inputs = input_paths(args.arch)
    output_folder(args.out, "--out", inputs)  # before elaboration: a bad folder costs nothing
    names = [f"{CORE_TOP}.v", f"{CORE_TOP}.json", "README.md", "sat_selector.v", f"synth_{args.synth}.json"]
    for name in names:  # a folder where one of our files goes: refused now, not after minutes of elaboration
        if (Path(args.out) / name).is_dir():
            _bad(f"out: {show(str(Path(args.out) / name), 120)} is a folder (expected a file there)", "--out")
    from hwsim.rtl.export import check_size

    check_size(params)
    progress = None if args.quiet else Progress()
    with staged_folder(args.out, "--out", inputs) as stage:  # every file or none reaches --out
        info = export(cfg, params.nm_text, stage, progress=progress)
        if args.synth:
            info["synth"] = _synthesize(args, cfg, params, stage / f"{CORE_TOP}.v", progress)
            (stage / f"synth_{args.synth}.json").write_text(json.dumps(info["synth"], indent=2) + "\n")
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    lat = info["latency"]
    print(f"{cfg.name}: {params.rows}x{params.cols} PEs x {params.mults} mults, {params.nm_text}, {params.dtype} "
          f"({params.acc_dtype} accumulation); "
          f"PE depth {lat['pe']}, tile = count + {lat['fill_cycles']} cycles -> {args.out}/ "
          f"({', '.join(info['files'])})")
    fit = info["board_as_generated"]
    print(f"board {fit['board']}, the generated core as built (estimate, no vector engine or selector): "
          f"LUT {fit['lut']:,} ({fit['lut_util']:.0%}), FF {fit['ff']:,} ({fit['ff_util']:.0%}), DSP {fit['dsp']:,} "
          f"({fit['dsp_util']:.0%}): " + ("fits" if fit["fits_board"] else "does NOT fit (" + ", ".join(fit["over"])
                                          + "; `hwsim simulate`'s board estimate assumes fp accumulation in DSPs)"))
    if args.synth:
        synth = info["synth"]
        res = dict(synth[CORE_TOP] if CORE_TOP in synth else synth["sat_pe"]["pe"])
        where = (f"{res.pop('family_name')} (synth_xilinx -family {res.pop('family')}, {res.pop('dsp_cell')})"
                 if args.synth == "xilinx" else "LFE5U-85F (synth_ecp5, nextpnr-ecp5)")
        if CORE_TOP in synth:
            print(f"{args.synth} {where}: " + ", ".join(f"{k} {v:g}" for k, v in res.items()))
        else:
            pe = synth["sat_pe"]
            print(f"{args.synth} {where}: {pe['synthesized']}")
            print("  one PE: " + ", ".join(f"{k} {v:g}" for k, v in res.items()))
            print(f"  x {params.rows * params.cols} PEs: " + ", ".join(f"{k} {v:,.0f}" for k, v in pe["pe_array"].items()))
    return 0


def _synthesize(args, cfg, params, vfile: Path, progress) -> dict:
    """--synth: the whole core, or (Xilinx, a core above pe_synth.WHOLE_CORE_MAX_LUTS) one PE scaled to the array."""
    from hwsim.resources import core_estimate
    from hwsim.rtl.export import CORE_TOP
    from hwsim.rtl.pe_synth import synth_pe_xilinx, synthesize_whole
    from hwsim.rtl.synth import synth_ecp5, synth_xilinx

    if args.synth == "ecp5":
        return {"flow": "ecp5", CORE_TOP: synth_ecp5(vfile, CORE_TOP, freq_mhz=cfg.clock_mhz, progress=progress)}
    est = core_estimate(cfg, params.nm_text)
    if synthesize_whole(est["LUT_est"]):
        return {"flow": "xilinx", CORE_TOP: synth_xilinx(vfile, CORE_TOP, family=args.family, progress=progress)}
    return {"flow": "xilinx", "sat_pe": synth_pe_xilinx(params, args.family, progress), "core_estimate": est}


@lru_cache(maxsize=1)
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hwsim")
    except PackageNotFoundError:
        return "unknown"


class _LazyVersion(argparse._VersionAction):
    """argparse's --version, the installed version looked up only when asked (importlib.metadata costs every
    command about 30 ms otherwise)."""

    def __call__(self, parser, namespace, values, option_string=None):
        self.version = f"hwsim {_version()}"
        super().__call__(parser, namespace, values, option_string)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hwsim", description="Simulate DNN training on the SAT N:M sparse training accelerator.",
                     epilog=EPILOG)
    parser.add_argument("--version", action=_LazyVersion)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in (_add_simulate, _add_tiny, _add_rtl, _add_sweep, _add_search, _add_report, _add_presets, _add_models, _add_demo):
        add(sub)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A model warning is one line on stderr, as errors are; anything else as Python prints it."""
    from hwsim.models.errors import ModelWarning

    if issubclass(category, ModelWarning):
        print(f"hwsim: warning: {' '.join(str(message).split())}", file=sys.stderr)
    else:
        _PYTHON_SHOWWARNING(message, category, filename, lineno, file, line)


_PYTHON_SHOWWARNING = warnings.showwarning


def main(argv: list[str] | None = None) -> int:
    from hwsim.errors import HwsimError

    warnings.showwarning = _show_warning
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed as one line
        return exc.code if isinstance(exc.code, int) else 0
    try:
        code = args.run(args)
        sys.stdout.flush()  # a full disk or closed pipe shows here, not as a traceback at interpreter exit
        return code
    except HwsimError as exc:
        return _fail(str(exc))
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except OSError as exc:  # a user's path the checks did not foresee: still one line, not a traceback
        if exc.filename is None:  # writing the output failed (standard output on a full disk, say)
            _silence_stdout()
            return _fail(f"output: cannot be written: {exc.strerror or exc} (standard output)", 1)
        return _fail(f"{show(str(exc.filename), 80)}: {exc.strerror or exc} (a path given to hwsim {args.command})")


def _silence_stdout() -> None:
    """Point standard output at /dev/null so the interpreter's final flush cannot fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real descriptor (captured in tests): nothing to flush
        pass


def run() -> None:
    """The `hwsim` program: `main`, then exit without the interpreter's final garbage collection walking every
    object numba's kernels loaded (`gc.freeze`): that walk took half a second after a simulation."""
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
