"""The `hwsim` command line. Exit codes: 0 success, 2 bad input (one line on stderr), 1 internal error."""
from __future__ import annotations

import argparse
import json
import os
import sys
from functools import lru_cache
from pathlib import Path

from hwsim.inputs import MAX_BATCH, MAX_DIM, MAX_TOP, atomic_write, int_arg, output_file, show, staged_folder

EPILOG = "Exit codes: 0 success, 2 bad input (one line: 'hwsim: error: <what> (<where>)'), 1 internal error."


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as the one-line contract instead of usage + message."""

    def error(self, message: str) -> None:
        raise SystemExit(_fail(f"{message} ({self.prog})"))


def _fail(line: str) -> int:
    print(f"hwsim: error: {line}", file=sys.stderr)
    return 2


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
    from hwsim.simulation import simulate

    if args.csv:
        output_file(args.csv, "--csv")
    cfg = load_arch_args(args)
    res = simulate(args.model, cfg, args.method, args.nm, args.batch, phases=args.phases,
                   resolution=args.resolution, classes=args.classes, pregen=not args.no_pregen,
                   interleave=not args.no_interleave, dense_ends=not args.sparse_ends,
                   fuse=not args.no_fuse, pad=not args.no_pad, offline=not args.no_offline,
                   baseline=args.baseline, strict_budget=args.strict_budget,
                   objective=args.objective, dataflow=args.dataflow)
    if args.csv:
        atomic_write(args.csv, res.to_csv, "--csv")
    if args.json:
        print(res.to_json())
    else:
        from hwsim.summary import summary_text

        print(summary_text(res, top=args.top))
    return 0


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
    p = sub.add_parser("models", help="list the model zoo",
                       description="List the model zoo: names, default input and size.", epilog=EPILOG)
    p.add_argument("--json", action="store_true", help="print the zoo as a JSON list of names")
    p.set_defaults(run=_run_models)


def _run_models(args) -> int:
    from hwsim.models import zoo

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
    with staged_folder(args.out, "--out") as stage:  # files reach --out only if the whole run succeeds
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
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the table as JSON records instead of a summary")
    p.set_defaults(run=_run_sweep)


def _run_sweep(args) -> int:
    from hwsim.sweeps import sweep

    if args.jobs is not None and not 1 <= args.jobs <= 1024:
        _bad(f"jobs: {args.jobs} (expected 1 to 1024 worker processes)", "--jobs")
    table = sweep(args.spec, args.out, scheduler=args.scheduler, jobs=args.jobs, progress=not args.quiet)
    paths = []
    if args.plot:
        from hwsim.figures.pareto import pareto_plot

        paths = pareto_plot(table, args.out.with_name(args.out.stem + "_pareto"))
    if args.json:
        print(table.to_json(orient="records"))
    else:
        fits = int(table["fits_board"].sum())
        print(f"{len(table)} points ({table.attrs['computed']} computed, {table.attrs['resumed']} resumed; "
              f"{fits} within the board budget) -> {args.out}")
        for path in paths:
            print(f"  {path}")
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
                   help="instead of --scheme: search the scheme that updates the most parameters within this "
                        "analytic extra memory")
    p.add_argument("--target", default="mcu-stm32f746", help="mcu-stm32f746 | npu-256k | a target .yaml file "
                                                             "(default: %(default)s)")
    p.add_argument("--no-reorder", action="store_true", help="apply every update after the whole backward pass")
    p.add_argument("--resolution", type=int, default=None, help="input resolution; default: the model's own")
    p.add_argument("--classes", type=int, default=10, help="classifier outputs (default: %(default)s)")
    p.add_argument("--patches", type=int, default=None, help="patch grid of the frozen head (1 = off; "
                                                             "default: the target's)")
    p.add_argument("--unfused-casts", action="store_true",
                   help="the reference compiler's un-fused graph: cast int8 weights (before each transposed conv) "
                        "and saved inputs (before each weight gradient) to fp32 copies in SRAM")
    p.add_argument("--calibration", default=None, metavar="FILE",
                   help="CSV of measured kernel calls (columns kernel,macs,cycles; kernel pw|conv|dw|linear or "
                        "dx.FAMILY|dw.FAMILY): refit those kernels' rates of the MCU target before timing")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(run=_run_tiny)


def _run_tiny(args) -> int:
    from hwsim.ondevice.api import tiny

    res = tiny(args.model, args.scheme, args.target, not args.no_reorder, resolution=args.resolution,
               classes=args.classes, patches=args.patches, budget_kb=args.budget, calibration=args.calibration,
               fused_casts=not args.unfused_casts)
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
    p.set_defaults(run=_run_rtl)


def _run_rtl(args) -> int:
    cfg = load_arch_args(args)
    try:
        from hwsim.rtl.export import CORE_TOP, export
        from hwsim.rtl.params import CoreParams
        from hwsim.rtl.progress import Progress
        from hwsim.rtl.synth import nextpnr_path, synth_ecp5, synth_xilinx, yosys_path
        import amaranth  # noqa: F401
    except ImportError as exc:
        _bad(f"rtl: {exc.name} not installed (install it: pip install 'hwsim[rtl]')", "hwsim rtl")
    params = CoreParams.from_config(cfg, args.nm)  # a bad --nm fails before any work
    if args.synth:
        yosys_path()
        if args.synth == "ecp5":
            nextpnr_path()
    if args.out.exists() and not args.out.is_dir():
        _bad(f"out: {str(args.out)!r} is a file (expected a folder)", "--out")
    progress = None if args.quiet else Progress()
    try:
        info = export(cfg, params.nm_text, args.out, progress=progress)
    except OSError as exc:
        _bad(f"out: cannot write {str(args.out)!r}: {exc.strerror or exc}", "--out")
    if args.synth:
        vfile = args.out / f"{CORE_TOP}.v"
        res = (synth_xilinx(vfile, CORE_TOP, family=args.family, progress=progress) if args.synth == "xilinx"
               else synth_ecp5(vfile, CORE_TOP, freq_mhz=cfg.clock_mhz, progress=progress))
        info["synth"] = {"flow": args.synth, CORE_TOP: res}
        atomic_write(args.out / f"synth_{args.synth}.json",
                     lambda tmp: tmp.write_text(json.dumps(info["synth"], indent=2) + "\n"), "--out")
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    lat = info["latency"]
    print(f"{cfg.name}: {params.rows}x{params.cols} PEs x {params.mults} mults, {params.nm_text}, {params.dtype} "
          f"({params.acc_dtype} accumulation); "
          f"PE depth {lat['pe']}, tile = count + {lat['fill_cycles']} cycles -> {args.out}/ "
          f"({', '.join(info['files'])})")
    if args.synth:
        res = dict(info["synth"][CORE_TOP])
        where = (f"{res.pop('family_name')} (synth_xilinx -family {res.pop('family')}, {res.pop('dsp_cell')})"
                 if args.synth == "xilinx" else "LFE5U-85F (synth_ecp5, nextpnr-ecp5)")
        print(f"{args.synth} {where}: " + ", ".join(f"{k} {v:g}" for k, v in res.items()))
    return 0


@lru_cache(maxsize=1)
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hwsim")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hwsim", description="Simulate DNN training on the SAT N:M sparse training accelerator.",
                     epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"hwsim {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in (_add_simulate, _add_tiny, _add_rtl, _add_sweep, _add_report, _add_presets, _add_models, _add_demo):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from hwsim.errors import HwsimError

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed as one line
        return exc.code if isinstance(exc.code, int) else 0
    try:
        return args.run(args)
    except HwsimError as exc:
        return _fail(str(exc))
    except BrokenPipeError:
        return 0
    except OSError as exc:  # a user's path the checks did not foresee: still one line, not a traceback
        if exc.filename is None:
            raise
        return _fail(f"{show(str(exc.filename), 80)}: {exc.strerror or exc} (a path given to hwsim {args.command})")


if __name__ == "__main__":
    sys.exit(main())
