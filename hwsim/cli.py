"""The `hwsim` command line. Exit codes: 0 success, 2 bad input (one line on stderr), 1 internal error."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EPILOG = "Exit codes: 0 success, 2 bad input (one line: 'hwsim: error: <what> (<where>)'), 1 internal error."


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as the one-line contract instead of usage + message."""

    def error(self, message: str) -> None:
        raise SystemExit(_fail(f"{message} ({self.prog})"))


def _fail(line: str) -> int:
    print(f"hwsim: error: {line}", file=sys.stderr)
    return 2


def _add_simulate(sub) -> None:
    p = sub.add_parser("simulate", help="simulate one training iteration of a model on an architecture",
                       description="Simulate one training iteration (FF, BP, WU + update) of a model on a SAT "
                                   "configuration, tile by tile, and report cycles, time, energy and DRAM traffic.",
                       epilog=EPILOG)
    p.add_argument("--model", required=True, help="zoo name (see `hwsim models`), a model .yaml file, an .onnx "
                                                  "file or a SCALE-Sim topology .csv")
    p.add_argument("--arch", default="sat-vcu1525", help="preset name (see `hwsim presets`) or a spec .yaml file "
                                                         "(default: %(default)s)")
    p.add_argument("--method", default="dense", help="dense | srste | bdwp | transposable (default: %(default)s)")
    p.add_argument("--nm", default=None, help="N:M spec for sparse methods, e.g. 2:8")
    p.add_argument("--batch", type=int, default=32, help="batch size (default: %(default)s)")
    p.add_argument("--resolution", type=int, default=None, help="input resolution (sequence length for "
                                                                 "transformer blocks); default: the model's own")
    p.add_argument("--classes", type=int, default=None, help="classifier outputs; default: the model's own")
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
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument("--csv", type=Path, default=None, help="also write the per-op table to this CSV file")
    p.add_argument("--top", type=int, default=15, help="layers shown in the table view (default: %(default)s)")
    p.set_defaults(run=_run_simulate)


def _run_simulate(args) -> int:
    from hwsim.simulation import simulate

    if args.top < 0:
        _bad(f"top: {args.top} (expected a number of layers >= 0)", "--top")
    if args.csv:
        _check_writable(args.csv, "--csv")
    res = simulate(args.model, args.arch, args.method, args.nm, args.batch, phases=args.phases,
                   resolution=args.resolution, classes=args.classes, pregen=not args.no_pregen,
                   interleave=not args.no_interleave, dense_ends=not args.sparse_ends,
                   fuse=not args.no_fuse, pad=not args.no_pad, offline=not args.no_offline,
                   objective=args.objective, dataflow=args.dataflow)
    if args.csv:
        _write(lambda: res.to_csv(args.csv), args.csv, "--csv")
    if args.json:
        print(res.to_json())
    else:
        from hwsim.report import summary_text

        print(summary_text(res, top=args.top))
    return 0


def _bad(what: str, where: str) -> None:
    from hwsim.errors import HwsimError

    raise HwsimError(what, where)


def _check_writable(path: Path, flag: str) -> None:
    """Fail before any work if the output file cannot be created."""
    field = flag.lstrip("-")
    if path.is_dir():
        _bad(f"{field}: {str(path)!r} is a directory (expected a file path)", flag)
    if not path.parent.is_dir():
        _bad(f"{field}: directory {str(path.parent)!r} does not exist", flag)


def _write(save, path: Path, flag: str) -> None:
    try:
        save()
    except OSError as exc:
        _bad(f"{flag.lstrip('-')}: cannot write {str(path)!r}: {exc.strerror or exc}", flag)


def _add_presets(sub) -> None:
    p = sub.add_parser("presets", help="list the architecture presets",
                       description="List the architecture presets shipped with hwsim.", epilog=EPILOG)
    p.add_argument("--json", action="store_true", help="print the presets' full specs as JSON")
    p.set_defaults(run=_run_presets)


def _run_presets(args) -> int:
    from hwsim.config import presets

    specs = presets()
    if args.json:
        print(json.dumps({name: cfg.model_dump(mode="json") for name, cfg in specs.items()}, indent=2))
        return 0
    for name, cfg in specs.items():
        a = cfg.array
        print(f"{name:14s} {a.rows}x{a.cols} PEs x {a.mults_per_pe} mults @ {cfg.clock_mhz:g} MHz, "
              f"DRAM {cfg.dram.bytes_per_second / 1e9:.1f} GB/s sustained "
              f"({cfg.dram.bytes_per_second / cfg.dram.efficiency / 1e9:.1f} peak), "
              f"N:M groups {list(cfg.selector.group_sizes)}"
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
    p.add_argument("--arch", default="sat-vcu1525", help="preset or spec file (default: %(default)s)")
    p.add_argument("--batch", type=int, default=None, help="override the per-workload batch size")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_run_demo)


def _run_demo(args) -> int:
    from hwsim.config import load_arch
    from hwsim.paper import run_paper_comparison

    load_arch(args.arch)  # a bad spec fails before any work
    if args.batch is not None and args.batch < 1:
        _bad(f"batch: {args.batch} (expected a positive integer)", "--batch")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _bad(f"out: cannot create folder {str(args.out)!r}: {exc.strerror or exc}", "--out")
    summary = run_paper_comparison(args.out, arch=args.arch, batch=args.batch, progress=not args.quiet)
    print(summary)
    return 0


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
    for add in (_add_simulate, _add_presets, _add_models, _add_demo):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from hwsim.errors import HwsimError

    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except HwsimError as exc:
        return _fail(str(exc))
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
